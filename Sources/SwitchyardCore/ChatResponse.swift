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
    public func write(to out: inout [UInt8]) { write(into: &out) }

    func write<Sink: JSONSink>(into out: inout Sink) {
        out.write(#"{"prompt_tokens":"#)
        JSON.writeInt(promptTokens, into: &out)
        out.write(#","completion_tokens":"#)
        JSON.writeInt(completionTokens, into: &out)
        out.write(#","total_tokens":"#)
        JSON.writeInt(totalTokens, into: &out)
        if cachedTokens != nil || cacheWriteTokens != nil {
            out.write(#","prompt_tokens_details":{"#)
            if let c = cachedTokens {
                out.write(#""cached_tokens":"#)
                JSON.writeInt(c, into: &out)
            }
            if let w = cacheWriteTokens {
                if cachedTokens != nil { out.write(byte: UInt8(ascii: ",")) }
                out.write(#""cache_write_tokens":"#)
                JSON.writeInt(w, into: &out)
            }
            out.write(byte: UInt8(ascii: "}"))
        }
        if let r = reasoningTokens {
            out.write(#","completion_tokens_details":{"reasoning_tokens":"#)
            JSON.writeInt(r, into: &out)
            out.write(byte: UInt8(ascii: "}"))
        }
        out.write(byte: UInt8(ascii: "}"))
    }

    /// At least the bytes `write` writes: every literal (with details) and six numbers.
    static let writtenBound = 176 + 6 * BoundedWriter.intBound

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
    /// non-streaming answer of every translated request goes through here) by a `BoundedWriter`:
    /// up to 1 KiB into a scratch buffer on the stack, then copied into an array of their size;
    /// a longer answer straight into an array of its bound's capacity. (On the heap, the scratch
    /// buffer was a `posix_memalign` and `free` more, 0.05 us; an uninitialised array looks its
    /// storage type up at run time, 0.04 us.)
    public func serialized() -> [UInt8] {
        let bound = writtenBound
        if bound <= 1024 {
            return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 1024) { buffer in
                var out = BoundedWriter(buffer)
                write(into: &out)
                return Array(UnsafeBufferPointer(rebasing: buffer[..<out.count]))
            }
        }
        return [UInt8](unsafeUninitializedCapacity: bound) { buffer, count in
            var out = BoundedWriter(buffer)
            write(into: &out)
            count = out.count
        }
    }

    /// At least the bytes `write` writes: its literals with a number in each of its places
    /// (`BoundedWriter.intBound`), every string's escaped length (`BoundedWriter.bound(_:)`).
    var writtenBound: Int {
        var n = 128 + BoundedWriter.bound(id) + BoundedWriter.bound(model)
        if let fp = systemFingerprint { n += BoundedWriter.bound(fp) }
        for c in choices {
            n += 160
            if let content = c.content { n += BoundedWriter.bound(content) }
            if let refusal = c.refusal { n += BoundedWriter.bound(refusal) }
            if let logprobs = c.logprobs { n += logprobs.serialized().count }
            for t in c.toolCalls {
                n += 64 + BoundedWriter.bound(t.id) + BoundedWriter.bound(t.name) + BoundedWriter.bound(t.arguments)
            }
        }
        if usage != nil { n += Usage.writtenBound }
        return n
    }

    func write<Sink: JSONSink>(into out: inout Sink) {
        out.write(#"{"id":"#)
        JSON.writeString(id, into: &out)
        out.write(#","object":"chat.completion","created":"#)
        JSON.writeInt(created, into: &out)
        out.write(#","model":"#)
        JSON.writeString(model, into: &out)
        if let fp = systemFingerprint {
            out.write(#","system_fingerprint":"#)
            JSON.writeString(fp, into: &out)
        }
        out.write(#","choices":["#)
        for (i, c) in choices.enumerated() {
            if i > 0 { out.write(byte: UInt8(ascii: ",")) }
            out.write(#"{"index":"#)
            JSON.writeInt(c.index, into: &out)
            out.write(#","message":{"role":"assistant","content":"#)
            Self.writeOptional(c.content, into: &out)
            if !c.toolCalls.isEmpty {
                out.write(#","tool_calls":["#)
                for (j, t) in c.toolCalls.enumerated() {
                    if j > 0 { out.write(byte: UInt8(ascii: ",")) }
                    out.write(#"{"id":"#)
                    JSON.writeString(t.id, into: &out)
                    out.write(#","type":"function","function":{"name":"#)
                    JSON.writeString(t.name, into: &out)
                    out.write(#","arguments":"#)
                    JSON.writeString(t.arguments, into: &out)
                    out.write("}}")
                }
                out.write(byte: UInt8(ascii: "]"))
            }
            out.write(#","refusal":"#)
            Self.writeOptional(c.refusal, into: &out)
            out.write(#"},"logprobs":"#)
            if let logprobs = c.logprobs { out.write(json: logprobs) } else { out.write("null") }
            out.write(#","finish_reason":"#)
            if let reason = c.finishReason { Self.write(reason, into: &out) } else { out.write("null") }
            out.write(byte: UInt8(ascii: "}"))
        }
        out.write(byte: UInt8(ascii: "]"))
        if let u = usage {
            out.write(#","usage":"#)
            u.write(into: &out)
        }
        out.write(byte: UInt8(ascii: "}"))
    }

    private static func writeOptional<Sink: JSONSink>(_ s: String?, into out: inout Sink) {
        if let s { JSON.writeString(s, into: &out) } else { out.write("null") }
    }

    /// A finish reason's JSON string as a literal (its raw value has nothing to escape).
    private static func write<Sink: JSONSink>(_ reason: FinishReason, into out: inout Sink) {
        switch reason {
        case .stop: out.write(#""stop""#)
        case .length: out.write(#""length""#)
        case .toolCalls: out.write(#""tool_calls""#)
        case .contentFilter: out.write(#""content_filter""#)
        case .functionCall: out.write(#""function_call""#)
        }
    }
}
