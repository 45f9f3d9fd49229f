import SwitchyardCore

/// Gemini error bodies `{"error": {code, message, status, details}}` → `ProviderError`
/// (docs/translation.md §8). Classifies by `error.status`, then
/// `ErrorInfo.reason` and `QuotaFailure.quotaId`, then the HTTP status.
enum GeminiErrorDecoder {
    static func decode(status: Int, body: [UInt8]) -> ProviderError {
        guard let json = try? JSON.parse(body) else {
            return ProviderError(
                kind: kind(httpStatus: status), status: status, message: "HTTP \(status) from upstream")
        }
        return decode(status: status, error: unwrap(json))
    }

    /// The error object, also from the one-element array some endpoints wrap it in.
    static func unwrap(_ json: JSON) -> JSON? {
        if case .array(let items) = json, items.count == 1 { return items[0]["error"] }
        return json["error"]
    }

    static func decode(status: Int, error e: JSON?) -> ProviderError {
        let statusName = e?["status"]?.stringValue
        let message = e?["message"]?.stringValue ?? "HTTP \(status) from upstream"
        var reason: String?
        var retryDelay: Double?
        var perDayQuota = false
        for d in e?["details"]?.arrayValue ?? [] {
            let type = d["@type"]?.stringValue ?? ""
            if type.hasSuffix("google.rpc.ErrorInfo") { reason = d["reason"]?.stringValue ?? reason }
            if type.hasSuffix("google.rpc.RetryInfo") { retryDelay = duration(d["retryDelay"]?.stringValue) }
            if type.hasSuffix("google.rpc.QuotaFailure") {
                for v in d["violations"]?.arrayValue ?? [] where v["quotaId"]?.stringValue?.contains("PerDay") == true {
                    perDayQuota = true
                }
            }
        }
        var kind: ProviderError.Kind
        switch statusName {
        case "INVALID_ARGUMENT"?, "OUT_OF_RANGE"?: kind = .badRequest
        case "FAILED_PRECONDITION"?: kind = .preconditionFailed
        case "UNAUTHENTICATED"?: kind = .authentication
        case "PERMISSION_DENIED"?: kind = .permissionDenied
        case "NOT_FOUND"?: kind = .notFound
        case "RESOURCE_EXHAUSTED"?: kind = .rateLimited
        case "INTERNAL"?, "UNKNOWN"?, "DATA_LOSS"?: kind = .serverError
        case "UNAVAILABLE"?: kind = .overloaded
        case "DEADLINE_EXCEEDED"?: kind = .gatewayTimeout
        case "ABORTED"?, "ALREADY_EXISTS"?: kind = .conflict
        default: kind = Self.kind(httpStatus: status)
        }
        if reason == "API_KEY_INVALID" { kind = .authentication }
        if kind == .rateLimited, perDayQuota { kind = .quotaExhausted }
        if kind == .badRequest, isTokenLimit(message) { kind = .contextLengthExceeded }
        let credential = kind == .authentication || kind == .permissionDenied
        return ProviderError(
            kind: kind, status: status, providerType: statusName,
            providerCode: kind == .badRequest || kind == .contextLengthExceeded ? nil : reason,
            message: credential ? "" : message, retryAfterSeconds: retryDelay)
    }

    /// Gemini signals an over-long prompt only by its INVALID_ARGUMENT message, "The input token count
    /// (N) exceeds the maximum number of tokens allowed (M)." (seen in public issue reports; there is
    /// no dedicated status or reason), so this is the one place a message is matched.
    static func isTokenLimit(_ message: String) -> Bool {
        let m = message.lowercased()
        return m.contains("input token count") && m.contains("exceeds the maximum number of tokens")
    }

    /// A protobuf Duration string (`"37s"`, `"1.5s"`) in seconds.
    static func duration(_ text: String?) -> Double? {
        guard let text, text.hasSuffix("s"), let v = Double(text.dropLast()), v >= 0 else { return nil }
        return v
    }

    static func kind(httpStatus status: Int) -> ProviderError.Kind {
        switch status {
        case 400: .badRequest
        case 401: .authentication
        // Payment required: billing, as OpenAI's and Anthropic's 402 (next target, not final).
        case 402: .billing
        case 403: .permissionDenied
        case 404: .notFound
        case 408: .requestTimeout
        case 409: .conflict
        case 413: .requestTooLarge
        case 429: .rateLimited
        case 503: .overloaded
        case 504: .gatewayTimeout
        case 500...599: .serverError
        case 400...499: .badRequest
        default: .other
        }
    }
}
