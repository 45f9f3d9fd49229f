public import SwitchyardCore

/// The pieces of an Anthropic `message` (the SDK's `Message`) written from a unified answer.
public enum MessagesOutput {
    /// `end_turn` for a plain stop (the translated providers do not say whether a stop sequence
    /// matched, so `stop_sequence` stays null, **policy**), `max_tokens` for `length`, `tool_use`
    /// for tool calls, `refusal` for a content filter (and for an OpenAI refusal, whose finish
    /// reason is a plain stop).
    public static func stopReason(_ reason: FinishReason?) -> String {
        switch reason {
        case .stop?, nil: "end_turn"
        case .length?: "max_tokens"
        case .toolCalls?, .functionCall?: "tool_use"
        case .contentFilter?: "refusal"
        }
    }

    /// Anthropic usage: `input_tokens` is the uncached part (the unified prompt count includes
    /// cache reads and writes), the cache counters only when the upstream reported them.
    public static func usage(_ u: Usage?) -> JSONObject {
        guard let u else { return ["input_tokens": 0, "output_tokens": 0] }
        var o = JSONObject()
        let cached = (u.cachedTokens ?? 0) + (u.cacheWriteTokens ?? 0)
        o.appendUnique("input_tokens", .int(max(0, u.promptTokens - cached)))
        if let w = u.cacheWriteTokens { o.appendUnique("cache_creation_input_tokens", .int(w)) }
        if let c = u.cachedTokens { o.appendUnique("cache_read_input_tokens", .int(c)) }
        o.appendUnique("output_tokens", .int(u.completionTokens))
        return o
    }

    /// The unified usage of an Anthropic `usage` object (the inverse of `usage(_:)`).
    public static func unified(_ o: JSONObject) -> Usage {
        let input = o["input_tokens"]?.intValue ?? 0
        let write = o["cache_creation_input_tokens"]?.intValue
        let read = o["cache_read_input_tokens"]?.intValue
        return Usage(
            promptTokens: input + (write ?? 0) + (read ?? 0), completionTokens: o["output_tokens"]?.intValue ?? 0,
            cachedTokens: read, cacheWriteTokens: write)
    }

    /// A tool call's arguments as the `input` object Anthropic blocks carry; arguments that are
    /// not a JSON object (cut off by `max_tokens`) become `{}`.
    public static func toolInput(_ arguments: String) -> JSON {
        if case .object(let o)? = try? JSON.parse(arguments) { return .object(o) }
        return .object([:])
    }

    public static func textBlock(_ text: String) -> JSON { ["type": "text", "text": .string(text)] }

    public static func toolUseBlock(id: String, name: String, input: JSON) -> JSON {
        ["type": "tool_use", "id": .string(id), "name": .string(name), "input": input]
    }

    /// The `message` object of a translated answer (choice 0): a text block when there is text
    /// (or a refusal, whose text it carries), then one `tool_use` block per tool call.
    public static func message(_ response: ChatResponse, id: String) -> JSONObject {
        let choice = response.choices.first
        var content: [JSON] = []
        let text = (choice?.content ?? "") + (choice?.refusal ?? "")
        if !text.isEmpty { content.append(textBlock(text)) }
        for call in choice?.toolCalls ?? [] {
            content.append(toolUseBlock(id: call.id, name: call.name, input: toolInput(call.arguments)))
        }
        let refused = !(choice?.refusal ?? "").isEmpty
        return envelope(
            id: id, model: response.model, content: content,
            stopReason: refused ? "refusal" : stopReason(choice?.finishReason), usage: usage(response.usage))
    }

    public static func envelope(
        id: String, model: String, content: [JSON], stopReason: String?, usage: JSONObject
    ) -> JSONObject {
        var o = JSONObject()
        o.appendUnique("id", .string(id))
        o.appendUnique("type", "message")
        o.appendUnique("role", "assistant")
        o.appendUnique("model", .string(model))
        o.appendUnique("content", .array(content))
        o.appendUnique("stop_reason", stopReason.map(JSON.string) ?? .null)
        o.appendUnique("stop_sequence", .null)
        o.appendUnique("usage", .object(usage))
        return o
    }
}
