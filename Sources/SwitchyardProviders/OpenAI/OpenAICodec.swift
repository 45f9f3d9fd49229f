import Glibc
public import SwitchyardCore

/// OpenAI upstream. A request arriving as Chat Completions is a passthrough: the body reaches the
/// upstream with only `model` replaced (and, for streams, `stream_options.include_usage` forced on
/// so every request is metered, docs/translation.md §7.3); answers and chunks are forwarded as received.
/// A Responses request goes to the provider's `/responses` the same way when the target's
/// `responsesMode` is `native`; otherwise (and for any other origin) the request is translated to
/// Chat Completions from its typed fields and the answer decoded into the unified form, with no
/// passthrough bytes (`OpenAICodec+Wire.swift`).
public struct OpenAICodec: ProviderCodec {
    public init() {}

    /// The headers of a JSON body, one array for every request rather than one each.
    static let jsonHeaders = [HeaderField("Content-Type", "application/json")]
    static let chatPath = "/chat/completions"

    public func usualRequest(model: String, stream: Bool) -> UsualRequest? {
        UsualRequest(path: Self.chatPath, headers: Self.jsonHeaders)
    }

    public var kind: ProviderKind { .openai }
    public var healthPath: String { "/models" }

    public func authHeaders(apiKey: String) -> [HeaderField] { [HeaderField("Authorization", "Bearer " + apiKey)] }

    public func encode(_ request: ChatRequest, for target: TargetContext) throws(APIError) -> EncodedRequest {
        switch Wire(request.origin, target.responsesMode) {
        case .chatPassthrough: break
        case .responsesPassthrough: return encodeResponsesPassthrough(request, for: target)
        case .chatTranslated: return try encodeTranslated(request, for: target)
        }
        if !request.continuesFinalMessage, let bytes = request.rawBytes,
            let body = Self.splicedPassthroughBody(
                bytes, layout: request.rawLayout, model: target.upstreamModel, stream: request.stream)
        {
            return EncodedRequest(path: Self.chatPath, headers: Self.jsonHeaders, body: body)
        }
        var body = request.raw
        body["model"] = .string(target.upstreamModel)
        if request.stream {
            var options = body["stream_options"]?.objectValue ?? JSONObject()
            options["include_usage"] = true
            body["stream_options"] = .object(options)
        }
        if request.continuesFinalMessage { Self.flagContinuation(&body, target.continuation) }
        return EncodedRequest(path: Self.chatPath, headers: Self.jsonHeaders, body: body.serialized())
    }

    /// Writes how an OpenAI-compatible server is asked to continue the final assistant message
    /// instead of answering it with a new turn: vLLM's body flags (`add_generation_prompt: false`
    /// as well, since vLLM refuses both at once), or DeepSeek's and Mistral's `prefix` on the
    /// message. `prefill` servers (llama.cpp, Ollama) need nothing beyond the message itself.
    static func flagContinuation(_ body: inout JSONObject, _ mode: ContinuationMode) {
        switch mode {
        case .continueFinalMessage:
            body["continue_final_message"] = true
            body["add_generation_prompt"] = false
        case .prefix:
            guard case .array(var messages)? = body["messages"], case .object(var last)? = messages.last else { return }
            last["prefix"] = true
            messages[messages.count - 1] = .object(last)
            body["messages"] = .array(messages)
        case .prefill, .unsupported:
            break
        }
    }

    public func decodeResponse(
        _ body: [UInt8], request: ChatRequest, target: TargetContext, id: String, created: Int
    ) throws(ProviderError) -> DecodedResponse {
        let wire = Wire(request.origin, target.responsesMode)
        if wire == .responsesPassthrough {
            return try decodeResponsesPassthrough(body, target: target, created: created)
        }
        if wire == .chatPassthrough {
            guard let answer = Self.passthroughAnswer(body, request: request, target: target, id: id, created: created)
            else { throw Self.notAChatCompletion }
            return answer
        }
        return DecodedResponse(response: try decodeChatCompletion(body, target: target, id: id, created: created))
    }

    static let notAChatCompletion = ProviderError(
        kind: .malformedResponse, status: 200, message: "The upstream answer was not a chat completion.")

