import Prometheus
import Synchronization

/// Switchyard's metrics, on one `PrometheusCollectorRegistry` owned by the gateway (no global
/// bootstrap). Label values come only from the configuration (provider names, configured model
/// names) or fixed sets, with `other` for anything else, so clients cannot grow the series count.
public final class GatewayMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let modelNames: Mutex<Set<String>>
    let providerNames: Mutex<Set<String>>

    let inFlight: Gauge
    let openStreams: Gauge

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
        inFlight = registry.makeGauge(name: "switchyard_inflight_requests", help: "Requests being served now.")
        openStreams = registry.makeGauge(name: "switchyard_open_streams", help: "Streaming responses open now.")
    }

    /// Config reload: new label sets.
    func updateLabels(providers: [String], models: [String]) {
        providerNames.withLock { $0 = Set(providers) }
        modelNames.withLock { $0 = Set(models) }
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

    func request(model: String?, provider: String?, outcome: String, status: Int, duration: Duration) {
        let m = modelLabel(model)
        let p = providerLabel(provider)
        registry.makeCounter(
            name: "switchyard_requests_total",
            labels: [("model", m), ("provider", p), ("outcome", outcome), ("status_class", Self.statusClass(status))],
            help: "Chat completion requests by configured model, answering provider, outcome and status class."
        ).increment()
        registry.makeDurationHistogram(
            name: "switchyard_request_duration_seconds", labels: [("provider", p)], buckets: Self.latencyBuckets,
            help: "Time from request received to response complete."
        ).record(duration)
    }

    func timeToFirstToken(provider: String, _ d: Duration) {
        registry.makeDurationHistogram(
            name: "switchyard_time_to_first_token_seconds", labels: [("provider", providerLabel(provider))],
            buckets: Self.latencyBuckets, help: "Time from request received to the first streamed event sent."
        ).record(d)
    }

    func attempt(provider: String, outcome: String) {
        registry.makeCounter(
            name: "switchyard_upstream_attempts_total", labels: [("provider", providerLabel(provider)), ("outcome", outcome)],
            help: "Upstream calls by provider and outcome kind."
        ).increment()
    }

    func retry(provider: String) {
        registry.makeCounter(
            name: "switchyard_retries_total", labels: [("provider", providerLabel(provider))],
            help: "Retries on the same target."
        ).increment()
    }

    func fallback(from: String, to: String) {
        registry.makeCounter(
            name: "switchyard_fallbacks_total", labels: [("from", providerLabel(from)), ("to", providerLabel(to))],
            help: "Moves from one provider to the next within a request."
        ).increment()
    }

    func tokens(provider: String, model: String?, prompt: Int, completion: Int) {
        let p = providerLabel(provider)
        let m = modelLabel(model)
        registry.makeCounter(
            name: "switchyard_tokens_total", labels: [("provider", p), ("model", m), ("type", "prompt")],
            help: "Tokens reported by upstreams, by provider, configured model and type."
        ).increment(by: Int64(prompt))
        registry.makeCounter(
            name: "switchyard_tokens_total", labels: [("provider", p), ("model", m), ("type", "completion")],
            help: "Tokens reported by upstreams, by provider, configured model and type."
        ).increment(by: Int64(completion))
    }

    func breakerState(target: String, provider: String, state: Int) {
        registry.makeGauge(
            name: "switchyard_breaker_state", labels: [("provider", providerLabel(provider)), ("target", target)],
            help: "Circuit breaker per target: 0 closed, 1 half-open, 2 open."
        ).set(Double(state))
    }

    func malformedEvent(provider: String) {
        registry.makeCounter(
            name: "switchyard_stream_malformed_events_total", labels: [("provider", providerLabel(provider))],
            help: "Upstream stream events skipped because they could not be parsed."
        ).increment()
    }

    /// Prometheus text exposition format 0.0.4.
    public func exposition() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(8192)
        registry.emit(into: &out)
        return out
    }
}
