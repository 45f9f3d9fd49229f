import SwitchyardCore

/// A non-streaming Anthropic `message` → one OpenAI choice (docs/translation.md §6).
///
/// `content` is the concatenated `text` blocks, `tool_calls` the `tool_use` blocks in order
/// (`arguments` = the serialised `input`); `content` is `null` when there are tool calls and no
/// text, `""` when there is nothing at all. `thinking`/`redacted_thinking` are dropped. With the
/// forced JSON tool, its `input` becomes `content` and the reply finishes with `stop`.
struct AnthropicResponseDecoder {
    let forcedJSON: Bool

    func decode(_ body: [UInt8], target: TargetContext, id: String, created: Int) throws(ProviderError) -> ChatResponse
    {
        if !forcedJSON, let response = Self.skimmed(body, target: target, id: id, created: created) { return response }
        return try decodeTree(body, target: target, id: id, created: created)
    }

    /// The answer of `decodeTree` for a message whose blocks hold no `tool_use` (a plain text
    /// answer), read from its bytes in one checked pass: only the values it keeps are decoded,
    /// where the tree held every key, string and number of the message (the decode of a
    /// translated answer cost 1.7 us, the passthrough's check 0.6 us, `switchyard-bench gateway
    /// --provider anthropic`). nil for anything else (a `tool_use` block, `content` not an array,
    /// text that is not JSON or not an object), which `decodeTree` reads or rejects. Like the
    /// tree, it takes a repeated key's last value.
    static func skimmed(_ body: [UInt8], target: TargetContext, id: String, created: Int) -> ChatResponse? {
        body.withUnsafeBufferPointer { b -> ChatResponse? in
            var reader = JSONReader(b)
            guard reader.next == UInt8(ascii: "{") else { return nil }
            var text: String?
            var model: Range<Int>?
            var stopReason: Range<Int>?
            var usage: Range<Int>?
            do throws(JSONParseError) {
                var object = try reader.open(depth: 1)
                while let key = try reader.nextKey(&object) {
                    let start = reader.index
                    if key.named("content", in: b) {
                        guard reader.next == UInt8(ascii: "["), let t = try textOfBlocks(&reader, depth: object.depth)
                        else { return nil }
                        text = t
                    } else {
                        try reader.skipValue(depth: object.depth)
                        if key.named("model", in: b) {
                            model = start..<reader.index
                        } else if key.named("stop_reason", in: b) {
                            stopReason = start..<reader.index
                        } else if key.named("usage", in: b) {
                            usage = start..<reader.index
                        }
                    }
                }
                try reader.finish()
            } catch {
                return nil
            }
            guard let text else { return nil }
            let choice = ChatChoice(
                index: 0, content: text, toolCalls: [],
                finishReason: AnthropicWire.finishReason(b.scalar(at: stopReason).stringValue, forcedJSON: false))
            return ChatResponse(
                id: id, created: created, model: b.scalar(at: model).stringValue ?? target.upstreamModel,
                choices: [choice], usage: AnthropicWire.usage(bytes: usage.map { UnsafeBufferPointer(rebasing: b[$0]) })
            )
        }
    }

    /// The `text` blocks of the `content` array at `reader` joined, as `decodeTree` joins them
    /// (blocks of other types, and elements that are not objects, dropped); nil at a `tool_use`
    /// block (the reader is then left inside the array).
    private static func textOfBlocks(_ reader: inout JSONReader, depth: Int) throws(JSONParseError) -> String? {
        let b = reader.bytes
        var array = try reader.open(depth: depth + 1)
        var text = ""
        while try reader.nextElement(&array) {
            guard reader.next == UInt8(ascii: "{") else {
                try reader.skipValue(depth: array.depth)
                continue
            }
            var block = try reader.open(depth: array.depth + 1)
            var type: Range<Int>?
            var blockText: Range<Int>?
            while let key = try reader.nextKey(&block) {
                let start = reader.index
                try reader.skipValue(depth: block.depth)
                if key.named("type", in: b) {
                    type = start..<reader.index
                } else if key.named("text", in: b) {
                    blockText = start..<reader.index
                }
            }
            switch b.scalar(at: type).stringValue {
            case "text": text += b.scalar(at: blockText).stringValue ?? ""
            case "tool_use": return nil
            default: continue
            }
        }
        return text
    }

    /// The whole message parsed into a tree and read from it: every shape.
    func decodeTree(
        _ body: [UInt8], target: TargetContext, id: String, created: Int
    ) throws(ProviderError) -> ChatResponse {
        guard let json = try? JSON.parse(body), case .object(let o) = json, let blocks = o["content"]?.arrayValue else {
            throw ProviderError(
                kind: .malformedResponse, status: 200, message: "The upstream answer was not an Anthropic message.")
        }
        var text = ""
        var forcedInput: String?
        var calls: [ToolCall] = []
        for block in blocks {
            switch block["type"]?.stringValue {
            case "text":
                text += block["text"]?.stringValue ?? ""
            case "tool_use":
                let name = block["name"]?.stringValue ?? ""
                let arguments = (block["input"] ?? .object([:])).serializedString()
                if forcedJSON, name == AnthropicJSONMode.toolName {
                    forcedInput = (forcedInput ?? "") + arguments
                } else {
                    calls.append(ToolCall(id: block["id"]?.stringValue ?? "", name: name, arguments: arguments))
                }
            default:
                continue  // thinking, redacted_thinking, server tool blocks
            }
        }
        let content: String?
        if forcedJSON {
            // The client asked for JSON: any text the model wrote around the tool call would break it.
            content = forcedInput ?? text
        } else {
            content = text.isEmpty && !calls.isEmpty ? nil : text
        }
        let choice = ChatChoice(
            index: 0, content: content, toolCalls: calls,
            finishReason: AnthropicWire.finishReason(o["stop_reason"]?.stringValue, forcedJSON: forcedJSON))
        return ChatResponse(
            id: id, created: created, model: o["model"]?.stringValue ?? target.upstreamModel, choices: [choice],
            usage: AnthropicWire.usage(o["usage"]))
    }
}
