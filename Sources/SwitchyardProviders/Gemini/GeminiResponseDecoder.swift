import SwitchyardCore

/// Gemini `GenerateContentResponse` pieces → unified choices, finish reasons and usage
/// (docs/translation.md §6, §6.1, §6.2). Shared by the buffered decode and the stream decoder.
enum GeminiResponseDecoder {
    /// `finishReason` → OpenAI (docs/translation.md §6.1). A candidate that called a function always reports `tool_calls`.
    static func finishReason(_ raw: String?, sawCall: Bool) -> FinishReason {
        if sawCall { return .toolCalls }
        switch raw {
        case "MAX_TOKENS": return .length
        case "SAFETY", "RECITATION", "LANGUAGE", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "NO_IMAGE", "OTHER":
            return .contentFilter
        case let r? where r.hasPrefix("IMAGE_"):
            return .contentFilter
        default:
            // STOP, MALFORMED_FUNCTION_CALL, UNEXPECTED_TOOL_CALL, TOO_MANY_TOOL_CALLS (LiteLLM's choice),
            // FINISH_REASON_UNSPECIFIED, missing and unknown values.
            return .stop
        }
    }

    /// `usageMetadata` → OpenAI usage (docs/translation.md §6.2); `nil` when absent.
    static func usage(_ value: JSON?) -> Usage? {
        guard let value, case .object(let u) = value else { return nil }
        let prompt = (u["promptTokenCount"]?.intValue ?? 0) + (u["toolUsePromptTokenCount"]?.intValue ?? 0)
        let thoughts = u["thoughtsTokenCount"]?.intValue
        let completion = (u["candidatesTokenCount"]?.intValue ?? 0) + (thoughts ?? 0)
        return Usage(
            promptTokens: prompt, completionTokens: completion,
            totalTokens: u["totalTokenCount"]?.intValue ?? prompt + completion,
            cachedTokens: u["cachedContentTokenCount"]?.intValue, reasoningTokens: thoughts)
    }

    /// Whether a part is model output a client sees as text (not a thought, not empty).
    static func visibleText(_ part: JSON) -> String? {
        guard let text = part["text"]?.stringValue, !text.isEmpty, part["thought"]?.boolValue != true else {
            return nil
        }
        return text
    }

    /// One `functionCall` part as an OpenAI tool call with its id (docs/translation.md §5).
    static func toolCall(_ part: JSON, seed: String, candidate: Int, call: Int) -> ToolCall? {
        guard let fc = part["functionCall"], case .object = fc else { return nil }
        let id = GeminiToolCallID.clientID(
            native: fc["id"]?.stringValue, signature: part["thoughtSignature"]?.stringValue, seed: seed,
            candidate: candidate, call: call)
        let args = fc["args"].flatMap { $0.isNull ? nil : $0 } ?? .object([:])
        return ToolCall(id: id, name: fc["name"]?.stringValue ?? "", arguments: args.serializedString())
    }

    /// One choice per candidate; a blocked prompt (no candidates) becomes one filtered choice.
    static func choices(_ response: JSONObject, seed: String) -> [ChatChoice]? {
        let candidates = response["candidates"]?.arrayValue ?? []
        guard !candidates.isEmpty else {
            guard response["promptFeedback"]?["blockReason"] != nil else { return nil }
            return [ChatChoice(index: 0, content: nil, finishReason: .contentFilter)]
        }
        return candidates.enumerated().map { position, c in
            let index = c["index"]?.intValue ?? position
            var text: String?
            var calls: [ToolCall] = []
            for part in c["content"]?["parts"]?.arrayValue ?? [] {
                if let t = visibleText(part) { text = (text ?? "") + t }
                if let call = toolCall(part, seed: seed, candidate: index, call: calls.count) { calls.append(call) }
            }
            let finish = finishReason(c["finishReason"]?.stringValue, sawCall: !calls.isEmpty)
            // No text: null beside tool calls or a filter (OpenAI's shape), "" for an empty answer.
            let content = text ?? (calls.isEmpty && finish != .contentFilter ? "" : nil)
            return ChatChoice(
                index: index, content: content, toolCalls: calls, finishReason: finish,
                logprobs: logprobs(c["logprobsResult"]))
        }
    }

    /// `logprobsResult` → OpenAI `{"content": [{token, logprob, bytes, top_logprobs}], "refusal": null}`.
    static func logprobs(_ value: JSON?) -> JSON? {
        guard let chosen = value?["chosenCandidates"]?.arrayValue else { return nil }
        let top = value?["topCandidates"]?.arrayValue ?? []
        func entry(_ c: JSON) -> JSONObject {
            let token = c["token"]?.stringValue ?? ""
            return [
                "token": .string(token), "logprob": c["logProbability"] ?? .int(0),
                "bytes": .array(token.utf8.map { .int(Int($0)) }),
            ]
        }
        var content: [JSON] = []
        for (i, c) in chosen.enumerated() {
            var e = entry(c)
            let alternatives = i < top.count ? top[i]["candidates"]?.arrayValue ?? [] : []
            e["top_logprobs"] = .array(alternatives.map { .object(entry($0)) })
            content.append(.object(e))
        }
        return .object(["content": .array(content), "refusal": .null])
    }
}
