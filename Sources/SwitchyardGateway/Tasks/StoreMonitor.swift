import Logging
import SwitchyardTasks
import Synchronization

/// Reports the task store's write outcomes (`SQLiteStore.Configuration.onWrite`): metrics for each,
/// and one log line when writes start failing and one when they work again, not one per request.
/// A failing store (a full disk) stops tasks and idempotent requests only; chat goes on.
final class StoreMonitor: Sendable {
    let metrics: GatewayMetrics
    let logger: Logger
    private let failing = Mutex<StoreError.Kind?>(nil)

    init(metrics: GatewayMetrics, logger: Logger) {
        self.metrics = metrics
        self.logger = logger
    }

    func record(_ failure: StoreError?) {
        metrics.storeWrite(failureKind: failure?.kind.rawValue)
        let previous = failing.withLock { state in
            defer { state = failure?.kind }
            return state
        }
        if let failure, previous != failure.kind {
            logger.error(
                "task store write failed; tasks and idempotent requests fail until it works again",
                metadata: ["kind": .string(failure.kind.rawValue), "error": .string(failure.description)])
        } else if failure == nil, let previous {
            logger.notice("task store writes work again", metadata: ["after": .string(previous.rawValue)])
        }
    }
}
