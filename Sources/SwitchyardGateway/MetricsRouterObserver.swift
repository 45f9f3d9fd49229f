import Logging
import SwitchyardCore
import SwitchyardRouting

/// Turns router events into metrics and structured log lines. Payload-free by construction:
/// the router hands over target keys, attempt numbers and outcome labels only.
///
/// A class: the router calls it through an existential twice per attempt, and each call copied
/// the struct (a retain and release of the metrics and of the logger's handler). The debug lines
/// are decided by the level the logger had when the observer was made (a `Logger` is a value;
/// reading its level copies its handler every time).
final class MetricsRouterObserver: RouterObserver {
    let metrics: GatewayMetrics
    let logger: Logger
    let logsDebug: Bool

    init(metrics: GatewayMetrics, logger: Logger) {
        self.metrics = metrics
        self.logger = logger
        self.logsDebug = logger.logLevel <= .debug
    }

    func provider(of target: String) -> String { String(target.prefix { $0 != "/" }) }

    func attemptFinished(requestID: String, record: AttemptRecord) {
        metrics.attempt(provider: record.provider, outcome: record.outcome)
        guard logsDebug else { return }
        logger.debug(
            "upstream attempt",
            metadata: [
                "request_id": .string(requestID), "target": .string(record.target),
                "attempt": .stringConvertible(record.attempt),
                "outcome": .string(record.outcome.rawValue),
            ])
    }

    func retryScheduled(requestID: String, target: String, attempt: Int, delay: Duration) {
        metrics.retry(provider: provider(of: target))
        logger.debug(
            "retry scheduled",
            metadata: [
                "request_id": .string(requestID), "target": .string(target), "attempt": .stringConvertible(attempt),
                "delay_ms": .stringConvertible(delay.wholeMilliseconds),
            ])
    }

    func fallback(requestID: String, from: String, to: String, reason: AttemptOutcome?) {
        metrics.fallback(from: provider(of: from), to: provider(of: to))
        logger.info(
            "fallback",
            metadata: [
                "request_id": .string(requestID), "from": .string(from), "to": .string(to),
                "reason": .string(reason?.rawValue ?? "unavailable"),
            ])
    }

    func targetSkipped(requestID: String, target: String, reason: SkipReason) {
        logger.debug(
            "target skipped",
            metadata: ["request_id": .string(requestID), "target": .string(target), "reason": .string(reason.rawValue)])
    }

    func breakerChanged(target: String, from: BreakerState, to: BreakerState) {
        metrics.breakerState(target: target, provider: provider(of: target), state: to.gaugeValue)
        logger.warning(
            "circuit breaker",
            metadata: ["target": .string(target), "from": .string(from.rawValue), "to": .string(to.rawValue)])
    }

    func budgetExhausted(requestID: String, target: String) {
        logger.warning(
            "retry budget exhausted", metadata: ["request_id": .string(requestID), "target": .string(target)])
    }

    func allTargetsUnavailable(requestID: String, retryAfterSeconds: Int) {
        logger.warning(
            "all targets unavailable",
            metadata: ["request_id": .string(requestID), "retry_after_s": .stringConvertible(retryAfterSeconds)])
    }

    func malformedStreamEvents(requestID: String, target: String, count: Int) {
        for _ in 0..<count { metrics.malformedEvent(provider: provider(of: target)) }
        logger.warning(
            "malformed stream event skipped",
            metadata: ["request_id": .string(requestID), "target": .string(target), "count": .stringConvertible(count)])
    }

    func continuation(requestID: String, from: String, to: String, outcome: ContinuationOutcome) {
        metrics.continuation(from: provider(of: from), to: to == "none" ? nil : provider(of: to), outcome: outcome)
        logger.info(
            "stream continuation",
            metadata: [
                "request_id": .string(requestID), "from": .string(from), "to": .string(to),
                "outcome": .string(outcome.rawValue),
            ])
    }
}

extension BreakerState {
    /// The value of `switchyard_breaker_state`: 0 closed, 1 half-open, 2 open.
    var gaugeValue: Int {
        switch self {
        case .closed: 0
        case .halfOpen: 1
        case .open: 2
        }
    }
}
