/// An error answer from an upstream provider, reduced to facts the router can classify and the
/// gateway can map (docs/translation.md §8): never the raw body, and never message text for credential
/// errors (upstream 401 texts can echo key fragments).
public struct ProviderError: Error, Sendable, Equatable {
    /// Normalised meaning, from status and provider type/code, never from message text.
    public enum Kind: String, Sendable, CaseIterable {
        case badRequest = "bad_request"
        case contextLengthExceeded = "context_length_exceeded"
        case contentPolicy = "content_policy"
        case authentication
        case permissionDenied = "permission_denied"
        case billing
        case preconditionFailed = "precondition_failed"
        case notFound = "not_found"
        case conflict
        case requestTooLarge = "request_too_large"
        case unprocessable
        case rateLimited = "rate_limited"
        /// Quota used up for the day/month (OpenAI `insufficient_quota`, Gemini per-day quota).
        case quotaExhausted = "quota_exhausted"
        case requestTimeout = "request_timeout"
        case serverError = "server_error"
        /// Anthropic 529 `overloaded_error`, Gemini 503 `UNAVAILABLE`.
        case overloaded
        case gatewayTimeout = "gateway_timeout"
        /// A 2xx whose body could not be decoded.
        case malformedResponse = "malformed_response"
        case other
    }

    public var kind: Kind
    /// Upstream HTTP status (200 for an error event inside a stream).
    public var status: Int
    /// The provider's own type or status string (`overloaded_error`, `RESOURCE_EXHAUSTED`).
    public var providerType: String?
    /// The provider's code when it has one (`context_length_exceeded`, `insufficient_quota`).
    public var providerCode: String?
    /// Safe-to-forward message; empty for credential errors.
    public var message: String
    public var param: String?
    /// Retry hint in seconds: the body's (Gemini `RetryInfo.retryDelay`), with the router folding
    /// in `Retry-After`. Whatever the upstream sent, it is finite and within
    /// `0...maximumRetryAfterSeconds` (a longer hint is cut to the maximum, a negative or NaN one
    /// dropped), so the waits, cooldowns and `Retry-After` values computed from it cannot
    /// overflow: `Retry-After: 1e30` used to trap converting to whole seconds.
    public var retryAfterSeconds: Double? {
        didSet { retryAfterSeconds = Self.bounded(retryAfterSeconds) }
    }

    /// The longest retry hint kept: one day (a per-day quota's reset). Cooldowns longer than that
    /// would only outlive the configuration they were computed for.
    public static let maximumRetryAfterSeconds = 86_400.0
    /// The upstream's `x-should-retry` header, when sent.
    public var shouldRetry: Bool?
    /// For OpenAI-kind upstreams: the error body as received, to pass through for client errors.
    public var passthroughBody: JSON?

    public init(
        kind: Kind, status: Int, providerType: String? = nil, providerCode: String? = nil, message: String,
        param: String? = nil, retryAfterSeconds: Double? = nil, shouldRetry: Bool? = nil, passthroughBody: JSON? = nil
    ) {
        self.kind = kind
        self.status = status
        self.providerType = providerType
        self.providerCode = providerCode
        self.message = message
        self.param = param
        self.retryAfterSeconds = Self.bounded(retryAfterSeconds)
        self.shouldRetry = shouldRetry
        self.passthroughBody = passthroughBody
    }
}

extension ProviderError {
    static func bounded(_ seconds: Double?) -> Double? {
        guard let seconds, seconds >= 0 else { return nil }  // also drops NaN
        return min(seconds, maximumRetryAfterSeconds)
    }

    /// The client-facing error (docs/translation.md §8 table): client faults keep their status,
    /// credential/config faults become 502 with a generic message, transient faults keep their family.
    public var apiError: APIError {
        switch kind {
        case .badRequest, .contextLengthExceeded, .contentPolicy:
            if let body = passthroughBody, let e = Self.apiError(fromEnvelope: body, status: status) { return e }
            return APIError(
                status: 400, type: "invalid_request_error",
                code: kind == .contextLengthExceeded
                    ? "context_length_exceeded" : (kind == .contentPolicy ? "content_policy_violation" : providerCode),
                message: message, param: param)
        case .authentication, .permissionDenied:
            return APIError(
                status: 502, type: "upstream_error", code: "upstream_auth_failed",
                message: "The upstream provider rejected the gateway's credentials.", shouldRetry: false)
        case .billing:
            return APIError(
                status: 502, type: "upstream_error", code: "upstream_billing",
                message: "The upstream provider refused the request for billing reasons.", shouldRetry: false)
        case .preconditionFailed:
            return APIError(
                status: 502, type: "upstream_error", code: "upstream_precondition_failed",
                message: "The upstream provider refused the request: \(message)", shouldRetry: false)
        case .notFound:
            return APIError(status: 404, type: "invalid_request_error", code: "model_not_found", message: message)
        case .conflict, .unprocessable:
            if let body = passthroughBody, let e = Self.apiError(fromEnvelope: body, status: status) { return e }
            return APIError(
                status: status, type: "invalid_request_error", code: providerCode, message: message, param: param)
        case .requestTooLarge:
            return APIError(status: 413, type: "invalid_request_error", code: "request_too_large", message: message)
        case .rateLimited:
            return APIError(
                status: 429, type: "rate_limit_error", code: "rate_limit_exceeded", message: message,
                retryAfterSeconds: retryAfterSeconds.map { max(1, Int($0.rounded(.up))) })
        case .quotaExhausted:
            // OpenAI's own `insufficient_quota` keeps its name; another provider's exhausted quota
            // (Gemini's per-day quota) is a rate limit that retrying soon will not lift (docs/translation.md §8).
            let openAI = providerType == "insufficient_quota" || providerCode == "insufficient_quota"
            return APIError(
                status: 429, type: openAI ? "insufficient_quota" : "rate_limit_error",
                code: openAI ? "insufficient_quota" : "quota_exceeded", message: message, shouldRetry: false)
        case .requestTimeout, .gatewayTimeout:
            return APIError(
                status: 504, type: "server_error", code: "upstream_timeout", message: "The upstream provider timed out."
            )
        case .overloaded:
            return APIError(
                status: 503, type: "server_error", code: "upstream_overloaded",
                message: "The upstream provider is overloaded.",
                retryAfterSeconds: retryAfterSeconds.map { max(1, Int($0.rounded(.up))) } ?? 1)
        case .serverError, .malformedResponse, .other:
            return APIError(
                status: status == 502 || status == 503 || status == 504 ? status : 502, type: "server_error",
                code: "upstream_error", message: "The upstream provider failed: \(message)")
        }
    }

    static func apiError(fromEnvelope body: JSON, status: Int) -> APIError? {
        guard let e = body["error"], case .object = e, let message = e["message"]?.stringValue else { return nil }
        return APIError(
            status: status, type: e["type"]?.stringValue ?? "invalid_request_error", code: e["code"]?.stringValue,
            message: message, param: e["param"]?.stringValue)
    }
}
