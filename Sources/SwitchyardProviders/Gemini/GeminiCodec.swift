public import SwitchyardCore

/// Gemini generateContent codec (gemini-generate-content.md, mapping.md). Placeholder until the
/// translation lands: every request is refused with a clear error.
public struct GeminiCodec: ProviderCodec {
    public init() {}
    public var kind: ProviderKind { .gemini }
    public var healthPath: String { "/v1beta/models" }
    public func authHeaders(apiKey: String) -> [HeaderField] {
        [HeaderField("x-goog-api-key", apiKey)]
    }
    public func encode(_ request: ChatRequest, for target: TargetContext) throws(APIError) -> EncodedRequest {
        throw APIError(status: 501, type: "server_error", code: "not_implemented", message: "Gemini translation is not built yet.")
    }
    public func decodeResponse(
        _ body: [UInt8], request: ChatRequest, target: TargetContext, id: String, created: Int
    ) throws(ProviderError) -> DecodedResponse {
        throw ProviderError(kind: .malformedResponse, status: 200, message: "not implemented")
    }
    public func decodeError(status: Int, headers: [HeaderField], body: [UInt8]) -> ProviderError {
        ProviderError(kind: .other, status: status, message: "HTTP \(status)")
    }
    public func makeStreamDecoder(request: ChatRequest, target: TargetContext) -> any StreamDecoder { OpenAIStreamDecoder() }
}
