public import SwitchyardCore

/// Builders for the Responses API's answer: output items, usage, the `response` object. Shared by
/// the non-streaming encoder, the stream encoder and the idempotent replay, so the three agree on
/// every id and field.
///
/// Field names and shapes follow the official SDK's types (`openai/types/responses/`:
/// `Response`, `ResponseOutputMessage`, `ResponseOutputText`, `ResponseFunctionToolCall`,
/// `ResponseUsage`).
public enum ResponsesOutput {
    /// Item ids of a translated answer, derived from the response id so a stream, its stored copy
    /// and its replay name items alike: `msg_<hex>`, `fc_<hex>_<n>`.
    public static func itemID(_ prefix: String, responseID: String, outputIndex: Int) -> String {
        let base = responseID.hasPrefix("resp_") ? String(responseID.dropFirst(5)) : responseID
        return outputIndex == 0 ? "\(prefix)_\(base)" : "\(prefix)_\(base)_\(outputIndex)"
    }

    /// `{"type":"output_text","text","annotations":[],"logprobs":[]}`.
    public static func outputText(_ text: String) -> JSON {
        ["type": "output_text", "text": .string(text), "annotations": [], "logprobs": []]
    }

    /// `{"type":"refusal","refusal"}`.
    public static func refusal(_ text: String) -> JSON { ["type": "refusal", "refusal": .string(text)] }

    /// An assistant `message` output item.
    public static func message(id: String, status: String, content: [JSON]) -> JSON {
        [
            "id": .string(id), "type": "message", "status": .string(status), "content": .array(content),
            "role": "assistant",
        ]
    }

    /// A `function_call` output item.
    public static func functionCall(
        id: String, status: String, callID: String, name: String, arguments: String
    )
        -> JSON
    {
        [
            "id": .string(id), "type": "function_call", "status": .string(status), "arguments": .string(arguments),
            "call_id": .string(callID), "name": .string(name),
        ]
    }

    /// The output items of a unified answer (choice 0): the message (text and refusal parts),
    /// then one `function_call` per tool call. A tool-call-only answer has no message item.
    public static func items(_ response: ChatResponse, responseID: String) -> [JSON] {
        guard let choice = response.choices.first else { return [] }
        var out: [JSON] = []
        var content: [JSON] = []
        if let text = choice.content { content.append(outputText(text)) }
        if let r = choice.refusal { content.append(refusal(r)) }
        if !content.isEmpty || choice.toolCalls.isEmpty {
            if content.isEmpty { content.append(outputText("")) }
            out.append(
                message(
                    id: itemID("msg", responseID: responseID, outputIndex: 0), status: "completed", content: content))
        }
        for call in choice.toolCalls {
            out.append(
                functionCall(
                    id: itemID("fc", responseID: responseID, outputIndex: out.count), status: "completed",
                    callID: call.id, name: call.name, arguments: call.arguments))
        }
        return out
    }

    /// `ResponseUsage`: input/output/total tokens with their detail objects (zero when unknown).
    public static func usage(_ u: Usage) -> JSON {
        [
            "input_tokens": .int(u.promptTokens),
            "input_tokens_details": [
                "cached_tokens": .int(u.cachedTokens ?? 0), "cache_write_tokens": .int(u.cacheWriteTokens ?? 0),
            ],
            "output_tokens": .int(u.completionTokens),
            "output_tokens_details": ["reasoning_tokens": .int(u.reasoningTokens ?? 0)],
            "total_tokens": .int(u.totalTokens),
        ]
    }

    /// `completed`, or `incomplete` with its reason for a length or filter stop.
    public static func status(_ finish: FinishReason?) -> (status: String, incomplete: String?) {
        switch finish {
        case .length?: ("incomplete", "max_output_tokens")
        case .contentFilter?: ("incomplete", "content_filter")
        default: ("completed", nil)
        }
    }

    /// The `response` object: envelope, the request parameters echoed as OpenAI does (defaults
    /// where the client left them out), then `output` and `usage`.
    public static func object(
        context: AnswerContext, model: String, status: String, output: [JSON], usage: Usage?,
        incompleteReason: String? = nil, error: APIError? = nil
    ) -> JSONObject {
        let echo = context.clientBody
        func echoed(_ key: String, _ fallback: JSON) -> JSON {
            guard let v = echo[key], !v.isNull else { return fallback }
            return v
        }
        var o = JSONObject()
        o.appendUnique("id", .string(context.id))
        o.appendUnique("object", "response")
        o.appendUnique("created_at", .int(context.created))
        o.appendUnique("status", .string(status))
        o.appendUnique("background", false)
        o.appendUnique("completed_at", status == "completed" ? .int(context.created) : .null)
        if let error {
            o.appendUnique(
                "error", ["code": .string(streamErrorCode(error)), "message": .string(error.message)])
        } else {
            o.appendUnique("error", .null)
        }
        o.appendUnique("incomplete_details", incompleteReason.map { ["reason": .string($0)] } ?? .null)
        o.appendUnique("instructions", echoed("instructions", .null))
        o.appendUnique("max_output_tokens", echoed("max_output_tokens", .null))
        o.appendUnique("model", .string(model))
        o.appendUnique("output", .array(output))
        o.appendUnique("parallel_tool_calls", echoed("parallel_tool_calls", true))
        o.appendUnique("previous_response_id", echoed("previous_response_id", .null))
        var reasoning: JSONObject = ["effort": .null, "summary": .null]
        if case .object(let r)? = echo["reasoning"] { for e in r { reasoning[e.key] = e.value } }
        o.appendUnique("reasoning", .object(reasoning))
        o.appendUnique("safety_identifier", echoed("safety_identifier", .null))
        o.appendUnique("store", echoed("store", true))
        o.appendUnique("temperature", echoed("temperature", 1))
        o.appendUnique("text", echoed("text", ["format": ["type": "text"]]))
        o.appendUnique("tool_choice", echoed("tool_choice", "auto"))
        o.appendUnique("tools", echoed("tools", []))
        o.appendUnique("top_p", echoed("top_p", 1))
        o.appendUnique("truncation", echoed("truncation", "disabled"))
        o.appendUnique("usage", usage.map(Self.usage) ?? .null)
        o.appendUnique("user", echoed("user", .null))
        o.appendUnique("metadata", echoed("metadata", .object([:])))
        return o
    }

    /// The `response.error.code` for a failure: OpenAI names a rate limit `rate_limit_exceeded`
    /// and everything else the model could not finish `server_error`.
    static func streamErrorCode(_ error: APIError) -> String {
        error.status == 429 ? "rate_limit_exceeded" : "server_error"
    }
}
