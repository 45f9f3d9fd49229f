public import Prometheus
import SwitchyardCore
import SwitchyardRouting
public import SwitchyardTasks
import Synchronization

/// Switchyard's metrics, on one `PrometheusCollectorRegistry` owned by the gateway (no global
/// bootstrap). Label values come only from the configuration (provider names, configured model
/// names) or fixed sets, with `other` for anything else, so clients cannot grow the series count.
public final class GatewayMetrics: TaskObserver, Sendable {
    public let registry: PrometheusCollectorRegistry
    let modelNames: Mutex<Set<String>>
    /// `switchyard_<name>_<unit>` with help text (promtool requires HELP).
    static func d(_ name: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "switchyard", metricName: name, unitName: unit, helpText: help)
    }

    let providerNames: Mutex<Set<String>>

    let inFlight: Gauge
    let openStreams: Gauge
    let counters = Mutex<[MetricKey: Counter]>([:])
    let histograms = Mutex<[MetricKey: DurationHistogram]>([:])
    let gauges = Mutex<[MetricKey: Gauge]>([:])
    /// `switchyard_breaker_state` series by target key, kept apart from `gauges` because they are
    /// removed again (config reload); see `GatewayMetrics+Operations.swift`.
    let breakers = Mutex<[String: BreakerSeries]>([:])
    /// The handles a finished model request updates, by what the request carries (configured
    /// names, so the set is bounded): one hash of that key instead of two label checks and four
    /// handle lookups per request, each a lock, a hash of every label value and an array of labels
    /// (1.6% of a plain request's CPU). Emptied when the label sets change (a reload), since an
    /// entry holds the labels of its time.
    let requestSeries = Mutex(SeriesCache<RequestSeriesKey, RequestSeries>())
    /// `switchyard_upstream_attempts_total` by provider name and outcome, for the same reason.
    let attemptSeries = Mutex(SeriesCache<AttemptSeriesKey, Counter>())
    /// `switchyard_time_to_first_token_seconds` by provider name, for the same reason (a label
    /// list, a label check and a key of every label per stream were 0.9% of a streamed answer).
    let firstTokenSeries = Mutex(SeriesCache<String, DurationHistogram>())
    /// Each event loop's thread CPU seconds as last exported (`eventLoop(_:connections:cpuTime:)`).
    let loopCPUExported = Mutex<[Int: Double]>([:])
    /// The count of dropped log lines as last exported (`logLinesDropped(total:)`).
    let logDropsExported = Mutex<Int>(0)

    /// A handle cache that keeps the entry it last found apart: requests mostly repeat the
    /// previous one's labels, and comparing a key (short strings, equal in a word or two) is
    /// cheaper than hashing every field of it for the table.
    struct SeriesCache<Key: Hashable, Value> {
        private var table: [Key: Value] = [:]
        /// The entry last found, compared and read in place (a copy of a key and its handles
        /// retained and released each of their references).
        private var lastKey: Key?
        private var lastValue: Value?

        subscript(key: Key) -> Value? {
            mutating get {
                if lastKey == key { return lastValue }
                guard let value = table[key] else { return nil }
                lastKey = key
                lastValue = value
                return value
            }
            set {
                table[key] = newValue
                lastKey = newValue == nil ? nil : key
                lastValue = newValue
            }
        }

        mutating func removeAll() {
            table = [:]
            lastKey = nil
            lastValue = nil
        }
    }

    struct RequestSeriesKey: Hashable {
        var api: InboundAPI
        var model: String?
        var provider: String?
        var outcome: RequestOutcome
        var statusClass: String
    }

    struct RequestSeries {
        var requests: Counter
        var duration: DurationHistogram
        /// Made at the first request with usage, as `tokens` would (a series appears when first counted).
        var tokens: (prompt: Counter, completion: Counter)?
    }

    struct AttemptSeriesKey: Hashable {
        var provider: String
        var outcome: AttemptOutcome
    }

    struct BreakerSeries {
        var provider: String
        var gauge: Gauge
        var value: Int
    }

    /// A metric name with its label values (the label names are fixed per name). Up to five
    /// values are held inline: every request looks up five handles, and an array of values per
    /// lookup was a heap allocation each.
    struct MetricKey: Hashable, Sendable {
        var name: String
        var v0 = "", v1 = "", v2 = "", v3 = "", v4 = ""
        /// Label sets longer than five (none today) keep the rest here.
        var more: [String] = []

        init(_ name: String, _ labels: [(String, String)]) {
            self.name = name
            let n = labels.count
            if n > 0 { v0 = labels[0].1 }
            if n > 1 { v1 = labels[1].1 }
            if n > 2 { v2 = labels[2].1 }
            if n > 3 { v3 = labels[3].1 }
            if n > 4 { v4 = labels[4].1 }
            if n > 5 { more = labels[5...].map(\.1) }
        }
    }

    /// Buckets for LLM latencies: 10 ms to 120 s.
    static let latencyBuckets: [Duration] = [
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(20), .seconds(30),
        .seconds(60), .seconds(120),
    ]

    public init(providers: [String], models: [String]) {
        registry = PrometheusCollectorRegistry()
        modelNames = Mutex(Set(models))
        providerNames = Mutex(Set(providers))
        inFlight = registry.makeGauge(
            descriptor: Self.d("inflight", "requests", "Requests being served now."))
        openStreams = registry.makeGauge(
            descriptor: Self.d("open", "streams", "Streaming responses open now."))
    }

    /// Config reload: new label sets.
    func updateLabels(providers: [String], models: [String]) {
        // Under the caches' locks, which entries are made under: none keeps the old labels.
        requestSeries.withLock { series in
            attemptSeries.withLock { attempts in
                firstTokenSeries.withLock { firstToken in
                    providerNames.withLock { $0 = Set(providers) }
                    modelNames.withLock { $0 = Set(models) }
                    firstToken.removeAll()
                }
                attempts.removeAll()
            }
            series.removeAll()
        }
    }

    func modelLabel(_ model: String?) -> String {
        guard let model else { return "other" }
        return modelNames.withLock { $0.contains(model) } ? model : "other"
    }

    func providerLabel(_ provider: String?) -> String {
        guard let provider else { return "none" }
        return providerNames.withLock { $0.contains(provider) } ? provider : "other"
    }

    static func statusClass(_ status: Int) -> String {
        switch status {
        case 200..<300: "2xx"
        case 400..<500: "4xx"
        default: "5xx"
        }
    }

    // MARK: Handles, made once per label set and cached (the registry would re-validate the
    // descriptor and help text on every lookup).

    func counter(_ name: String, _ help: String, _ labels: [(String, String)]) -> Counter {
        let key = cacheKey(name, labels)
        if let c = counters.withLock({ $0[key] }) { return c }
        let c = registry.makeCounter(descriptor: Self.d(name, "total", help), labels: labels)
        counters.withLock { $0[key] = c }
        return c
    }

    func histogram(_ name: String, _ help: String, _ labels: [(String, String)]) -> DurationHistogram {
        let key = cacheKey(name, labels)
        if let h = histograms.withLock({ $0[key] }) { return h }
        let h = registry.makeDurationHistogram(
            descriptor: Self.d(name, "seconds", help), labels: labels, buckets: Self.latencyBuckets)
        histograms.withLock { $0[key] = h }
        return h
    }

    func gauge(_ name: String, _ unit: String, _ help: String, _ labels: [(String, String)]) -> Gauge {
        let key = cacheKey(name, labels)
        if let g = gauges.withLock({ $0[key] }) { return g }
        let g = registry.makeGauge(descriptor: Self.d(name, unit, help), labels: labels)
        gauges.withLock { $0[key] = g }
        return g
    }

    private func cacheKey(_ name: String, _ labels: [(String, String)]) -> MetricKey {
        MetricKey(name, labels)
    }

    // MARK: Events

    /// A model request ended: `switchyard_requests_total`, `switchyard_request_duration_seconds`
    /// and, when the upstream reported usage, `switchyard_tokens_total`.
    func requestFinished(
        api: InboundAPI, model: String?, provider: String?, outcome: RequestOutcome, status: Int,
        duration: Duration, usage: Usage?
    ) {
        let key = RequestSeriesKey(
            api: api, model: model, provider: provider, outcome: outcome, statusClass: Self.statusClass(status))
        let wantsTokens = usage != nil && provider != nil
        let series = requestSeries.withLock { cache -> RequestSeries in
            if let entry = cache[key], entry.tokens != nil || !wantsTokens { return entry }
            var entry = cache[key] ?? makeRequestSeries(key)
            if wantsTokens, let provider { entry.tokens = tokenCounters(provider: provider, model: model) }
            cache[key] = entry
            return entry
        }
        series.requests.increment()
        series.duration.record(duration)
        if let usage, let tokens = series.tokens {
            tokens.prompt.increment(by: Int64(usage.promptTokens))
            tokens.completion.increment(by: Int64(usage.completionTokens))
        }
    }

    private func makeRequestSeries(_ key: RequestSeriesKey) -> RequestSeries {
        let p = providerLabel(key.provider)
        let requests = counter(
            "requests",
            "Model requests by inbound API, configured model, answering provider, outcome and status class.",
            [
                ("api", key.api.label), ("model", modelLabel(key.model)), ("provider", p),
                ("outcome", key.outcome.rawValue), ("status_class", key.statusClass),
            ])
        let duration = histogram(
            "request_duration", "Time from request received to response complete.", [("provider", p)])
        return RequestSeries(requests: requests, duration: duration)
    }

    private func tokenCounters(provider: String, model: String?) -> (prompt: Counter, completion: Counter) {
        let p = providerLabel(provider)
        let m = modelLabel(model)
        let help = "Tokens reported by upstreams, by provider, configured model and type."
        return (
            counter("tokens", help, [("provider", p), ("model", m), ("type", "prompt")]),
            counter("tokens", help, [("provider", p), ("model", m), ("type", "completion")])
        )
    }

    /// The edge closed a connection on its own (`reason`: `header_timeout`, `body_timeout`,
    /// `displaced`, `peer_limit`). Called on the edge's threads: a counter increment only.
    func connectionDropped(_ reason: String) {
        counter(
            "connections_dropped",
            "Client connections the server closed on its own: request head or body too slow, displaced at the "
                + "connection limit, or over the per-client cap.", [("reason", reason)]
        ).increment()
    }

    func timeToFirstToken(provider: String, _ d: Duration) {
        firstTokenSeries.withLock { cache in
            if let h = cache[provider] { return h }
            let h = histogram(
                "time_to_first_token", "Time from request received to the first streamed event sent.",
                [("provider", providerLabel(provider))])
            cache[provider] = h
            return h
        }.record(d)
    }

    func attempt(provider: String, outcome: AttemptOutcome) {
        let key = AttemptSeriesKey(provider: provider, outcome: outcome)
        attemptSeries.withLock { cache in
            if let c = cache[key] { return c }
            let c = attempts(providerLabel(provider), outcome)
            cache[key] = c
            return c
        }.increment()
    }

    func attempts(_ provider: String, _ outcome: AttemptOutcome) -> Counter {
        counter(
            "upstream_attempts", "Upstream calls by provider and outcome kind.",
            [("provider", provider), ("outcome", outcome.rawValue)])
    }

    func retry(provider: String) { retries(providerLabel(provider)).increment() }

    func retries(_ provider: String) -> Counter {
        counter("retries", "Retries on the same target.", [("provider", provider)])
    }

    func fallback(from: String, to: String) { fallbacks(providerLabel(from), providerLabel(to)).increment() }

    func fallbacks(_ from: String, _ to: String) -> Counter {
        counter("fallbacks", "Moves from one provider to the next within a request.", [("from", from), ("to", to)])
    }

    func continuation(from: String, to: String?, outcome: ContinuationOutcome) {
        registry.makeCounter(
            descriptor: Self.d(
                "continuations", "total", "Streams broken mid-way and handed to another call, by outcome."),
            labels: [("from", providerLabel(from)), ("to", providerLabel(to)), ("outcome", outcome.rawValue)]
        ).increment()
    }

    func breakerState(target: String, provider: String, state: Int) {
        let label = providerLabel(provider)
        breakers.withLock { series in
            let s = series[target] ?? BreakerSeries(provider: label, gauge: breakerGauge(target, label), value: state)
            s.gauge.set(Double(state))
            series[target] = BreakerSeries(provider: s.provider, gauge: s.gauge, value: state)
        }
    }

    func breakerGauge(_ target: String, _ provider: String) -> Gauge {
        registry.makeGauge(
            descriptor: Self.d("breaker", "state", "Circuit breaker per target: 0 closed, 1 half-open, 2 open."),
            labels: [("provider", provider), ("target", target)])
    }

    func providerUp(provider: String, up: Bool) {
        gauge(
            "provider", "up", "1 when the provider's model-listing endpoint answered 2xx at the last health check.",
            [("provider", providerLabel(provider))]
        ).set(up ? 1.0 : 0.0)
    }

    func malformedEvent(provider: String) { malformedEvents(providerLabel(provider)).increment() }

    func malformedEvents(_ provider: String) -> Counter {
        counter(
            "stream_malformed_events", "Upstream stream events skipped because they could not be parsed.",
            [("provider", provider)])
    }

    /// Buckets for checkpoint commits (one SQLite transaction): 50 µs to 1 s.
    static let commitBuckets: [Duration] = [
        .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1),
        .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(100),
        .milliseconds(250), .seconds(1),
    ]

    /// `switchyard_tasks{state}`: tasks in the store by state, all owners and all processes (set
    /// from a count of the store when `/metrics` is read, see `Gateway.refreshTaskGauge`).
    func tasks(state: String, count: Int) {
        let help = "Tasks in the store by state (every owner, whichever process moved them)."
        gauge("tasks", "", help, [("state", state)]).set(Double(count))
    }

    /// One checkpoint transaction of the task runtime, as the runtime waited for it (SQLite: the
    /// hop to the store's queue plus `BEGIN IMMEDIATE` to the returned commit).
    public func checkpointCommitted(duration: Duration) {
        registry.makeDurationHistogram(
            descriptor: Self.d("checkpoint_commit", "seconds", "Time to commit one task checkpoint transaction."),
            buckets: Self.commitBuckets
        ).record(duration)
    }

    /// The outcome of a task store write: `switchyard_store_up` (1 while writes work), and on a
    /// failure `switchyard_store_errors_total{kind}` (`StoreError.Kind`: `disk_full`, `io`,
    /// `read_only`, `busy`, …: a fixed set).
    func storeWrite(failureKind: String?) {
        gauge("store", "up", "1 while the task store accepts writes; 0 after a write failed (disk full, I/O…).", [])
            .set(failureKind == nil ? 1.0 : 0.0)
        if let failureKind {
            counter("store_errors", "Task store writes that failed, by kind.", [("kind", failureKind)]).increment()
        }
    }

    /// Prometheus text exposition format 0.0.4.
    public func exposition() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(8192)
        registry.emit(into: &out)
        return out
    }
}

/// How a model request ended: the `outcome` label of `switchyard_requests_total` and of the request
/// log line. The raw value is the label.
public enum RequestOutcome: String, Sendable, CaseIterable {
    /// Answered by the first call.
    case ok
    /// Answered by the first target after more than one call to it.
    case retried
    /// Answered by another target than the first.
    case fallback
    /// Answered with an error.
    case error
    /// A stream that had started ended with an in-band error.
    case streamError = "stream_error"
    /// The client left before the answer was complete (status 499).
    case clientDisconnected = "client_disconnected"
    /// The stored answer of an idempotent request, sent again.
    case replayed
    /// A `count_tokens` answered by Switchyard's estimate (logged only: not a model request).
    case estimated
}
