public import SwitchyardCore
public import SwitchyardProviders

/// One upstream call, payload-free (no bodies, no headers, no message text).
public struct AttemptRecord: Sendable, Equatable {
    /// The target key, `provider/model`.
    public var target: String
    public var provider: String
    public var model: String
    /// 1-based attempt number on this target within the request.
    public var attempt: Int
    public var outcome: AttemptOutcome
    /// Upstream HTTP status when a response head arrived.
    public var status: Int?
    public var duration: Duration

    public init(
        target: String, provider: String, model: String, attempt: Int, outcome: AttemptOutcome, status: Int?,
        duration: Duration
    ) {
        self.target = target
        self.provider = provider
        self.model = model
        self.attempt = attempt
        self.outcome = outcome
        self.status = status
        self.duration = duration
    }
}

/// A non-streaming answer and how it was obtained.
public struct RouteSuccess: Sendable {
    public var response: DecodedResponse
    /// The target that actually answered.
    public var target: RouteTarget
    /// Every upstream call made for this request, the successful one last.
    public var attempts: [AttemptRecord]
    /// The answering upstream's response head (its headers are parsed only when read).
    public var head: UpstreamHead
    /// The answering upstream's response headers.
    public var headers: [HeaderField] { head.headers }

    /// Value for an attempts header: total upstream calls made.
    public var upstreamCalls: Int { attempts.count }
}

/// The request failed: the client-facing error and every upstream call made.
///
/// `error.shouldRetry` is false once Switchyard made more than one call; 429/503 errors carry
/// `retryAfterSeconds` (≥ 1).
public struct RouteFailure: Error, Sendable {
    public var error: APIError
    public var attempts: [AttemptRecord]

    public var upstreamCalls: Int { attempts.count }
}
