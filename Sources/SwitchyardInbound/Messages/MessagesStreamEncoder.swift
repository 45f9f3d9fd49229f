public import SwitchyardCore

/// Writes a routed stream as Anthropic's server-sent events, each `event: <type>` +
/// `data: {"type":<type>,…}`, in the order the SDK's accumulator (`messages.stream()`) expects:
/// `message_start` (then a `ping`), per content block `content_block_start`,
/// `content_block_delta` (`text_delta`, `input_json_delta`)…, `content_block_stop`; then
/// `message_delta` with the stop reason and the usage, and `message_stop`. A failure after the
/// start is an `error` event.
///
/// Two sources, one state: events an Anthropic target sent natively arrive with `raw` and are
/// forwarded unchanged while the encoder follows them (the message envelope, each block's index
/// and kind, whether `message_delta` went out); events without `raw` (a translating target, or the
/// rest of a native stream finished by a continuation after a mid-stream failure) are written from
/// the unified deltas, continuing the same message: no second `message_start`, text appended to
/// the open text block (or a new block at the next index), and one `message_delta` whose usage is
/// the sum over every upstream call (the router's final usage event).
///
/// Pure: events in, bytes out; `finalBody` is the whole `message` object.
public struct MessagesStreamEncoder: SplicingStreamEncoder {
    struct Block: Sendable {
        enum Kind: Sendable { case text, toolUse, other }
        var kind: Kind
        /// The block as `content_block_start` gave it (`text: ""`, `input: {}`, …).
        var start: JSONObject
        /// Text (or thinking) and tool-input JSON received so far, kept only for `finalBody`.
        var text = ""
        var partialJSON = ""
        var signature: String?
        var citations: [JSON] = []
    }

    /// The `message` of `message_start` (the upstream's on a native stream).
    var envelope: JSONObject?
    var blocks: [Block] = []
    /// The answer was an OpenAI refusal: its stop reason is `refusal`.
    var refused = false
    /// What the upstream's `message_delta` said, on a native stream.
    var nativeStop: JSON?
    var nativeUsage = JSONObject()
    /// Events were written from deltas after native ones (a continuation): the usage and stop
    /// reason are then the gateway's.
    var spliced = false
    var deltaSent = false
    var stopped = false
    var ended: Bool { stopped }

    var state: SplicingState

    public init(context: AnswerContext) {
        self.state = SplicingState(context: context)
    }

    public var finalBody: [UInt8]? {
        guard state.failure == nil, stopped, state.context.keepsFinalAnswer else { return nil }
        return JSON.object(finalMessage).serialized()
    }

    public mutating func fail(_ error: APIError) -> [UInt8] {
        SSE.event("error", MessagesErrors.object(error))
    }

    // MARK: Written events

    mutating func start(into out: inout [UInt8]) {
        state.started = true
        let message = MessagesOutput.envelope(
            id: state.context.id, model: state.model, content: [], stopReason: nil, usage: MessagesOutput.usage(nil))
        envelope = message
        emit("message_start", ["message": .object(message)], into: &out)
        emit("ping", [:], into: &out)
    }

    mutating func willWrite(_ deltas: [ChoiceDelta]) {
        if state.native, !deltas.isEmpty { spliced = true }
    }

    /// Text goes to the open text block (or a new one); a refusal is text whose stop reason
    /// becomes `refusal`.
    mutating func appendText(_ text: String, refusal: Bool, into out: inout [UInt8]) {
        if refusal { refused = true }
        let i: Int
        if let o = state.open, blocks[o].kind == .text {
            i = o
        } else {
            closeOpen(into: &out)
            i = openBlock(.text, ["type": "text", "text": ""], into: &out)
        }
        if state.context.keepsFinalAnswer { blocks[i].text += text }
        emit(
            "content_block_delta", ["index": .int(i), "delta": ["type": "text_delta", "text": .string(text)]],
            into: &out)
    }

    mutating func openCall(_ call: ToolCallDelta, into out: inout [UInt8]) -> Int {
        openBlock(
            .toolUse,
            [
                "type": "tool_use", "id": .string(call.id ?? "toolu_\(blocks.count)"), "name": .string(call.name ?? ""),
                "input": [:],
            ],
            into: &out)
    }

    mutating func appendArguments(_ args: String, to i: Int, into out: inout [UInt8]) {
        if state.context.keepsFinalAnswer { blocks[i].partialJSON += args }
        emit(
            "content_block_delta",
            ["index": .int(i), "delta": ["type": "input_json_delta", "partial_json": .string(args)]], into: &out)
    }

    /// Starts a block at the next index.
    mutating func openBlock(_ kind: Block.Kind, _ start: JSONObject, into out: inout [UInt8]) -> Int {
        let i = blocks.count
        blocks.append(Block(kind: kind, start: start))
        state.open = i
        emit("content_block_start", ["index": .int(i), "content_block": .object(start)], into: &out)
        return i
    }

    mutating func close(_ i: Int, into out: inout [UInt8]) {
        emit("content_block_stop", ["index": .int(i)], into: &out)
    }

    mutating func complete(into out: inout [UInt8]) {
        closeOpen(into: &out)
        if !deltaSent {
            deltaSent = true
            var delta = JSONObject()
            delta.appendUnique("stop_reason", .string(stopReason))
            delta.appendUnique("stop_sequence", .null)
            emit(
                "message_delta", ["delta": .object(delta), "usage": .object(MessagesOutput.usage(state.usage))],
                into: &out)
        }
        stopped = true
        emit("message_stop", [:], into: &out)
    }

    // MARK: The final message

    var stopReason: String { refused ? "refusal" : MessagesOutput.stopReason(state.finish) }

    var finalMessage: JSONObject {
        var m =
            envelope
            ?? MessagesOutput.envelope(
                id: state.context.id, model: state.model, content: [], stopReason: nil, usage: MessagesOutput.usage(nil)
            )
        m["content"] = .array(blocks.map(Self.finalBlock))
        if state.native, !spliced, let stop = nativeStop {
            m["stop_reason"] = stop["stop_reason"] ?? .null
            m["stop_sequence"] = stop["stop_sequence"] ?? .null
            var u = m["usage"]?.objectValue ?? JSONObject()
            for e in nativeUsage { u[e.key] = e.value }
            m["usage"] = .object(u)
        } else {
            m["stop_reason"] = .string(stopReason)
            m["usage"] = .object(MessagesOutput.usage(state.usage))
        }
        return m
    }

    static func finalBlock(_ b: Block) -> JSON {
        var o = b.start
        switch o["type"]?.stringValue {
        case "text":
            o["text"] = .string((o["text"]?.stringValue ?? "") + b.text)
            if !b.citations.isEmpty { o["citations"] = .array(b.citations) }
        case "thinking":
            o["thinking"] = .string((o["thinking"]?.stringValue ?? "") + b.text)
            if let s = b.signature { o["signature"] = .string(s) }
        case "tool_use", "server_tool_use":
            if !b.partialJSON.isEmpty { o["input"] = MessagesOutput.toolInput(b.partialJSON) }
        default:
            break
        }
        return .object(o)
    }

    // MARK: Framing

    /// One event: `event: <type>` and the data object with `type` first.
    mutating func emit(_ type: String, _ fields: JSONObject, into out: inout [UInt8]) {
        out += SSE.event(type, Self.typed(type, fields))
    }
}
