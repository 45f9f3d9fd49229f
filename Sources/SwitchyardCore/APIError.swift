/// An error as the client sees it: an HTTP status and OpenAI's error envelope
/// `{"error":{"message","type","param","code"}}` (docs/chat-completions.md §8).
///
/// The status decides which exception the official SDKs raise (400 `BadRequestError`,
/// 401 `AuthenticationError`, 404 `NotFoundError`, 429 `RateLimitError`, ≥500
/// `InternalServerError`), so every layer maps its failures here exactly once, in the gateway.
public struct APIError: Error, Sendable, Equatable {
    public var status: Int
    public var type: String
    public var code: String?
    public var message: String
    public var param: String?
    /// Whole seconds for a `Retry-After` header (429/503), when known.
    public var retryAfterSeconds: Int?
    /// Value for `x-should-retry`; `false` once Switchyard already retried and another try cannot help.
    public var shouldRetry: Bool?

    public init(
        status: Int, type: String, code: String?, message: String, param: String? = nil,
        retryAfterSeconds: Int? = nil, shouldRetry: Bool? = nil
    ) {
        self.status = status
        self.type = type
        self.code = code
        self.message = message
        self.param = param
        self.retryAfterSeconds = retryAfterSeconds
        self.shouldRetry = shouldRetry
    }

    /// The `{"error": {...}}` object.
    public var envelope: JSON {
        .object([
            "error": .object([
                "message": .string(message),
                "type": .string(type),
                "param": param.map(JSON.string) ?? .null,
                "code": code.map(JSON.string) ?? .null,
            ])
        ])
    }

    public var body: [UInt8] { envelope.serialized() }

    // MARK: Common errors

    /// 400 with `type: invalid_request_error`; `param` names the offending field.
    public static func invalidRequest(_ message: String, param: String? = nil, code: String? = nil) -> APIError {
        APIError(status: 400, type: "invalid_request_error", code: code, message: message, param: param)
    }

    /// 400 for a parameter a provider cannot honour (docs/translation.md §9.1).
    public static func unsupportedParameter(_ param: String, provider: String, detail: String? = nil) -> APIError {
        let text = detail ?? "\(param) is not supported by \(provider) models"
        return APIError(
            status: 400, type: "invalid_request_error", code: "unsupported_parameter", message: text, param: param)
    }

    /// 400 for a value a provider cannot use.
    public static func unsupportedValue(_ param: String, _ message: String) -> APIError {
        APIError(status: 400, type: "invalid_request_error", code: "unsupported_value", message: message, param: param)
    }

    public static func modelNotFound(_ model: String) -> APIError {
        APIError(
            status: 404, type: "invalid_request_error", code: "model_not_found",
            message: "The model `\(model)` does not exist or is not configured on this gateway.", param: "model")
    }

    public static func notFound(_ message: String) -> APIError {
        APIError(status: 404, type: "invalid_request_error", code: "not_found", message: message)
    }

    public static let invalidAPIKey = APIError(
        status: 401, type: "invalid_request_error", code: "invalid_api_key",
        message: "Incorrect or missing API key. Send it as `Authorization: Bearer <key>`.")

    public static func internalError(_ message: String = "Internal gateway error.") -> APIError {
        APIError(status: 500, type: "server_error", code: "internal_error", message: message)
    }
}
