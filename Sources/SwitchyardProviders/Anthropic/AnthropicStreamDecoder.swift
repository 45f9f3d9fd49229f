public import SwitchyardCore

/// Anthropic Messages SSE → unified stream events (docs/translation.md §7.1, "hold the role back" variant).
///
/// - The role is not sent on `message_start`; it rides on the first real delta: `role` +
///   `content` for text, `role` + `content: null` + the first tool-call fragment for a tool-only
///   reply, so the OpenAI SDK accumulates `content: null` exactly as for OpenAI's own streams.
///   A reply with no output at all gets `role` + `content: ""` on its finish delta.
/// - `tool_use` blocks become tool-call deltas (OpenAI index = order of tool blocks): the first
///   carries `id`, `name` and `arguments: ""`, then each non-empty `partial_json` fragment. A tool
///   block that streamed no fragment gets `arguments: "{}"` at its `content_block_stop`, so
///   clients parse the same `{}` a non-streaming answer would carry.
/// - The forced JSON tool (docs/translation.md §4) streams its fragments as `content`; text is dropped
///   then, as in ``AnthropicResponseDecoder``.
/// - thinking, signatures, citations, `ping` and unknown events produce nothing.
/// - `message_stop` → finish delta, `.usage`, `.done`. An `error` event → `.error`.
/// - ``finish()`` after a `message_delta` with a stop reason but no `message_stop` emits the
///   finish delta; it then emits `.usage` whenever `message_start` was seen and usage was not
///   yet emitted (input counts are final there, output counts are the last seen), so even a
///   truncated stream is metered. ``isComplete`` tells the router whether the reply ended.
///
/// With `keepRaw` (a Messages client whose request went to Anthropic natively) every event is
/// also handed on as `raw`, to be forwarded as it came: each becomes one `.choices` carrying the
/// unified deltas it implies (often none) and the event itself. `message_start` and `ping` are
/// held until the next event, and dropped when that is an `error` or the end of the body, so a
/// stream that fails before its first content block still fails over before anything reached the
/// client, as it does when translated.
public struct AnthropicStreamDecoder: SSEStreamDecoder {
    public var sse = SSEParser()
    private let forcedJSON: Bool
    private var roleSent = false
    /// Anthropic content-block index → OpenAI tool-call index.
    private var toolIndex: [Int: Int] = [:]
    private var nextTool = 0
    /// Tool blocks (including the forced JSON block) that have streamed an argument fragment.
    private var toolArgsSeen: Set<Int> = []
    private var forcedBlocks: Set<Int> = []
    private var stopReason: String?
    private var usage = JSONObject()
    private var usageKnown = false
    private var finishSent = false
    private var usageSent = false
    /// `message_stop` or `error` seen: later events are ignored.
    private var ended = false
    /// A content event went out (`keepRaw`): later pings are handed on at once.
    private var released = false
    private var messageStopped = false
    public private(set) var malformedEvents = 0
    private let keepRaw: Bool
    /// `message_start` and `ping` events not yet handed on (`keepRaw`).
    private var held: [JSONObject] = []

    public init(forcedJSON: Bool = false, keepRaw: Bool = false) {
        self.forcedJSON = forcedJSON
        self.keepRaw = keepRaw
    }

    public var isComplete: Bool { stopReason != nil || messageStopped }

    public mutating func end(into out: inout [StreamEvent]) {
        held = []
        if !ended, stopReason != nil { emitFinish(into: &out) }
        emitUsage(into: &out)
    }

    public mutating func decode(_ m: SSEMessage, into out: inout [StreamEvent]) {
        guard !ended else { return }
        guard let o = m.jsonObject else {
            malformedEvents += 1
            return
        }
        guard keepRaw else { return handle(o, event: m.event, into: &out) }
        let type = o["type"]?.stringValue ?? m.event
        if type == "error" {
            held = []
            return handle(o, event: m.event, into: &out)
        }
        if type == "message_start" || (type == "ping" && !released) {
            if type == "message_start" { handle(o, event: m.event, into: &out) }
            held.append(o)
            return
        }
        released = true
        for h in held { out.append(.choices([], raw: RawChunk(h))) }
        held = []
        var own: [StreamEvent] = []
        handle(o, event: m.event, into: &own)
        // The event's own deltas ride with it; usage and the end marker follow as they are.
        var deltas: [ChoiceDelta] = []
        var rest: [StreamEvent] = []
        for e in own {
            if case .choices(let d, _) = e { deltas += d } else { rest.append(e) }
        }
        out.append(.choices(deltas, raw: RawChunk(o)))
        out += rest
    }