    /// A `chat.completion` body in unified form.
    func decodeChatCompletion(
        _ body: [UInt8], target: TargetContext, id: String, created: Int
    ) throws(ProviderError) -> ChatResponse {
        guard let json = try? JSON.parse(body), case .object(let o) = json, let choices = o["choices"]?.arrayValue
        else { throw Self.notAChatCompletion }
        var parsed: [ChatChoice] = []
        for (i, c) in choices.enumerated() {
            let m = c["message"]
            var calls: [ToolCall] = []
            for t in m?["tool_calls"]?.arrayValue ?? [] {
                calls.append(
                    ToolCall(
                        id: t["id"]?.stringValue ?? "", name: t["function"]?["name"]?.stringValue ?? "",
                        arguments: t["function"]?["arguments"]?.stringValue ?? ""))
            }
            parsed.append(
                ChatChoice(
                    index: c["index"]?.intValue ?? i, content: m?["content"]?.stringValue, toolCalls: calls,
                    refusal: m?["refusal"]?.stringValue,
                    finishReason: c["finish_reason"]?.stringValue.flatMap(FinishReason.init(rawValue:))))
        }
        let response = ChatResponse(
            id: o["id"]?.stringValue ?? id, created: o["created"]?.intValue ?? created,
            model: o["model"]?.stringValue ?? target.upstreamModel, choices: parsed, usage: Usage(openAI: o["usage"]),
            systemFingerprint: o["system_fingerprint"]?.stringValue)
        return response
    }

    public func decodeError(status: Int, headers: [HeaderField], body: [UInt8]) -> ProviderError {
        let json = try? JSON.parse(body)
        let e = json?["error"]
        let type = e?["type"]?.stringValue
        let code = e?["code"]?.stringValue
        let message = e?["message"]?.stringValue ?? "HTTP \(status) from upstream"
        let kind: ProviderError.Kind
        switch status {
        case 400:
            if code == "context_length_exceeded" {
                kind = .contextLengthExceeded
            } else if code == "content_policy_violation" || code == "content_filter" {
                kind = .contentPolicy
            } else {
                kind = .badRequest
            }
        case 401: kind = .authentication
        case 402: kind = .billing
        case 403: kind = .permissionDenied
        case 404: kind = .notFound
        case 408: kind = .requestTimeout
        case 409: kind = .conflict
        case 413: kind = .requestTooLarge
        case 422: kind = .unprocessable
        case 429: kind = (code == "insufficient_quota" || type == "insufficient_quota") ? .quotaExhausted : .rateLimited
        case 503: kind = .overloaded
        case 504: kind = .gatewayTimeout
        case 500...599: kind = .serverError
        case 400...499: kind = .badRequest
        default: kind = .other
        }
        let credential = kind == .authentication || kind == .permissionDenied
        return ProviderError(
            kind: kind, status: status, providerType: type, providerCode: code, message: credential ? "" : message,
            param: e?["param"]?.stringValue, shouldRetry: headers.value(for: "x-should-retry").map { $0 == "true" },
            passthroughBody: credential ? nil : json)
    }

    public func makeStreamDecoder(request: ChatRequest, target: TargetContext) -> any StreamDecoder {
        switch Wire(request.origin, target.responsesMode) {
        case .chatPassthrough: OpenAIStreamDecoder()
        case .responsesPassthrough: OpenAIResponsesStreamDecoder()
        case .chatTranslated: OpenAIStreamDecoder(keepRaw: false)
        }
    }
}

/// Reads OpenAI chunks for bookkeeping (finish reasons, usage, text) and hands each one on
/// as `raw` for the passthrough.
public struct OpenAIStreamDecoder: SSEStreamDecoder {
    public var sse = SSEParser()
    /// Choices seen, and those with a finish reason: indexes 0..<64 as bits (a set insert per
    /// chunk was 0.6% of a short streamed answer), any other in the sets.
    private var openBits: UInt64 = 0
    private var finishedBits: UInt64 = 0
    private var open: Set<Int> = []
    private var finished: Set<Int> = []
    /// Hand each chunk on as `raw` (a Chat Completions client gets it as it came); false when the
    /// chat stream answers a request of another origin, which the gateway re-encodes from deltas.
    private let keepRaw: Bool
    public private(set) var malformedEvents = 0
    /// The bytes of a chunk before its first member `skim` keeps (`choices`, `usage` or `error`):
    /// the id, object, created, model and fingerprint members, the same in every chunk of an
    /// OpenAI stream. A later chunk that begins with the same bytes is read from that member on,
    /// those bytes having been checked once (they were two fifths of every chunk's reading).
    private var knownPrefix: [UInt8] = []

    public init(keepRaw: Bool = true) { self.keepRaw = keepRaw }

