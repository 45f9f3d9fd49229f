public import SwitchyardCore

/// What went wrong in one upstream attempt, as facts: a transport failure, or a provider
/// error (non-2xx answer, undecodable 2xx body, or an error event inside a stream).
public enum AttemptFault: Sendable, Equatable {
    case transport(UpstreamFailure)
    case provider(ProviderError)
}

/// What the router does after a failed attempt (docs/translation.md §8.1, router policy).
public enum Disposition: String, Sendable, Equatable {
    /// Try the same target again after a backoff or Retry-After wait (while attempts, budget
    /// and deadline allow), then the next target.
    case retry
    /// Don't retry this target; try the next one at once.
    case nextTarget = "next_target"
    /// Return the error to the client now; no further upstream call.
    case final
    /// The caller went away: stop all work.
    case cancelled
}

/// Classifies a failed attempt from facts only (status family via `ProviderError.Kind`,
/// transport failure kind, `x-should-retry`), never from message text.
///
/// `x-should-retry: false` turns `retry` into `nextTarget` (the fault may be this target's
/// alone); `x-should-retry: true` turns `final` into `retry`. It never changes `nextTarget`.
public func classify(_ fault: AttemptFault) -> Disposition {
    switch fault {
    case .transport(let failure):
        switch failure {
        case .connect, .transport: return .retry
        case .timeout: return .nextTarget
        case .cancelled: return .cancelled
        }
    case .provider(let error):
        let base = baseDisposition(error.kind)
        switch (base, error.shouldRetry) {
        case (.retry, false?): return .nextTarget
        case (.final, true?): return .retry
        default: return base
        }
    }
}

private func baseDisposition(_ kind: ProviderError.Kind) -> Disposition {
    switch kind {
    case .rateLimited, .requestTimeout, .serverError, .overloaded, .gatewayTimeout, .malformedResponse, .conflict:
        return .retry
    case .authentication, .permissionDenied, .billing, .preconditionFailed, .notFound, .contextLengthExceeded,
        .quotaExhausted, .other:
        return .nextTarget
    case .badRequest, .contentPolicy, .requestTooLarge, .unprocessable:
        return .final
    }
}

/// Whether a failure is the target's fault and so counts toward its circuit breaker: not the
/// client's errors (400, 413, 422, content policy, context length), not cancellations.
/// A Retry-After that puts the target in cooldown is not counted either (decided by the driver).
public func countsAgainstBreaker(_ fault: AttemptFault) -> Bool {
    switch fault {
    case .transport(let failure): return failure != .cancelled
    case .provider(let error):
        switch error.kind {
        case .badRequest, .contentPolicy, .requestTooLarge, .unprocessable, .contextLengthExceeded: return false
        default: return true
        }
    }
}

extension AttemptFault {
    /// What the attempt record says: `http_503`, `timeout_first_byte`, `stream_error_overloaded`,
    /// `malformed_response`.
    public var outcome: AttemptOutcome {
        switch self {
        case .transport(.connect): .connect
        case .transport(.transport): .transport
        case .transport(.timeout(let phase)): .timeout(phase)
        case .transport(.cancelled): .cancelled
        case .provider(let e):
            if e.kind == .malformedResponse {
                .malformedResponse
            } else if e.status == 200 {
                .streamError(e.kind)
            } else {
                .http(e.status)
            }
        }
    }

    /// The upstream status, when there was an answer.
    public var status: Int? {
        if case .provider(let e) = self { return e.status }
        return nil
    }

    /// The client-facing error (docs/translation.md §8).
    public var apiError: APIError {
        switch self {
        case .provider(let e): return e.apiError
        case .transport(.connect), .transport(.transport):
            return APIError(
                status: 502, type: "server_error", code: "upstream_unreachable",
                message: "The upstream provider could not be reached.")
        case .transport(.timeout):
            return APIError(
                status: 504, type: "server_error", code: "upstream_timeout", message: "The upstream provider timed out."
            )
        case .transport(.cancelled):
            return RouterErrors.cancelled
        }
    }
}

/// Errors the router itself produces.
public enum RouterErrors {
    /// The client went away (task cancelled). 499 is nginx's "client closed request"; nobody reads it.
    public static let cancelled = APIError(
        status: 499, type: "server_error", code: "client_cancelled", message: "The client closed the request.")

    /// Every target is behind an open breaker or a Retry-After cooldown.
    public static func allUnavailable(retryAfterSeconds: Int) -> APIError {
        APIError(
            status: 503, type: "server_error", code: "upstream_unavailable",
            message: "Every upstream for this model is temporarily unavailable.", retryAfterSeconds: retryAfterSeconds,
            shouldRetry: true)
    }

    /// The request deadline ran out before any upstream answered.
    public static let deadlineExceeded = APIError(
        status: 504, type: "server_error", code: "upstream_timeout",
        message: "The request deadline passed before an upstream provider answered.", shouldRetry: false)

    /// A stream ended (or broke) before its finish reason (docs/translation.md §9.3).
    public static let streamTruncated = APIError(
        status: 502, type: "server_error", code: "upstream_stream_truncated", message: "Upstream stream ended early")

    /// A stream stalled past the idle timeout.
    public static let streamStalled = APIError(
        status: 504, type: "server_error", code: "upstream_timeout", message: "The upstream stream stalled.")
}
