import Logging
import SwitchyardCore
import SwitchyardProviders
import Synchronization

/// Background health of each provider, from its free model-listing endpoint (never a billed
/// completion): `GET base_url + healthPath` with the provider's own auth headers.
final class ProviderHealth: Sendable {
    struct Status: Sendable, Equatable {
        var up: Bool
        /// Payload-free reason: `ok`, `http_401`, `timeout_total`, …
        var detail: String
    }

    private let states = Mutex<[String: Status]>([:])
    private let task = Mutex<Task<Void, Never>?>(nil)
    let upstream: any Upstream
    let metrics: GatewayMetrics
    let logger: Logger

    init(upstream: any Upstream, metrics: GatewayMetrics, logger: Logger) {
        self.upstream = upstream
        self.metrics = metrics
        self.logger = logger
    }

    var snapshot: [String: Status] { states.withLock { $0 } }

    /// Probes every provider now, then every `interval` until `stop()`.
    func start(table: @escaping @Sendable () -> RouteTable, interval: Duration) {
        let t = Task { [weak self] in
            while !Task.isCancelled {
                guard let self else { return }
                await self.probeAll(table())
                try? await Task.sleep(for: interval)
            }
        }
        task.withLock { $0 = t }
    }

    func stop() { task.withLock { $0?.cancel() } }

    func probeAll(_ table: RouteTable) async {
        await withTaskGroup(of: Void.self) { group in
            for p in table.providers.values where p.missingKeyEnv == nil {
                group.addTask { await self.probe(p) }
            }
        }
    }

    func probe(_ p: ResolvedProvider) async {
        let request = UpstreamRequest(
            method: "GET", url: p.config.baseURL + p.codec.healthPath, headers: p.headers, body: [],
            connectTimeout: .milliseconds(p.config.connectTimeoutMs), timeout: .seconds(10))
        let status: Status
        do {
            let r = try await upstream.perform(request)
            status =
                (200..<300).contains(r.head.status)
                ? Status(up: true, detail: "ok") : Status(up: false, detail: "http_\(r.head.status)")
        } catch {
            if error == .cancelled { return }
            status = Status(up: false, detail: error.kind)
        }
        let previous = states.withLock { s in
            defer { s[p.config.name] = status }
            return s[p.config.name]
        }
        metrics.providerUp(provider: p.config.name, up: status.up)
        if previous != status {
            logger.log(
                level: status.up ? .info : .warning, "provider health",
                metadata: [
                    "provider": .string(p.config.name), "up": .stringConvertible(status.up),
                    "detail": .string(status.detail),
                ])
        }
    }
}
