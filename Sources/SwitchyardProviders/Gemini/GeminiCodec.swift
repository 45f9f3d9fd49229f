public import SwitchyardCore

/// Gemini Developer API `generateContent` codec; the rules are docs/translation.md's.
///
/// Pure: no I/O, clocks or randomness. Tool-call ids Gemini leaves out are derived from
/// `TargetContext.idSeed` (docs/translation.md §5), so the caller controls their uniqueness.
public struct GeminiCodec: ProviderCodec {
    public init() {}

    /// The headers of a JSON body, one array for every request rather than one each.
    static let jsonHeaders = [HeaderField("Content-Type", "application/json")]

    public var kind: ProviderKind { .gemini }
    public var synthesizesIDs: Bool { true }
    public var healthPath: String { "/v1beta/models" }

    public func authHeaders(apiKey: String) -> [HeaderField] { [HeaderField("x-goog-api-key", apiKey)] }

    /// `POST /v1beta/models/{model}:generateContent`, or `:streamGenerateContent?alt=sse` for streams.
    public func encode(_ request: ChatRequest, for target: TargetContext) throws(APIError) -> EncodedRequest {
        if let e = request.untranslatableError(provider: target.providerName) { throw e }
        if request.countsTokens {
            throw .unsupportedParameter(
                "count_tokens", provider: target.providerName,
                detail: "Token counting is only forwarded to Anthropic targets.")
        }
        let encoder = GeminiRequestEncoder(request: request, model: target.upstreamModel)
        let body: [UInt8]
        if let plain = try encoder.plainBody() { body = plain } else { body = try encoder.body().serialized() }
        let usual = Self.chatRequest(model: target.upstreamModel, stream: request.stream)
        return EncodedRequest(path: usual.path, query: usual.query, headers: usual.headers, body: body)
    }

    /// Every chat request's path, query and headers: the model is in the path, so a target keeps
    /// its URL and merged headers per model and stream flag (building them per attempt was
    /// 0.2 us of a translated request, `switchyard-bench gateway --provider gemini`).
    public func usualRequest(model: String, stream: Bool) -> UsualRequest? {
        Self.chatRequest(model: model, stream: stream)
    }

    static func chatRequest(model: String, stream: Bool) -> UsualRequest {
        UsualRequest(
            path: chatPath(model: model, stream: stream), query: stream ? "alt=sse" : "", headers: Self.jsonHeaders)
    }

    /// `/v1beta/models/{model without a models/ prefix}:{method}`, written into one string of its
    /// size (interpolated, the string grew and the model was sliced, 0.04 us of every request).
    static func chatPath(model: String, stream: Bool) -> String {
        let head: StaticString = "/v1beta/models/"
        let method: StaticString = stream ? ":streamGenerateContent" : ":generateContent"
        // The prefix's seven characters are seven ASCII bytes when it is there.
        let skip = model.hasPrefix("models/") ? 7 : 0
        var model = model
        return model.withUTF8 { utf8 in
            let name = UnsafeBufferPointer(rebasing: utf8[skip...])
            let count = head.utf8CodeUnitCount + name.count + method.utf8CodeUnitCount
            return String(unsafeUninitializedCapacity: count) { out in
                var at = out.baseAddress!
                at.initialize(from: head.utf8Start, count: head.utf8CodeUnitCount)
                at += head.utf8CodeUnitCount
                if let base = name.baseAddress { at.initialize(from: base, count: name.count) }
                at += name.count
                at.initialize(from: method.utf8Start, count: method.utf8CodeUnitCount)
                return count
            }
        }
    }

    public func decodeResponse(
        _ body: [UInt8], request: ChatRequest, target: TargetContext, id: String, created: Int
    ) throws(ProviderError) -> DecodedResponse {
        if let response = GeminiResponseDecoder.skimmed(body, target: target, id: id, created: created) {
            return DecodedResponse(response: response)
        }
        return DecodedResponse(response: try decodeTree(body, target: target, id: id, created: created))
    }

    /// The whole answer parsed into a tree and read from it: every shape.
    func decodeTree(
        _ body: [UInt8], target: TargetContext, id: String, created: Int
    ) throws(ProviderError) -> ChatResponse {
        guard let json = try? JSON.parse(body) else {
            throw ProviderError(kind: .malformedResponse, status: 200, message: "The upstream answer was not JSON.")
        }
        if let e = GeminiErrorDecoder.unwrap(json), case .object = e {
            throw GeminiErrorDecoder.decode(status: e["code"]?.intValue ?? 500, error: e)
        }
        guard case .object(let o) = json, let choices = GeminiResponseDecoder.choices(o, seed: target.idSeed) else {
            throw ProviderError(
                kind: .malformedResponse, status: 200,
                message: "The upstream answer had neither candidates nor a block reason.")
        }
        return ChatResponse(
            id: id, created: created, model: o["modelVersion"]?.stringValue ?? target.upstreamModel, choices: choices,
            usage: GeminiResponseDecoder.usage(o["usageMetadata"]))
    }

    public func decodeError(status: Int, headers: [HeaderField], body: [UInt8]) -> ProviderError {
        GeminiErrorDecoder.decode(status: status, body: body)
    }

    public func makeStreamDecoder(request: ChatRequest, target: TargetContext) -> any StreamDecoder {
        GeminiStreamDecoder(idSeed: target.idSeed)
    }

    /// Request fields Gemini has no counterpart for and the encoder leaves out (docs/translation.md §1 "drop"),
    /// for the gateway to log at debug level and count.
    public static func droppedParameters(_ request: ChatRequest) -> [String] {
        let dropped = [
            "user", "safety_identifier", "parallel_tool_calls", "reasoning_effort", "metadata", "store", "service_tier",
            "prediction", "audio", "modalities", "web_search_options", "prompt_cache_key", "verbosity",
        ]
        return dropped.filter { request.raw[$0].map { !$0.isNull } == true }
    }
}
