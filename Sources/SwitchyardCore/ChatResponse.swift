/// Why a choice ended, in OpenAI's vocabulary.
public enum FinishReason: String, Sendable, Equatable {
    case stop, length
    case toolCalls = "tool_calls"
    case contentFilter = "content_filter"
    case functionCall = "function_call"
}

/// Token accounting in OpenAI semantics: cached tokens are included in `promptTokens`,
/// reasoning tokens in `completionTokens` (docs/translation.md §6.2).
public struct Usage: Sendable, Equatable {
    public var promptTokens: Int
    public var completionTokens: Int
    public var totalTokens: Int
    public var cachedTokens: Int?
    public var cacheWriteTokens: Int?
    public var reasoningTokens: Int?

    public init(
        promptTokens: Int, completionTokens: Int, totalTokens: Int? = nil, cachedTokens: Int? = nil,
        cacheWriteTokens: Int? = nil, reasoningTokens: Int? = nil
    ) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.totalTokens = totalTokens ?? (promptTokens + completionTokens)
        self.cachedTokens = cachedTokens
        self.cacheWriteTokens = cacheWriteTokens
        self.reasoningTokens = reasoningTokens
    }

    /// Sums two usages (several upstream calls behind one answer).
    public static func + (a: Usage, b: Usage) -> Usage {
        func add(_ x: Int?, _ y: Int?) -> Int? { x == nil && y == nil ? nil : (x ?? 0) + (y ?? 0) }
        return Usage(
            promptTokens: a.promptTokens + b.promptTokens, completionTokens: a.completionTokens + b.completionTokens,
            totalTokens: a.totalTokens + b.totalTokens, cachedTokens: add(a.cachedTokens, b.cachedTokens),
            cacheWriteTokens: add(a.cacheWriteTokens, b.cacheWriteTokens),
            reasoningTokens: add(a.reasoningTokens, b.reasoningTokens))
    }

    /// OpenAI `usage` object; detail objects only when a detail is known.
    public var json: JSON {
        var o: JSONObject = [
            "prompt_tokens": .int(promptTokens), "completion_tokens": .int(completionTokens),
            "total_tokens": .int(totalTokens),
        ]
        if cachedTokens != nil || cacheWriteTokens != nil {
            var d = JSONObject()
            if let c = cachedTokens { d["cached_tokens"] = .int(c) }
            if let w = cacheWriteTokens { d["cache_write_tokens"] = .int(w) }
            o["prompt_tokens_details"] = .object(d)
        }
        if let r = reasoningTokens { o["completion_tokens_details"] = .object(["reasoning_tokens": .int(r)]) }
        return .object(o)
    }

    /// `json.write(to:)` without building the tree: the same bytes, written straight out (the
    /// tree was a quarter of a translated answer's writing, `switchyard-bench gateway --provider
    /// anthropic`).
    public func write(to out: inout [UInt8]) {
        JSON.writeLiteral(#"{"prompt_tokens":"#, to: &out)
        JSON.writeInt(promptTokens, to: &out)
        JSON.writeLiteral(#","completion_tokens":"#, to: &out)
        JSON.writeInt(completionTokens, to: &out)
        JSON.writeLiteral(#","total_tokens":"#, to: &out)
        JSON.writeInt(totalTokens, to: &out)
        if cachedTokens != nil || cacheWriteTokens != nil {
            JSON.writeLiteral(#","prompt_tokens_details":{"#, to: &out)
            if let c = cachedTokens {
                JSON.writeLiteral(#""cached_tokens":"#, to: &out)
                JSON.writeInt(c, to: &out)
            }
            if let w = cacheWriteTokens {
                if cachedTokens != nil { out.append(UInt8(ascii: ",")) }
                JSON.writeLiteral(#""cache_write_tokens":"#, to: &out)
                JSON.writeInt(w, to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
        if let r = reasoningTokens {
            JSON.writeLiteral(#","completion_tokens_details":{"reasoning_tokens":"#, to: &out)
            JSON.writeInt(r, to: &out)
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "}"))
    }

    /// Reads an OpenAI `usage` object; `nil` when absent or malformed.
    public init?(openAI value: JSON?) {
        guard let value, case .object(let o) = value else { return nil }
        let p = o["prompt_tokens"]?.intValue ?? 0
        let c = o["completion_tokens"]?.intValue ?? 0
        self.init(
            promptTokens: p, completionTokens: c, totalTokens: o["total_tokens"]?.intValue ?? p + c,
            cachedTokens: o["prompt_tokens_details"]?["cached_tokens"]?.intValue,
            cacheWriteTokens: o["prompt_tokens_details"]?["cache_write_tokens"]?.intValue,
            reasoningTokens: o["completion_tokens_details"]?["reasoning_tokens"]?.intValue)
    }

    /// `init(openAI:)` over the bytes of a `usage` value (already checked as JSON), parsing only the
    /// values it reads: the object's member list and its longer keys were allocations of every
    /// passthrough answer.
    public init?(openAIBytes bytes: UnsafeBufferPointer<UInt8>) {
        var prompt: JSONMember?
        var completion: JSONMember?
        var total: JSONMember?
        var promptDetails: JSONMember?
        var completionDetails: JSONMember?
        let isObject = try? JSON.forEachMember(of: bytes) { member in
            if member.named("prompt_tokens", in: bytes) {
                prompt = member
            } else if member.named("completion_tokens", in: bytes) {
                completion = member
            } else if member.named("total_tokens", in: bytes) {
                total = member
            } else if member.named("prompt_tokens_details", in: bytes) {
                promptDetails = member
            } else if member.named("completion_tokens_details", in: bytes) {
                completionDetails = member
            }
        }
        guard isObject == true else { return nil }
        func value(_ member: JSONMember?) -> JSON? {
            member.flatMap { try? JSON.parse(UnsafeBufferPointer(rebasing: bytes[$0.value])) }
        }
        // The counts are read from their digits in place; anything else (a fraction, an exponent,
        // a string, more digits than the fast read takes) as `JSON.intValue` reads it. Parsing
        // each count into a value and its text into an `Int` was 4% of a plain request's own CPU.
        func int(_ member: JSONMember?) -> Int? {
            guard let member else { return nil }
            return Self.digits(UnsafeBufferPointer(rebasing: bytes[member.value])) ?? value(member)?.intValue
        }
        let p = int(prompt) ?? 0
        let c = int(completion) ?? 0
        let details = value(promptDetails)
        self.init(
            promptTokens: p, completionTokens: c, totalTokens: int(total) ?? p + c,
            cachedTokens: details?["cached_tokens"]?.intValue,
            cacheWriteTokens: details?["cache_write_tokens"]?.intValue,
            reasoningTokens: value(completionDetails)?["reasoning_tokens"]?.intValue)
    }

    /// The integer `text` spells when it is an optional `-` and 1 to 18 decimal digits (no
    /// overflow possible), else nil.
    static func digits(_ text: UnsafeBufferPointer<UInt8>) -> Int? {
        var i = 0
        let negative = text.first == UInt8(ascii: "-")
        if negative { i = 1 }
        let count = text.count - i
        guard count >= 1, count <= 18 else { return nil }
        var n = 0
        while i < text.count {
            let d = text[i] &- UInt8(ascii: "0")
            guard d < 10 else { return nil }
            n = n * 10 + Int(d)
            i += 1
        }
        return negative ? -n : n
    }
}

/// One choice of a non-streaming answer.
public struct ChatChoice: Sendable, Equatable {
    public var index: Int
    /// `nil` when the model only called tools (or produced nothing and a filter fired).
    public var content: String?
    public var toolCalls: [ToolCall]
    public var refusal: String?
    public var finishReason: FinishReason?
    public var logprobs: JSON?

    public init(
        index: Int, content: String?, toolCalls: [ToolCall] = [], refusal: String? = nil,
        finishReason: FinishReason?, logprobs: JSON? = nil
    ) {
        self.index = index
        self.content = content
        self.toolCalls = toolCalls
        self.refusal = refusal
        self.finishReason = finishReason
        self.logprobs = logprobs
    }
}

/// A non-streaming answer in unified form.
public struct ChatResponse: Sendable, Equatable {
    public var id: String
    public var created: Int
    /// The model that actually answered (the target's upstream model id as the provider reports it).
    public var model: String
    public var choices: [ChatChoice]
    public var usage: Usage?
    public var systemFingerprint: String?

    public init(
        id: String, created: Int, model: String, choices: [ChatChoice], usage: Usage?, systemFingerprint: String? = nil
    ) {
        self.id = id
        self.created = created
        self.model = model
        self.choices = choices
        self.usage = usage
        self.systemFingerprint = systemFingerprint
    }

    /// The OpenAI `chat.completion` object (docs/chat-completions.md §6).
    public var json: JSON {
        var o: JSONObject = [
            "id": .string(id), "object": "chat.completion", "created": .int(created), "model": .string(model),
        ]
        if let fp = systemFingerprint { o["system_fingerprint"] = .string(fp) }
        o["choices"] = .array(
            choices.map { c in
                var m: JSONObject = ["role": "assistant", "content": c.content.map(JSON.string) ?? .null]
                if !c.toolCalls.isEmpty {
                    m["tool_calls"] = .array(
                        c.toolCalls.map { t in
                            [
                                "id": .string(t.id), "type": "function",
                                "function": ["name": .string(t.name), "arguments": .string(t.arguments)],
                            ]
                        })
                }
                m["refusal"] = c.refusal.map(JSON.string) ?? .null
                return .object([
                    "index": .int(c.index), "message": .object(m), "logprobs": c.logprobs ?? .null,
                    "finish_reason": c.finishReason.map { .string($0.rawValue) } ?? .null,
                ])
            })
        if let u = usage { o["usage"] = u.json }
        return .object(o)
    }
}

extension ChatResponse {
    /// `json.serialized()` without building the tree: the same bytes, written straight out (the
    /// non-streaming answer of every translated request goes through here).
    public func serialized() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(320 + choices.reduce(0) { $0 + ($1.content?.utf8.count ?? 0) })
        JSON.writeLiteral(#"{"id":"#, to: &out)
        JSON.writeString(id, to: &out)
        JSON.writeLiteral(#","object":"chat.completion","created":"#, to: &out)
        JSON.writeInt(created, to: &out)
        JSON.writeLiteral(#","model":"#, to: &out)
        JSON.writeString(model, to: &out)
        if let fp = systemFingerprint {
            JSON.writeLiteral(#","system_fingerprint":"#, to: &out)
            JSON.writeString(fp, to: &out)
        }
        JSON.writeLiteral(#","choices":["#, to: &out)
        for (i, c) in choices.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            JSON.writeLiteral(#"{"index":"#, to: &out)
            JSON.writeInt(c.index, to: &out)
            JSON.writeLiteral(#","message":{"role":"assistant","content":"#, to: &out)
            Self.writeOptional(c.content, to: &out)
            if !c.toolCalls.isEmpty {
                JSON.writeLiteral(#","tool_calls":["#, to: &out)
                for (j, t) in c.toolCalls.enumerated() {
                    if j > 0 { out.append(UInt8(ascii: ",")) }
                    JSON.writeLiteral(#"{"id":"#, to: &out)
                    JSON.writeString(t.id, to: &out)
                    JSON.writeLiteral(#","type":"function","function":{"name":"#, to: &out)
                    JSON.writeString(t.name, to: &out)
                    JSON.writeLiteral(#","arguments":"#, to: &out)
                    JSON.writeString(t.arguments, to: &out)
                    JSON.writeLiteral("}}", to: &out)
                }
                out.append(UInt8(ascii: "]"))
            }
            JSON.writeLiteral(#","refusal":"#, to: &out)
            Self.writeOptional(c.refusal, to: &out)
            JSON.writeLiteral(#"},"logprobs":"#, to: &out)
            if let logprobs = c.logprobs { logprobs.write(to: &out) } else { JSON.writeLiteral("null", to: &out) }
            JSON.writeLiteral(#","finish_reason":"#, to: &out)
            Self.writeOptional(c.finishReason?.rawValue, to: &out)
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "]"))
        if let u = usage {
            JSON.writeLiteral(#","usage":"#, to: &out)
            u.write(to: &out)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    private static func writeOptional(_ s: String?, to out: inout [UInt8]) {
        if let s { JSON.writeString(s, to: &out) } else { JSON.writeLiteral("null", to: &out) }
    }
}
