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

    /// What `GeminiCodec.decodeResponse` makes of an answer whose candidates hold text parts
    /// only (no `functionCall` part, no `logprobsResult`), read from its bytes in one checked
    /// pass: only the values it keeps are decoded, where the tree held every key, string and
    /// number of the answer (the decode of a translated answer cost 1.8 us, the passthrough's
    /// check 0.6 us, `switchyard-bench gateway --provider gemini`). nil for anything else (an
    /// `error` member, no candidates, a candidate, `content` or part that is not an object,
    /// `parts` not an array, text that is not JSON or not an object), which the tree reads or
    /// rejects. Like the tree, it takes a repeated key's last value.
    static func skimmed(_ body: [UInt8], target: TargetContext, id: String, created: Int) -> ChatResponse? {
        body.withUnsafeBufferPointer { b -> ChatResponse? in
            var reader = JSONReader(b)
            guard reader.next == UInt8(ascii: "{") else { return nil }
            var choices: [ChatChoice]?
            var model: Range<Int>?
            var usage: Range<Int>?
            do throws(JSONParseError) {
                var object = try reader.open(depth: 1)
                while let key = try reader.nextKey(&object) {
                    let start = reader.index
                    if key.named("candidates", in: b) {
                        guard reader.next == UInt8(ascii: "["), let c = try candidates(&reader, depth: object.depth),
                            !c.isEmpty
                        else { return nil }
                        choices = c
                    } else {
                        // The tree reads an `error` member as a failure.
                        if key.named("error", in: b) { return nil }
                        try reader.skipValue(depth: object.depth)
                        if key.named("modelVersion", in: b) {
                            model = start..<reader.index
                        } else if key.named("usageMetadata", in: b) {
                            usage = start..<reader.index
                        }
                    }
                }
                try reader.finish()
            } catch {
                return nil
            }
            guard let choices else { return nil }
            return ChatResponse(
                id: id, created: created, model: b.scalar(at: model).stringValue ?? target.upstreamModel,
                choices: choices,
                usage: Self.usage(bytes: usage.map { UnsafeBufferPointer(rebasing: b[$0]) }))
        }
    }

    /// The choices of the `candidates` array at `reader`, as `choices(_:seed:)` makes them; nil
    /// at a shape only the tree reads.
    private static func candidates(_ reader: inout JSONReader, depth: Int) throws(JSONParseError) -> [ChatChoice]? {
        let b = reader.bytes
        var array = try reader.open(depth: depth + 1)
        var choices: [ChatChoice] = []
        while try reader.nextElement(&array) {
            guard reader.next == UInt8(ascii: "{") else { return nil }
            var candidate = try reader.open(depth: array.depth + 1)
            var index: Range<Int>?
            var finish: Range<Int>?
            var text: String?
            while let key = try reader.nextKey(&candidate) {
                let start = reader.index
                if key.named("content", in: b) {
                    guard reader.next == UInt8(ascii: "{") else { return nil }
                    var content = try reader.open(depth: candidate.depth + 1)
                    // The last `parts` counts.
                    text = nil
                    while let key = try reader.nextKey(&content) {
                        guard key.named("parts", in: b) else {
                            try reader.skipValue(depth: content.depth)
                            continue
                        }
                        guard reader.next == UInt8(ascii: "["), let t = try textOfParts(&reader, depth: content.depth)
                        else { return nil }
                        text = t
                    }
                } else {
                    if key.named("logprobsResult", in: b) { return nil }
                    try reader.skipValue(depth: candidate.depth)
                    if key.named("index", in: b) {
                        index = start..<reader.index
                    } else if key.named("finishReason", in: b) {
                        finish = start..<reader.index
                    }
                }
            }
            let reason = finishReason(b.scalar(at: finish).stringValue, sawCall: false)
            choices.append(
                ChatChoice(
                    index: b.scalar(at: index).intValue ?? choices.count,
                    content: text ?? (reason != .contentFilter ? "" : nil), toolCalls: [], finishReason: reason))
        }
        return choices
    }

    /// `.some` of the visible text of the `parts` array at `reader` (itself nil when no part has
    /// any), each part read as `visibleText(_:)` reads it; `.none` at a part that is not an object
    /// or has a `functionCall` (only the tree reads those).
    private static func textOfParts(_ reader: inout JSONReader, depth: Int) throws(JSONParseError) -> String?? {
        let b = reader.bytes
        var array = try reader.open(depth: depth + 1)
        var text: String?
        while try reader.nextElement(&array) {
            guard reader.next == UInt8(ascii: "{") else { return .none }
            var part = try reader.open(depth: array.depth + 1)
            var partText: Range<Int>?
            var thought: Range<Int>?
            while let key = try reader.nextKey(&part) {
                if key.named("functionCall", in: b) { return .none }
                let start = reader.index
                try reader.skipValue(depth: part.depth)
                if key.named("text", in: b) {
                    partText = start..<reader.index
                } else if key.named("thought", in: b) {
                    thought = start..<reader.index
                }
            }
            let isThought = thought.map { b[$0.lowerBound] == UInt8(ascii: "t") } ?? false
            if !isThought, let t = b.scalar(at: partText).stringValue, !t.isEmpty { text = (text ?? "") + t }
        }
        return .some(text)
    }

    /// `usage(_:)` over the bytes of a checked value (nil when absent), reading only its counts.
    static func usage(bytes: UnsafeBufferPointer<UInt8>?) -> Usage? {
        guard let bytes else { return nil }
        var prompt: Range<Int>?
        var toolUse: Range<Int>?
        var thoughts: Range<Int>?
        var candidates: Range<Int>?
        var total: Range<Int>?
        var cached: Range<Int>?
        let isObject = try? JSON.forEachMember(of: bytes) { m in
            if m.named("promptTokenCount", in: bytes) {
                prompt = m.value
            } else if m.named("toolUsePromptTokenCount", in: bytes) {
                toolUse = m.value
            } else if m.named("thoughtsTokenCount", in: bytes) {
                thoughts = m.value
            } else if m.named("candidatesTokenCount", in: bytes) {
                candidates = m.value
            } else if m.named("totalTokenCount", in: bytes) {
                total = m.value
            } else if m.named("cachedContentTokenCount", in: bytes) {
                cached = m.value
            }
        }
        guard isObject == true else { return nil }
        func int(_ r: Range<Int>?) -> Int? { bytes.scalar(at: r).intValue }
        let p = (int(prompt) ?? 0) + (int(toolUse) ?? 0)
        let t = int(thoughts)
        let c = (int(candidates) ?? 0) + (t ?? 0)
        return Usage(
            promptTokens: p, completionTokens: c, totalTokens: int(total) ?? p + c, cachedTokens: int(cached),
            reasoningTokens: t)
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
