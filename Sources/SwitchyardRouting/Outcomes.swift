public import SwitchyardCore

/// How one upstream call ended. The raw value is the label in attempt records, logs, task step
/// errors and `switchyard_upstream_attempts_total{outcome}`: a bounded set (statuses are three
/// digits, kinds and phases are enums), so clients cannot grow the series count.
public enum AttemptOutcome: RawRepresentable, Sendable, Hashable {
    /// A 2xx answer (for a stream: its first event arrived).
    case ok
    /// A non-2xx answer: `http_<status>`.
    case http(Int)
    /// Nothing was sent: DNS, refused or unreachable (`connect`).
    case connect
    /// The connection broke after the request was sent (`transport`).
    case transport
    /// The caller went away (`cancelled`).
    case cancelled
    /// A transport timer fired: `timeout_<phase>`.
    case timeout(UpstreamFailure.TimeoutPhase)
    /// No event was decoded within `first_event_timeout_ms` of sending the request
    /// (`timeout_first_event`; comments and pings do not count).
    case firstEventTimeout
    /// An error event inside a 2xx stream: `stream_error_<kind>`.
    case streamError(ProviderError.Kind)
    /// A 2xx body that could not be decoded (`malformed_response`).
    case malformedResponse
    /// The stream ended before its first event (`stream_truncated`).
    case streamTruncated

    public var rawValue: String {
        switch self {
        case .ok: "ok"
        case .http(let status): "http_\(status)"
        case .connect: "connect"
        case .transport: "transport"
        case .cancelled: "cancelled"
        case .timeout(let phase): "timeout_\(phase.rawValue)"
        case .firstEventTimeout: "timeout_first_event"
        case .streamError(let kind): "stream_error_\(kind.rawValue)"
        case .malformedResponse: "malformed_response"
        case .streamTruncated: "stream_truncated"
        }
    }

    public init?(rawValue: String) {
        switch rawValue {
        case "ok": self = .ok
        case "connect": self = .connect
        case "transport": self = .transport
        case "cancelled": self = .cancelled
        case "timeout_first_event": self = .firstEventTimeout
        case "malformed_response": self = .malformedResponse
        case "stream_truncated": self = .streamTruncated
        default:
            if let status = rawValue.dropPrefix("http_").flatMap({ Int($0) }), (100...999).contains(status) {
                self = .http(status)
            } else if let phase = rawValue.dropPrefix("timeout_").flatMap({
                UpstreamFailure.TimeoutPhase(rawValue: String($0))
            }) {
                self = .timeout(phase)
            } else if let kind = rawValue.dropPrefix("stream_error_").flatMap({
                ProviderError.Kind(rawValue: String($0))
            }) {
                self = .streamError(kind)
            } else {
                return nil
            }
        }
    }
}

/// Why the router passed a target by without calling it. The raw value is the log label.
public enum SkipReason: String, Sendable, Hashable, CaseIterable {
    /// Its circuit breaker is open.
    case breakerOpen = "breaker_open"
    /// Its breaker is half-open and another request is the probe.
    case probeInFlight = "probe_in_flight"
    /// It answered with a Retry-After longer than the router waits.
    case cooldown
}

/// How a mid-stream recovery went. The raw value is the label of
/// `switchyard_continuations_total{outcome}` and of the request log.
public enum ContinuationOutcome: String, Sendable, Hashable, CaseIterable {
    /// The continuation finished the answer.
    case ok
    /// The continuation was sent and failed.
    case failed
    /// The target refused the prefilled continuation (400/422); it is not asked again for a while.
    case rejected
    /// No target could be asked.
    case unavailable
    /// The client left before the continuation ended.
    case abandoned
    /// A buffered stream was restarted and the restart finished the answer.
    case restartOK = "restart_ok"
    /// A buffered stream's restart failed.
    case restartFailed = "restart_failed"
    /// Still streaming (never reported as a final outcome).
    case pending
}

extension String {
    /// The rest after `prefix`, or nil when the string does not start with it.
    fileprivate func dropPrefix(_ prefix: String) -> Substring? {
        hasPrefix(prefix) ? dropFirst(prefix.count) : nil
    }
}