    public var isComplete: Bool {
        (finishedBits != 0 || !finished.isEmpty) && openBits & ~finishedBits == 0 && open.isSubset(of: finished)
    }

    private mutating func saw(_ d: ChoiceDelta) {
        guard (0..<64).contains(d.index) else {
            open.insert(d.index)
            if d.finishReason != nil { finished.insert(d.index) }
            return
        }
        openBits |= 1 << d.index
        if d.finishReason != nil { finishedBits |= 1 << d.index }
    }

    /// One chunk. It is read in one pass (checked, `error`, `choices` and `usage` located, and a
    /// single choice without tool calls read on the way, `readChoices`) and only the values
    /// wanted are parsed; a passthrough forwards the chunk's own bytes. Text that is not valid
    /// UTF-8 takes the old way, through a repaired `String`, so such chunks are read as before.
    public mutating func decode(_ m: SSEMessage, into out: inout [StreamEvent]) {
        if m.dataIs("[DONE]") {
            out.append(.done)
            return
        }
        let bytes = m.bytes
        var chunk = Skim()
        // An event of several `data:` lines holds the line feeds that joined them: forwarded as
        // they are, they would end the client's `data:` line early and it would drop the chunk.
        // Such a chunk takes the tree's way and is forwarded serialised, on one line.
        let oneLine = bytes.withUnsafeBufferPointer { b in
            guard let base = b.baseAddress else { return true }
            return memchr(base, 0x0A, b.count) == nil
        }
        let isObject =
            oneLine
            && bytes.withUnsafeBufferPointer { b in
                (try? Self.skim(b, into: &chunk, knownPrefix: &knownPrefix)) ?? false
            }
        if isObject, chunk.error == nil, chunk.usage == nil, let choice = chunk.choice {
            // Nearly every chunk: one choice, read, and nothing else to parse.
            let delta = bytes.withUnsafeBufferPointer { choice.delta(in: $0) }
            saw(delta)
            out.append(.choices([delta], raw: keepRaw ? RawChunk(bytes: bytes) : nil))
            return
        }
        let raw: RawChunk
        let error: JSON?
        let choicesValue: JSON?
        var skimmedDeltas: [ChoiceDelta]?
        let usageValue: JSON?
        if isObject {
            raw = RawChunk(bytes: bytes)
            (error, choicesValue, usageValue) = bytes.withUnsafeBufferPointer { b in
                func value(_ range: Range<Int>?) -> JSON? {
                    range.flatMap { try? JSON.parse(UnsafeBufferPointer(rebasing: b[$0])) }
                }
                let error = value(chunk.error)
                if error == nil, let choice = chunk.choice { skimmedDeltas = [choice.delta(in: b)] }
                return (error, skimmedDeltas == nil ? value(chunk.choices) : nil, value(chunk.usage))
            }
        } else {
            guard let json = try? JSON.parse(m.data), case .object(let o) = json else {
                malformedEvents += 1
                return
            }
            raw = RawChunk(o)
            (error, choicesValue, usageValue) = (o["error"], o["choices"], o["usage"])
        }
        if let e = error, case .object = e {
            let codec = OpenAICodec()
            var err = codec.decodeError(status: 500, headers: [], body: Array(bytes))
            err.status = 200
            if e["type"]?.stringValue == "rate_limit_error" { err.kind = .rateLimited }
            out.append(.error(err))
            return
        }
        let deltas = skimmedDeltas ?? (choicesValue?.arrayValue ?? []).map(Self.delta(of:))
        if !deltas.isEmpty {
            for d in deltas { saw(d) }
            out.append(.choices(deltas, raw: keepRaw ? raw : nil))
        }
        if let usage = Usage(openAI: usageValue) {
            out.append(.usage(usage, raw: deltas.isEmpty && keepRaw ? raw : nil))
        }
    }

    /// One element of `choices` read from its parsed value.
    static func delta(of c: JSON) -> ChoiceDelta {
        let d = c["delta"]
        var delta = ChoiceDelta(
            index: c["index"]?.intValue ?? 0, role: d?["role"] != nil, content: d?["content"]?.stringValue)
        delta.refusal = d?["refusal"]?.stringValue
        for t in d?["tool_calls"]?.arrayValue ?? [] {
            delta.toolCalls.append(
                ToolCallDelta(
                    index: t["index"]?.intValue ?? 0, id: t["id"]?.stringValue,
                    name: t["function"]?["name"]?.stringValue,
                    arguments: t["function"]?["arguments"]?.stringValue))
        }
        if let f = c["finish_reason"]?.stringValue { delta.finishReason = FinishReason(rawValue: f) ?? .stop }
        return delta
    }

