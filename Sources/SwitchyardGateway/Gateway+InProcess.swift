package import Logging
package import SwitchyardCore
import SwitchyardRouting

extension Gateway {
    /// A gateway without edge, task store or transport, for drivers that run it in process (the
    /// fuzz harness): `upstream` answers every provider call, through the same redaction of
    /// configured secrets as under `SwitchyardServer`, and `sleep` stands in for the router's
    /// backoff and Retry-After waits. It routes, authenticates and answers as under
    /// `SwitchyardServer`, except that `/v1/tasks` answers 503 (no store) and `Idempotency-Key`
    /// is ignored; no health checks run.
    package static func inProcess(
        config: SwitchyardConfig, environment: [String: String], upstream: any Upstream, logger: Logger,
        sleep: @escaping @Sendable (Duration) async throws -> Void
    ) throws(ConfigErrors) -> Gateway {
        let table = try RouteTable(config: config, environment: environment)
        let metrics = GatewayMetrics(providers: table.providerNames, models: Array(table.configuredModelNames))
        let redacting = RedactingUpstream(upstream, redactor: table.redactor)
        let router = Router(
            upstream: redacting, policy: RoutingPolicy(config), logger: logger,
            observer: MetricsRouterObserver(metrics: metrics, logger: logger), sleep: sleep)
        return Gateway(table: table, router: router, metrics: metrics, upstream: redacting, logger: logger)
    }
}
