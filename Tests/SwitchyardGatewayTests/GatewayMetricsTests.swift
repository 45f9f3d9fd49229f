import SwitchyardCore
import SwitchyardRouting
import Testing

@testable import SwitchyardGateway

/// The handles a finished request and an upstream attempt update are cached by what the request
/// carries; these pin that the series and their values are the ones the labels call for.
@Suite struct GatewayMetricsTests {
    static func exposition(_ metrics: GatewayMetrics) -> String {
        String(decoding: metrics.exposition(), as: UTF8.self)
    }

    static func value(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    static let requests = "switchyard_requests_total"
    static let prompt = #"switchyard_tokens_total{provider="openai",model="fast",type="prompt"}"#
    static let completion = #"switchyard_tokens_total{provider="openai",model="fast",type="completion"}"#

    /// `/metrics` brings the count of dropped log lines up to date from the sink's running total:
    /// the counter follows the total, whatever the number of reads in between.
    @Test func droppedLogLinesFollowTheSinksTotal() {
        let metrics = GatewayMetrics(providers: ["openai"], models: ["fast"])
        let series = "switchyard_log_lines_dropped_total"
        metrics.registerRareEvents(loops: 1, acceptErrors: [])
        #expect(Self.value(Self.exposition(metrics), series) == 0)
        for (total, shown) in [(0, 0.0), (3, 3), (3, 3), (10, 10)] {
            metrics.logLinesDropped(total: total)
            #expect(Self.value(Self.exposition(metrics), series) == shown)
        }
    }

    @Test func eachRequestCountsInItsSeriesAndTokensAppearWithTheFirstUsage() {
        let metrics = GatewayMetrics(providers: ["openai"], models: ["fast"])
        func finish(_ model: String?, _ provider: String?, _ status: Int, usage: Usage?) {
            metrics.requestFinished(
                api: .chatCompletions, model: model, provider: provider, outcome: status == 200 ? .ok : .error,
                status: status, duration: .milliseconds(5), usage: usage)
        }
        finish("fast", "openai", 200, usage: nil)
        let first = Self.exposition(metrics)
        let ok = #"\#(Self.requests){api="chat",model="fast",provider="openai",outcome="ok",status_class="2xx"}"#
        #expect(Self.value(first, ok) == 1)
        #expect(!first.contains("switchyard_tokens_total{"), "no usage was reported yet: \(first)")

        finish("fast", "openai", 200, usage: Usage(promptTokens: 3, completionTokens: 4))
        finish("fast", "openai", 200, usage: Usage(promptTokens: 5, completionTokens: 6))
        finish("unknown-model", nil, 503, usage: nil)
        finish("unknown-model", nil, 503, usage: Usage(promptTokens: 1, completionTokens: 1))
        let text = Self.exposition(metrics)
        #expect(Self.value(text, ok) == 3)
        #expect(Self.value(text, Self.prompt) == 8)
        #expect(Self.value(text, Self.completion) == 10)
        let failed = #"\#(Self.requests){api="chat",model="other",provider="none",outcome="error",status_class="5xx"}"#
        #expect(Self.value(text, failed) == 2)
        // Tokens without an answering provider are not counted (there is no provider to name).
        #expect(!text.contains(#"switchyard_tokens_total{provider="none""#), "\(text)")
        #expect(Self.value(text, #"switchyard_request_duration_seconds_count{provider="openai"}"#) == 3)
        #expect(Self.value(text, #"switchyard_request_duration_seconds_count{provider="none"}"#) == 2)
    }

    /// A request that finishes after a reload is labelled by the reloaded configuration, as it was
    /// when every request checked the label sets itself: the cached handles must not outlive them.
    @Test func requestsAndAttemptsCountedAfterAReloadTakeItsLabels() {
        let metrics = GatewayMetrics(providers: ["openai"], models: ["fast"])
        metrics.requestFinished(
            api: .chatCompletions, model: "fast", provider: "openai", outcome: .ok, status: 200,
            duration: .milliseconds(1), usage: Usage(promptTokens: 1, completionTokens: 1))
        metrics.attempt(provider: "openai", outcome: .ok)
        metrics.updateLabels(providers: ["anthropic"], models: ["slow"])
        metrics.requestFinished(
            api: .chatCompletions, model: "fast", provider: "openai", outcome: .ok, status: 200,
            duration: .milliseconds(1), usage: Usage(promptTokens: 1, completionTokens: 1))
        metrics.attempt(provider: "openai", outcome: .ok)
        let text = Self.exposition(metrics)
        let before = #"\#(Self.requests){api="chat",model="fast",provider="openai",outcome="ok",status_class="2xx"}"#
        let after = #"\#(Self.requests){api="chat",model="other",provider="other",outcome="ok",status_class="2xx"}"#
        #expect(Self.value(text, before) == 1)
        #expect(Self.value(text, after) == 1)
        #expect(Self.value(text, Self.prompt) == 1)
        #expect(Self.value(text, #"switchyard_tokens_total{provider="other",model="other",type="prompt"}"#) == 1)
        #expect(Self.value(text, #"switchyard_upstream_attempts_total{provider="openai",outcome="ok"}"#) == 1)
        #expect(Self.value(text, #"switchyard_upstream_attempts_total{provider="other",outcome="ok"}"#) == 1)
    }

    /// The handle caches keep the last entry apart: requests whose labels alternate must each
    /// be counted under their own.
    @Test func alternatingLabelsAreEachCountedUnderTheirOwn() {
        let metrics = GatewayMetrics(providers: ["openai", "anthropic"], models: ["fast", "slow"])
        for (model, provider) in [("fast", "openai"), ("slow", "anthropic"), ("fast", "openai"), ("fast", "anthropic")]
        {
            metrics.requestFinished(
                api: .chatCompletions, model: model, provider: provider, outcome: .ok, status: 200,
                duration: .milliseconds(1), usage: nil)
            metrics.attempt(provider: provider, outcome: .ok)
        }
        let text = Self.exposition(metrics)
        func requests(_ model: String, _ provider: String) -> Double? {
            Self.value(
                text,
                #"\#(Self.requests){api="chat",model="\#(model)",provider="\#(provider)",outcome="ok",status_class="2xx"}"#
            )
        }
        #expect(requests("fast", "openai") == 2)
        #expect(requests("slow", "anthropic") == 1)
        #expect(requests("fast", "anthropic") == 1)
        #expect(Self.value(text, #"switchyard_upstream_attempts_total{provider="openai",outcome="ok"}"#) == 2)
        #expect(Self.value(text, #"switchyard_upstream_attempts_total{provider="anthropic",outcome="ok"}"#) == 2)
    }
}