    /// Where a chunk's members are, as `JSON.parse` would keep them (the last occurrence of
    /// each), and where the values of its one choice are when `readChoices` could read them on
    /// the way. Positions only: nothing in it is counted or copied.
    struct Skim {
        var error: Range<Int>?
        var choices: Range<Int>?
        var usage: Range<Int>?
        var choice: ChoiceSkim?
    }

    /// Where the values a `ChoiceDelta` keeps are in a choice object's text.
    struct ChoiceSkim {
        var index: Range<Int>?
        var finishReason: Range<Int>?
        var role = false
        var content: Range<Int>?
        var refusal: Range<Int>?

        /// The delta, its values read as `delta(of:)` reads them from the parsed choice.
        /// Built by one initialiser call: setting fields of a built delta copied it (a retain and a
        /// release of each field, 2% of `switchyard-bench stream-decode`).
        func delta(in b: UnsafeBufferPointer<UInt8>) -> ChoiceDelta {
            func value(_ range: Range<Int>?) -> Scalar { b.scalar(at: range) }
            let finish = value(finishReason).stringValue.map { FinishReason(rawValue: $0) ?? .stop }
            return ChoiceDelta(
                index: value(index).intValue ?? 0, role: role, content: value(content).stringValue,
                refusal: value(refusal).stringValue, finishReason: finish)
        }
    }

    /// Reads a chunk's text in one pass into `chunk`; false when it is valid JSON but not an
    /// object, and throws when it is not JSON. A text that begins with `knownPrefix` (bytes of an
    /// earlier chunk before its first kept member) is read from there on; the first chunk read
    /// in full that has a kept member sets `knownPrefix` (once: a copy per stream).
    static func skim(
        _ b: UnsafeBufferPointer<UInt8>, into chunk: inout Skim, knownPrefix: inout [UInt8]
    ) throws(JSONParseError) -> Bool {
        var reader: JSONReader
        var object: JSONReader.Container
        // Where the first kept member begins, looked for while no prefix is known.
        var looking = knownPrefix.isEmpty
        var firstKept: Int?
        if let base = b.baseAddress, !knownPrefix.isEmpty, b.count > knownPrefix.count,
            knownPrefix.withUnsafeBufferPointer({ memcmp(base, $0.baseAddress!, $0.count) == 0 })
        {
            (reader, object) = JSONReader.resumingObject(b, atMember: knownPrefix.count)
        } else {
            reader = JSONReader(b)
            guard reader.next == UInt8(ascii: "{") else {
                try reader.skipValue(depth: 0)
                try reader.finish()
                return false
            }
            object = try reader.open(depth: 1)
        }
        while let key = try reader.nextKey(&object) {
            let start = reader.index
            if looking, key.named("choices", in: b) || key.named("usage", in: b) || key.named("error", in: b) {
                firstKept = key.text.lowerBound - 1
                looking = false
            }
            if key.named("choices", in: b) {
                chunk.choice = try readChoices(&reader, depth: object.depth)
                chunk.choices = start..<reader.index
            } else {
                try reader.skipValue(depth: object.depth)
                if key.named("usage", in: b) {
                    chunk.usage = start..<reader.index
                } else if key.named("error", in: b) {
                    chunk.error = start..<reader.index
                }
            }
        }
        try reader.finish()
        if let cut = firstKept { knownPrefix = Array(b[..<cut]) }
        return true
    }

    /// The delta of a `choices` array holding exactly one object whose `delta` is an object
    /// without `tool_calls` (nearly every chunk), read from the array's text: only the values the
    /// delta keeps are parsed, so no tree of the choice is built (it was the largest cost of a
    /// forwarded stream). nil for any other shape (or text that is not JSON), which `delta(of:)`
    /// reads from the parsed array; both read a member's last occurrence, as `JSON.parse` does,
    /// so they agree.
    static func skimmedChoice(_ b: UnsafeBufferPointer<UInt8>) -> ChoiceDelta? {
        var reader = JSONReader(b)
        do throws(JSONParseError) {
            let choice = try readChoices(&reader, depth: 0)
            try reader.finish()
            return choice?.delta(in: b)
        } catch {
            return nil
        }
    }

