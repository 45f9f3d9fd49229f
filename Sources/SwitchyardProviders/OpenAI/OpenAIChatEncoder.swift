public import SwitchyardCore

/// Writes a Chat Completions body from the typed fields of a request that did not arrive as a
/// Chat Completions body (a Responses request for a `responses_mode: chat` target, an Anthropic
/// Messages request for an OpenAI target). A Chat Completions request never comes here: it is
/// forwarded as the client sent it.
///
/// Anthropic-only settings: `top_k` has no counterpart and is left out; `stop` keeps the first
/// four sequences (OpenAI's maximum); `thinking` becomes `reasoning_effort` (`ThinkingSetting.effort`)
/// only for models known to reason (`o1`…, `o3`…, `o4`…, `gpt-5`…; **policy**: other models
/// answer the field with a 400, which would end the failover).
///
/// Fields the unified form does not carry are not invented: what the typed request leaves `nil`
/// is left out, so the upstream applies its own defaults.
public enum OpenAIChatEncoder {
    public static func body(_ request: ChatRequest, model: String) -> JSONObject {
        var o = JSONObject()
        o.appendUnique("model", .string(model))
        o.appendUnique("messages", .array(request.messages.map(message)))
        if request.stream {
            o.appendUnique("stream", true)
            o.appendUnique("stream_options", ["include_usage": true])
        }
        if let v = request.maxTokens { o.appendUnique("max_completion_tokens", .int(v)) }
        if let v = request.temperature { o.appendUnique("temperature", .double(v)) }
        if let v = request.topP { o.appendUnique("top_p", .double(v)) }
        if !request.stop.isEmpty { o.appendUnique("stop", .array(request.stop.prefix(4).map(JSON.string))) }
        if let v = request.n { o.appendUnique("n", .int(v)) }
        if let v = request.seed { o.appendUnique("seed", .int(v)) }
        if let v = request.presencePenalty { o.appendUnique("presence_penalty", .double(v)) }
        if let v = request.frequencyPenalty { o.appendUnique("frequency_penalty", .double(v)) }
        if request.logprobs { o.appendUnique("logprobs", true) }
        if let v = request.topLogprobs { o.appendUnique("top_logprobs", .int(v)) }
        if let v = request.logitBias { o.appendUnique("logit_bias", .object(v)) }
        if let v = request.user { o.appendUnique("user", .string(v)) }
        if !request.tools.isEmpty { o.appendUnique("tools", .array(request.tools.map(tool))) }
        if let c = request.toolChoice { o.appendUnique("tool_choice", toolChoice(c)) }
        if let v = request.parallelToolCalls { o.appendUnique("parallel_tool_calls", .bool(v)) }
        if let f = request.responseFormat { o.appendUnique("response_format", responseFormat(f)) }
        if let v = request.reasoningEffort ?? reasoningEffort(request.thinking, model: model) {
            o.appendUnique("reasoning_effort", .string(v))
        }
        return o
    }

    static func reasoningEffort(_ thinking: ThinkingSetting?, model: String) -> String? {
        guard let thinking, isReasoningModel(model) else { return nil }
        return thinking.effort
    }

    /// Models whose name says they take `reasoning_effort`.
    public static func isReasoningModel(_ model: String) -> Bool {
        ["o1", "o3", "o4", "gpt-5"].contains { model.hasPrefix($0) }
    }

    static func message(_ m: ChatMessage) -> JSON {
        var o = JSONObject()
        o.appendUnique("role", .string(m.role.rawValue))
        switch m.content {
        case .text(let s)?: o.appendUnique("content", .string(s))
        case .parts(let parts)?: o.appendUnique("content", .array(parts.map(part)))
        case nil: o.appendUnique("content", .null)
        }
        if let n = m.name { o.appendUnique("name", .string(n)) }
        if !m.toolCalls.isEmpty {
            o.appendUnique(
                "tool_calls",
                .array(
                    m.toolCalls.map { c in
                        [
                            "id": .string(c.id), "type": "function",
                            "function": ["name": .string(c.name), "arguments": .string(c.arguments)],
                        ]
                    }))
        }
        if let id = m.toolCallID { o.appendUnique("tool_call_id", .string(id)) }
        if let r = m.refusal { o.appendUnique("refusal", .string(r)) }
        return .object(o)
    }

    static func part(_ p: ContentPart) -> JSON {
        switch p {
        case .text(let t):
            return ["type": "text", "text": .string(t)]
        case .refusal(let t):
            return ["type": "refusal", "refusal": .string(t)]
        case .imageURL(let url, let detail):
            var image: JSONObject = ["url": .string(url)]
            if let detail { image["detail"] = .string(detail) }
            return ["type": "image_url", "image_url": .object(image)]
        case .inputAudio(let data, let format):
            return ["type": "input_audio", "input_audio": ["data": .string(data), "format": .string(format)]]
        case .file(let data, let id, let filename):
            var f = JSONObject()
            if let data { f["file_data"] = .string(data) }
            if let id { f["file_id"] = .string(id) }
            if let filename { f["filename"] = .string(filename) }
            return ["type": "file", "file": .object(f)]
        }
    }

    static func tool(_ t: ToolDefinition) -> JSON {
        switch t.kind {
        case .function:
            var f: JSONObject = ["name": .string(t.name)]
            if let d = t.description { f["description"] = .string(d) }
            if let p = t.parameters { f["parameters"] = p }
            if let s = t.strict { f["strict"] = .bool(s) }
            return ["type": "function", "function": .object(f)]
        case .custom:
            var c: JSONObject = ["name": .string(t.name)]
            if let d = t.description { c["description"] = .string(d) }
            return ["type": "custom", "custom": .object(c)]
        }
    }

    static func toolChoice(_ c: ToolChoice) -> JSON {
        switch c {
        case .none: "none"
        case .auto: "auto"
        case .required: "required"
        case .function(let name): ["type": "function", "function": ["name": .string(name)]]
        case .custom(let name): ["type": "custom", "custom": ["name": .string(name)]]
        case .allowedTools(let names, let required):
            [
                "type": "allowed_tools",
                "allowed_tools": [
                    "mode": required ? "required" : "auto",
                    "tools": .array(names.map { ["type": "function", "function": ["name": .string($0)]] }),
                ],
            ]
        }
    }

    static func responseFormat(_ f: ResponseFormat) -> JSON {
        switch f {
        case .text: return ["type": "text"]
        case .jsonObject: return ["type": "json_object"]
        case .jsonSchema(let name, let description, let schema, let strict):
            var js: JSONObject = ["name": .string(name)]
            if let description { js["description"] = .string(description) }
            js["schema"] = schema
            if let strict { js["strict"] = .bool(strict) }
            return ["type": "json_schema", "json_schema": .object(js)]
        }
    }
}
