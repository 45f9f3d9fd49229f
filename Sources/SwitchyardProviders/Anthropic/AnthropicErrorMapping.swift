import SwitchyardCore

/// Anthropic error answers and stream `error` events → ``ProviderError`` (docs/translation.md §8).
///
/// The Anthropic `error.type` decides first (stream errors arrive with status 200); the HTTP
/// status decides when the type is missing or generic. Messages of credential errors are
/// never kept (upstream 401 texts can echo key fragments).
enum AnthropicErrorMapping {
    /// The start of Anthropic's message for an over-long input, e.g.
    /// `prompt is too long: 208310 tokens > 200000 maximum` (400 `invalid_request_error`).
    /// Anthropic has no dedicated type or code for it, so this wording is the only marker;
    /// observed in public issue threads, not in Anthropic's error documentation.
    static let promptTooLongMarker = "prompt is too long"

    static func providerError(status: Int, headers: [HeaderField], body: [UInt8]) -> ProviderError {
        let error = (try? JSON.parse(body))?["error"]
        var e = make(error: error, status: status)
        e.shouldRetry = headers.value(for: "x-should-retry").flatMap { v in
            switch v.lowercased() {
            case "true": true
            case "false": false
            default: nil
            }
        }
        return e
    }

    /// An `error` event inside a 200 stream (`{"type":"error","error":{…}}`).
    static func streamError(_ event: JSON) -> ProviderError {
        make(error: event["error"], status: 200)
    }

    private static func make(error: JSON?, status: Int) -> ProviderError {
        let type = error?["type"]?.stringValue
        let message = error?["message"]?.stringValue ?? "HTTP \(status) from upstream"
        let k = kind(type: type, status: status, message: message)
        let credential = k == .authentication || k == .permissionDenied
        return ProviderError(kind: k, status: status, providerType: type, message: credential ? "" : message)
    }

    static func kind(type: String?, status: Int, message: String) -> ProviderError.Kind {
        switch type {
        case "authentication_error": return .authentication
        case "permission_error": return .permissionDenied
        case "billing_error": return .billing
        case "not_found_error": return .notFound
        case "request_too_large": return .requestTooLarge
        case "rate_limit_error": return .rateLimited
        case "timeout_error": return .gatewayTimeout
        case "overloaded_error": return .overloaded
        case "api_error": return .serverError
        case "invalid_request_error" where status == 400 || status == 200:
            return message.lowercased().hasPrefix(promptTooLongMarker) ? .contextLengthExceeded : .badRequest
        default: break
        }
        switch status {
        case 200: return .serverError  // an `error` event of a type newer than this codec
        case 400: return .badRequest
        case 401: return .authentication
        case 402: return .billing
        case 403: return .permissionDenied
        case 404: return .notFound
        case 408: return .requestTimeout
        case 409: return .conflict
        case 413: return .requestTooLarge
        case 422: return .unprocessable
        case 429: return .rateLimited
        case 504: return .gatewayTimeout
        case 529: return .overloaded
        case 500...599: return .serverError
        case 400...499: return .badRequest
        default: return .other
        }
    }
}