    /// Where `skimmedChoice`'s values are in the value at `reader` (a member of a container
    /// `depth` deep), which it passes over, checked, whatever its shape.
    static func readChoices(_ reader: inout JSONReader, depth: Int) throws(JSONParseError) -> ChoiceSkim? {
        guard reader.next == UInt8(ascii: "[") else {
            try reader.skipValue(depth: depth)
            return nil
        }
        var array = try reader.open(depth: depth + 1)
        var choice: ChoiceSkim?
        var count = 0
        while try reader.nextElement(&array) {
            count += 1
            if count == 1, reader.next == UInt8(ascii: "{") {
                choice = try readChoice(&reader, depth: array.depth)
            } else {
                try reader.skipValue(depth: array.depth)
            }
        }
        return count == 1 ? choice : nil
    }

    /// One choice object (at `reader`); nil when its last `delta` is not an object or has
    /// `tool_calls`.
    private static func readChoice(_ reader: inout JSONReader, depth: Int) throws(JSONParseError) -> ChoiceSkim? {
        let b = reader.bytes
        var object = try reader.open(depth: depth + 1)
        var choice = ChoiceSkim()
        var readable = true
        while let key = try reader.nextKey(&object) {
            let start = reader.index
            if key.named("delta", in: b) {
                // The last `delta` counts: what an earlier one said is forgotten.
                (choice.role, choice.content, choice.refusal) = (false, nil, nil)
                readable = try readDelta(&reader, depth: object.depth, into: &choice)
            } else {
                try reader.skipValue(depth: object.depth)
                if key.named("index", in: b) {
                    choice.index = start..<reader.index
                } else if key.named("finish_reason", in: b) {
                    choice.finishReason = start..<reader.index
                }
            }
        }
        return readable ? choice : nil
    }

    /// A `delta` value (at `reader`): where its `content` and `refusal` are and whether it has a
    /// `role`; false when it is not an object or has `tool_calls`.
    private static func readDelta(
        _ reader: inout JSONReader, depth: Int, into choice: inout ChoiceSkim
    ) throws(JSONParseError) -> Bool {
        guard reader.next == UInt8(ascii: "{") else {
            try reader.skipValue(depth: depth)
            return false
        }
        let b = reader.bytes
        var object = try reader.open(depth: depth + 1)
        var toolCalls = false
        while let key = try reader.nextKey(&object) {
            let start = reader.index
            try reader.skipValue(depth: object.depth)
            if key.named("content", in: b) {
                choice.content = start..<reader.index
            } else if key.named("role", in: b) {
                choice.role = true
            } else if key.named("refusal", in: b) {
                choice.refusal = start..<reader.index
            } else if key.named("tool_calls", in: b) {
                toolCalls = true
            }
        }
        return !toolCalls
    }

    /// A checked member value read as `JSON.parse(text)?.stringValue` / `.intValue` would read
    /// it, without that call's copy of the bytes for the usual cases (a string without escapes,
    /// a short integer); anything else goes through `JSON.parse`.
    struct Scalar {
        let text: UnsafeBufferPointer<UInt8>?

        init(_ text: UnsafeBufferPointer<UInt8>?) { self.text = text }

        var stringValue: String? {
            guard let text, text.count >= 2, text[0] == UInt8(ascii: "\"") else { return nil }
            let inner = UnsafeBufferPointer(rebasing: text[1..<(text.count - 1)])
            if !inner.contains(UInt8(ascii: "\\")) { return String(decoding: inner, as: UTF8.self) }
            return (try? JSON.parse(text))?.stringValue
        }

        var intValue: Int? {
            guard let text, let first = text.first,
                first == UInt8(ascii: "-") || (first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9"))
            else { return nil }
            let negative = first == UInt8(ascii: "-")
            let digits = UnsafeBufferPointer(rebasing: text[(negative ? 1 : 0)...])
            if !digits.isEmpty, digits.count <= 18,
                digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
            {
                let n = digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
                return negative ? -n : n
            }
            return (try? JSON.parse(text))?.intValue
        }
    }
}

extension UnsafeBufferPointer<UInt8> {
    /// The checked value at `range` of these bytes (absent for nil), as the skims of translated
    /// answers and the skimmed stream delta read their members.
    func scalar(at range: Range<Int>?) -> OpenAIStreamDecoder.Scalar {
        OpenAIStreamDecoder.Scalar(range.map { UnsafeBufferPointer(rebasing: self[$0]) })
    }
}
