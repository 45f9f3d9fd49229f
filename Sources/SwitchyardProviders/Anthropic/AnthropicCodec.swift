public import SwitchyardCore

/// Anthropic Messages API codec (`POST /v1/messages`), translating OpenAI Chat requests and
/// answers by the rules of docs/translation.md §1–§8. A request that arrived as Anthropic
/// Messages is not translated: its body goes out with only `model` replaced and the answer comes
/// back as sent (`AnthropicCodec+Native.swift`).
///
/// Pure: every decision is a function of the request, the ``TargetContext`` and the bytes
/// received, so each rule is tested from recorded payloads (`Fixtures/anthropic/`).
public struct AnthropicCodec: ProviderCodec {
    /// The `anthropic-version` header value the official SDK pins.
    public static let apiVersion = "2023-06-01"

    public init() {}

    /// A translated request's path and headers, one array for every request rather than one each;
    /// as the codec's usual request, a target joins them with its URL and own headers once
    /// (`ProviderCodec.usualRequest(model:stream:)`): building the URL string and the merged header list per
    /// attempt was 0.2 us of a translated request, `switchyard-bench gateway --provider anthropic`.
    static let messagesPath = "/v1/messages"
    static let jsonHeaders = [HeaderField("Content-Type", "application/json")]

    public func usualRequest(model: String, stream: Bool) -> UsualRequest? {
        UsualRequest(path: Self.messagesPath, headers: Self.jsonHeaders)
    }

    public var kind: ProviderKind { .anthropic }
    public var healthPath: String { "/v1/models" }

    public func authHeaders(apiKey: String) -> [HeaderField] {
        [HeaderField("x-api-key", apiKey), HeaderField("anthropic-version", Self.apiVersion)]
    }

    public func encode(_ request: ChatRequest, for target: TargetContext) throws(APIError) -> EncodedRequest {
        if request.origin == .anthropicMessages { return encodeNative(request, for: target) }
        if request.countsTokens {
            throw .unsupportedParameter(
                "count_tokens", provider: target.providerName,
                detail: "Token counting is only forwarded for Anthropic Messages requests.")
        }
        if let e = request.untranslatableError(provider: target.providerName) { throw e }
        let encoder = AnthropicRequestEncoder(request: request, target: target)
        let body: [UInt8]
        if let plain = try encoder.plainBody() { body = plain } else { body = try encoder.body().serialized() }
        return EncodedRequest(path: Self.messagesPath, headers: Self.jsonHeaders, body: body)
    }

    public func decodeResponse(
        _ body: [UInt8], request: ChatRequest, target: TargetContext, id: String, created: Int
    ) throws(ProviderError) -> DecodedResponse {
        if request.origin == .anthropicMessages {
            return try decodeNative(body, request: request, target: target, id: id, created: created)
        }
        let decoder = AnthropicResponseDecoder(
            forcedJSON: AnthropicJSONMode.usesForcedTool(request: request, target: target))
        return DecodedResponse(response: try decoder.decode(body, target: target, id: id, created: created))
    }

    public func decodeError(status: Int, headers: [HeaderField], body: [UInt8]) -> ProviderError {
        AnthropicErrorMapping.providerError(status: status, headers: headers, body: body)
    }

    public func makeStreamDecoder(request: ChatRequest, target: TargetContext) -> any StreamDecoder {
        if request.origin == .anthropicMessages { return AnthropicStreamDecoder(keepRaw: true) }
        return AnthropicStreamDecoder(forcedJSON: AnthropicJSONMode.usesForcedTool(request: request, target: target))
    }
}
