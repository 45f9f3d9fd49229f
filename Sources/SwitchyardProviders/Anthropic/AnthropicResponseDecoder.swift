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
