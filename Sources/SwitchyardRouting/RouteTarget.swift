public import SwitchyardCore
public import SwitchyardProviders

/// Per-target time limits. Each is capped by what is left of the request deadline when an
/// attempt starts.
public struct TargetTimeouts: Sendable, Equatable {
    /// TCP + TLS set-up (`UpstreamRequest.connectTimeout`). Default 10 s.
    public var connect: Duration
    /// The whole exchange of a non-streaming attempt (`UpstreamRequest.timeout`). Default 120 s.
    public var total: Duration
    /// Request sent → first body byte of a stream (`UpstreamRequest.firstByteTimeout`). Default 10 s.
    public var firstEvent: Duration
    /// Longest gap between two stream chunks (`UpstreamRequest.idleTimeout`). Default 30 s.
    public var idle: Duration

    public init(
        connect: Duration = .seconds(10), total: Duration = .seconds(120), firstEvent: Duration = .seconds(10),
        idle: Duration = .seconds(30)
    ) {
        self.connect = connect
        self.total = total
        self.firstEvent = firstEvent
        self.idle = idle
    }
}

/// One upstream the router may send a request to: a provider model plus how to reach it.
public struct RouteTarget: Sendable {
    /// Configured provider name (`openai-main`); with `model` it keys breakers and cooldowns.
    public var provider: String { didSet { key = Self.key(provider, model) } }
    /// Upstream model id.
    public var model: String { didSet { key = Self.key(provider, model) } }
    /// Lower is tried first; equal priorities form a weighted pool.
    public var priority: Int
    /// Share within a pool of equal priority (≥ 0; 0 = only after every positive weight).
    public var weight: Int
    public var codec: any ProviderCodec { didSet { usual = makeUsual() } }
    /// Base URL the codec's path is appended to, without a trailing slash.
    public var baseURL: String { didSet { usual = makeUsual() } }
    /// Auth and extra headers built by the gateway. Secret: never logged, never in records.
    public var headers: [HeaderField] { didSet { usual = makeUsual() } }
    public var timeouts: TargetTimeouts
    public var context: TargetContext
    /// Whether and how this target may finish a stream broken off elsewhere by continuing the
    /// delivered text (kept in `context`, where the codec reads the dialect). Default: `prefill`
    /// for Anthropic codecs, `unsupported` otherwise.
    public var continuation: ContinuationMode {
        get { context.continuation }
        set { context.continuation = newValue }
    }

    public init(
        provider: String, model: String, priority: Int = 0, weight: Int = 1, codec: any ProviderCodec,
        baseURL: String, headers: [HeaderField], timeouts: TargetTimeouts = TargetTimeouts(),
        context: TargetContext? = nil, continuation: ContinuationMode? = nil
    ) {
        self.provider = provider
        self.model = model
        self.key = Self.key(provider, model)
        self.priority = priority
        self.weight = weight
        self.codec = codec
        self.baseURL = baseURL
        self.headers = headers
        self.timeouts = timeouts
        self.context = context ?? TargetContext(providerName: provider, upstreamModel: model)
        self.context.continuation = continuation ?? (codec.kind == .anthropic ? .prefill : .unsupported)
        self.usual = makeUsual()
    }

    /// The codec's usual requests (`ProviderCodec.usualRequest(model:stream:)`) at this target, for
    /// its upstream model (`context.upstreamModel`) plain and streamed: their path, query and
    /// headers as the codec writes them, the URL and the merged header list an attempt sends.
    /// Made with the target (once per configuration), not per attempt; a class, so a copy of the
    /// target (several per request) retains one reference rather than several. An attempt uses them
    /// only when its `EncodedRequest` carries exactly that path, query and headers, so a context
    /// whose model changed afterwards (it has no observer: the router sets a Gemini call's seed
    /// on a copy) builds its own instead.
    final class UsualRequests: Sendable {
        /// A class too: read out of `UsualRequests` as a struct, it was copied field by field (five
        /// retains and releases) on every attempt.
        final class Request: Sendable {
            let usual: UsualRequest
            let url: String
            let mergedHeaders: [HeaderField]