    private mutating func handle(_ o: JSONObject, event: String?, into out: inout [StreamEvent]) {
        switch o["type"]?.stringValue ?? event {
        case "message_start":
            if let u = o["message"]?["usage"]?.objectValue { mergeUsage(u) }
        case "content_block_start":
            guard let index = o["index"]?.intValue, let block = o["content_block"] else { return }
            switch block["type"]?.stringValue {
            case "text":
                if let t = block["text"]?.stringValue, !t.isEmpty { emitText(t, into: &out) }
            case "tool_use":
                let name = block["name"]?.stringValue ?? ""
                if forcedJSON, name == AnthropicJSONMode.toolName {
                    forcedBlocks.insert(index)
                    return
                }
                let k = nextTool
                nextTool += 1
                toolIndex[index] = k
                let id = block["id"]?.stringValue ?? ""
                emitTool(ToolCallDelta(index: k, id: id, name: name, arguments: ""), into: &out)
            default:
                return  // thinking, redacted_thinking, server tools
            }
        case "content_block_delta":
            guard let index = o["index"]?.intValue, let delta = o["delta"] else { return }
            switch delta["type"]?.stringValue {
            case "text_delta":
                if let t = delta["text"]?.stringValue, !t.isEmpty { emitText(t, into: &out) }
            case "input_json_delta":
                guard let fragment = delta["partial_json"]?.stringValue, !fragment.isEmpty else { return }
                emitArguments(fragment, block: index, into: &out)
            default:
                return  // thinking_delta, signature_delta, citations_delta
            }
        case "content_block_stop":
            guard let index = o["index"]?.intValue, toolIndex[index] != nil || forcedBlocks.contains(index),
                !toolArgsSeen.contains(index)
            else { return }
            emitArguments("{}", block: index, into: &out)
        case "message_delta":
            if let r = o["delta"]?["stop_reason"]?.stringValue { stopReason = r }
            if let u = o["usage"]?.objectValue { mergeUsage(u) }
        case "message_stop":
            messageStopped = true
            emitFinish(into: &out)
            emitUsage(into: &out)
            out.append(.done)
            ended = true
        case "error":
            out.append(.error(AnthropicErrorMapping.streamError(.object(o))))
            ended = true
        default:
            return  // ping and event types newer than this codec
        }
    }

    /// Counters are cumulative: later values replace earlier ones, key by key.
    private mutating func mergeUsage(_ u: JSONObject) {
        for e in u where e.value.intValue != nil { usage[e.key] = e.value }
        usageKnown = true
    }

    private mutating func emitText(_ text: String, into out: inout [StreamEvent]) {
        guard !forcedJSON else { return }
        emitContent(text, into: &out)
    }

    private mutating func emitContent(_ text: String, into out: inout [StreamEvent]) {
        var d = ChoiceDelta(content: text)
        if !roleSent {
            d.role = true
            roleSent = true
        }
        out.append(.choices([d], raw: nil))
    }

    private mutating func emitArguments(_ fragment: String, block: Int, into out: inout [StreamEvent]) {
        if forcedBlocks.contains(block) {
            toolArgsSeen.insert(block)
            emitContent(fragment, into: &out)
        } else if let k = toolIndex[block] {
            toolArgsSeen.insert(block)
            emitTool(ToolCallDelta(index: k, arguments: fragment), into: &out)
        }
    }

    private mutating func emitTool(_ call: ToolCallDelta, into out: inout [StreamEvent]) {
        var d = ChoiceDelta(toolCalls: [call])
        if !roleSent {
            d.role = true
            d.contentNull = true
            roleSent = true
        }
        out.append(.choices([d], raw: nil))
    }

    private mutating func emitFinish(into out: inout [StreamEvent]) {
        guard !finishSent else { return }
        finishSent = true
        var d = ChoiceDelta(finishReason: AnthropicWire.finishReason(stopReason, forcedJSON: forcedJSON))
        if !roleSent {
            d.role = true
            d.content = ""
            roleSent = true
        }
        out.append(.choices([d], raw: nil))
    }

    private mutating func emitUsage(into out: inout [StreamEvent]) {
        guard usageKnown, !usageSent else { return }
        usageSent = true
        out.append(.usage(AnthropicWire.usage(.object(usage)), raw: nil))
    }
}
