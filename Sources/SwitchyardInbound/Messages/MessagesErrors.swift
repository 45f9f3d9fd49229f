public import SwitchyardCore

/// Errors in Anthropic's shape, `{"type":"error","error":{"type","message"}}`, with the status
/// codes the `anthropic` SDK maps to its exception classes (400 `BadRequestError`, 401
/// `AuthenticationError`, 403 `PermissionDeniedError`, 404 `NotFoundError`, 413
/// `ContentTooLargeError`, 429 `RateLimitError`, 529 `OverloadedError`, other 5xx
/// `InternalServerError` and its subclasses).
public enum MessagesErrors {
    /// An overloaded upstream is Anthropic's 529 `overloaded_error` (the SDK's `OverloadedError`,
    /// which it retries); every other error keeps its status.
    public static func status(_ error: APIError) -> Int {
        error.code == "upstream_overloaded" ? 529 : error.status
    }

    /// Anthropic's `error.type` for a status.
    public static func type(_ error: APIError) -> String {
        switch status(error) {
        case 401: "authentication_error"
        case 402: "billing_error"
        case 403: "permission_error"
        case 404: "not_found_error"
        case 413: "request_too_large"
        case 429: "rate_limit_error"
        case 408, 504: "timeout_error"
        case 529: "overloaded_error"
        case 400..<500: "invalid_request_error"
        default: "api_error"
        }
    }

    /// The error object (also the data of an in-stream `error` event). The message keeps the
    /// parameter path when the gateway's message did not name it.
    public static func object(_ error: APIError) -> JSONObject {
        var message = error.message
        if let param = error.param, !message.contains(param) { message = "\(param): \(message)" }
        var o = JSONObject()
        o.appendUnique("type", "error")
        o.appendUnique("error", ["type": .string(type(error)), "message": .string(message)])
        return o
    }

    /// The error answer's body: the object, and the request's id as `request_id` after it, where
    /// Anthropic puts its own (the same id as the `request-id` header; clients that keep only
    /// the body still have it for a support request).
    public static func body(_ error: APIError, requestID: String? = nil) -> [UInt8] {
        var o = object(error)
        if let requestID { o.appendUnique("request_id", .string(requestID)) }
        return JSON.object(o).serialized()
    }
}