            init(usual: UsualRequest, url: String, mergedHeaders: [HeaderField]) {
                self.usual = usual
                self.url = url
                self.mergedHeaders = mergedHeaders
            }
        }

        let plain: Request?
        let stream: Request?

        init(plain: Request?, stream: Request?) {
            self.plain = plain
            self.stream = stream
        }
    }

    private(set) var usual: UsualRequests?

    private func makeUsual() -> UsualRequests? {
        func made(_ stream: Bool) -> UsualRequests.Request? {
            guard let usual = codec.usualRequest(model: context.upstreamModel, stream: stream) else { return nil }
            var url = baseURL + usual.path
            if !usual.query.isEmpty { url += "?" + usual.query }
            return UsualRequests.Request(
                usual: usual, url: url, mergedHeaders: Self.merge(usual.headers, over: headers))
        }
        let plain = made(false)
        let stream = made(true)
        return plain == nil && stream == nil ? nil : UsualRequests(plain: plain, stream: stream)
    }

    /// `provider/model`: the breaker, cooldown and metrics key. Kept with the target (targets are
    /// made once per configuration) rather than built on every request.
    public private(set) var key: String

    static func key(_ provider: String, _ model: String) -> String { "\(provider)/\(model)" }
}

/// Retry, fallback, budget and breaker settings; replaced as a whole on config reload.
public struct RoutingPolicy: Sendable, Equatable {
    /// Upstream calls per target per request, the first included. Default 2.
    public var attemptsPerTarget: Int
    /// Backoff before the first retry. Default 1 s.
    public var initialBackoff: Duration
    /// Backoff ceiling (before jitter). Default 8 s.
    public var maxBackoff: Duration
    /// Growth per retry. Default 2.
    public var multiplier: Double
    /// Whole-request limit for non-streaming requests: no wait or attempt runs past it. Default 120 s.
    public var deadline: Duration
    /// Limit for a whole streamed response; `nil` = the stream is bounded only by the idle
    /// timeout once it has started, and by `deadline` until its first event.
    public var streamDeadline: Duration?
    /// Longest upstream Retry-After waited out on the same target. Default 5 s.
    public var waitRetryAfterCap: Duration
    /// Retries allowed as a percentage of requests in the budget window. Default 20.
    public var budgetPercent: Double
    /// Sliding window of the retry budget. Default 10 s.
    public var budgetWindow: Duration
    /// Retries per second always allowed (over the window), so a quiet sidecar retries every
    /// sporadic fault; `RetryBudget` explains the rule. Default 10.
    public var budgetMinPerSecond: Double
    /// Consecutive target failures that open a breaker. Default 5.
    public var breakerFailureThreshold: Int
    /// How long an open breaker rejects traffic before one probe. Default 15 s.
    public var breakerOpenDuration: Duration
    /// How long a target that rejected a prefilled continuation (a 4xx) is not asked to
    /// continue streams again. Default 10 min.
    public var continuationBanDuration: Duration = .seconds(600)
    /// Mid-stream recoveries (continuations or buffered restarts) per request. Default 2.
    public var maxRecoveries: Int = 2

    public init(
        attemptsPerTarget: Int = 2, initialBackoff: Duration = .seconds(1), maxBackoff: Duration = .seconds(8),
        multiplier: Double = 2.0, deadline: Duration = .seconds(120), streamDeadline: Duration? = nil,
        waitRetryAfterCap: Duration = .seconds(5), budgetPercent: Double = 20.0, budgetWindow: Duration = .seconds(10),
        budgetMinPerSecond: Double = 10, breakerFailureThreshold: Int = 5, breakerOpenDuration: Duration = .seconds(15)
    ) {
        self.attemptsPerTarget = attemptsPerTarget
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.multiplier = multiplier
        self.deadline = deadline
        self.streamDeadline = streamDeadline
        self.waitRetryAfterCap = waitRetryAfterCap
        self.budgetPercent = budgetPercent
        self.budgetWindow = budgetWindow
        self.budgetMinPerSecond = budgetMinPerSecond
        self.breakerFailureThreshold = breakerFailureThreshold
        self.breakerOpenDuration = breakerOpenDuration
    }
}
