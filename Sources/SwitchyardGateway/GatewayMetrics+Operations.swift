import Prometheus
import SwitchyardCore
import SwitchyardRouting
import Synchronization

/// Series that exist before anything happens, and the gateway's own state (build, reloads,
/// rejected requests).
///
/// A series that appears only with its first event misleads the rules that read it: `min()` over
/// breaker states sees only the targets that ever changed, so "every breaker open" fired while a
/// fallback served every request; `rate()` over a counter born at 1 never sees that first
/// increment. So every configured target's breaker, each provider's counters and every rejection
/// reason are exported from start-up, at zero.
extension GatewayMetrics {
    /// Start-up and reload: `switchyard_breaker_state` for each of `targets` (target key → provider
    /// name). A target without a series gets one at its router state, closed when the router has not
    /// used it yet; an existing series keeps what its last transition set. Every other series goes,
    /// except one showing a breaker that is not closed on a provider in `usableProviders` (a
    /// `provider/model` or prefix-route target the router still tracks: removing it would clear an
    /// alert that is still true; it goes at the first reload after it closed).
    func exportBreakers(_ targets: [String: String], states: [String: Int], usableProviders: Set<String>) {
        let labels = targets.mapValues { providerLabel($0) }
        let removed = breakers.withLock { series -> [Gauge] in
            var removed: [Gauge] = []
            for (target, s) in series where labels[target] == nil {
                let provider = String(target.prefix { $0 != "/" })
                if s.value != 0, usableProviders.contains(provider) { continue }
                series[target] = nil
                removed.append(s.gauge)
            }
            for (target, provider) in labels where series[target] == nil {
                let value = states[target] ?? 0
                let gauge = breakerGauge(target, provider)
                gauge.set(Double(value))
                series[target] = BreakerSeries(provider: provider, gauge: gauge, value: value)
            }
            return removed
        }
        for gauge in removed { registry.unregisterGauge(gauge) }
    }

    /// Creates, at zero, the per-provider counters the alerts take rates of, the fallback edges the
    /// configured models can take (`from` → `to`, in target order) and every rejection reason.
    func exportCounters(providers: [String], fallbackEdges: [(from: String, to: String)]) {
        for p in providers.map(providerLabel) {
            _ = attempts(p, .ok)
            _ = retries(p)
            _ = malformedEvents(p)
        }
        for edge in fallbackEdges { _ = fallbacks(providerLabel(edge.from), providerLabel(edge.to)) }
        for reason in RejectionReason.allCases { _ = rejections(reason) }
    }

    /// `switchyard_build_info{version,store_schema} 1`: which build (and which store schema it
    /// migrates files to) each instance runs, for dashboards and upgrade checks.
    func buildInfo(version: String, storeSchema: Int) {
        gauge(
            "build_info", "", "Always 1; the labels say which build runs and the store schema it writes.",
            [("version", version), ("store_schema", String(storeSchema))]
        ).set(1.0)
    }

    /// A configuration was loaded: at start (`success`, counted as no reload) or on SIGHUP.
    /// `switchyard_config_reloads_total{result}`, `switchyard_config_last_reload_successful` and
    /// `switchyard_config_last_reload_success_timestamp_seconds` (the names Prometheus itself uses).
    func configLoaded(success: Bool, reload: Bool, unixSeconds: Double) {
        let help = "Configuration reloads (SIGHUP) by result."
        let succeeded = counter("config_reloads", help, [("result", "success")])
        let failed = counter("config_reloads", help, [("result", "failure")])
        if reload { (success ? succeeded : failed).increment() }
        gauge(
            "config_last_reload_successful", "",
            "1 when the last configuration load succeeded, 0 when a reload was refused (the previous one serves).", []
        ).set(success ? 1.0 : 0.0)
        if success {
            gauge(
                "config_last_reload_success_timestamp", "seconds",
                "Unix time of the last successful configuration load (start-up or reload).", []
            ).set(unixSeconds)
        }
    }

    /// A request refused before any endpoint handled it.
    func rejected(_ reason: RejectionReason) { rejections(reason).increment() }

    func rejections(_ reason: RejectionReason) -> Counter {
        counter(
            "rejected_requests", "Requests refused before reaching an endpoint, by reason (401, 404, 405, 413, ...).",
            [("reason", reason.rawValue)])
    }

    /// One event loop, when `/metrics` is read: `switchyard_event_loop_connections{loop}`, the
    /// client connections it serves; `switchyard_event_loop_upstream_connections{loop}`, the
    /// upstream connections its transfers hold open (idle keep-alive ones included: each loop
    /// keeps its own); and `switchyard_event_loop_cpu_seconds_total{loop}`, its thread's CPU time
    /// (busy exactly when not waiting for I/O). Together they show how the listening socket spread
    /// the connections, what each loop costs in upstream connections, and how near a loop is to a
    /// full core (1 CPU second per second), which is what `event_loops` is chosen by.
    func eventLoop(_ index: Int, connections: Int, upstreamConnections: Int, cpuTime: Duration?) {
        let label = [("loop", String(index))]
        gauge("event_loop_connections", "", "Client connections each event loop serves now.", label)
            .set(Double(connections))
        let upstreamHelp = "Upstream connections each event loop holds open now, idle keep-alive ones included."
        gauge("event_loop_upstream_connections", "", upstreamHelp, label).set(Double(upstreamConnections))
        guard let cpuTime else { return }
        let seconds = cpuTime.inSeconds
        let delta = loopCPUExported.withLock { exported -> Double in
            let before = exported[index] ?? 0
            guard seconds > before else { return 0 }
            exported[index] = seconds
            return seconds - before
        }
        let help = "CPU time of each event loop's thread (it is busy exactly when it is not waiting for I/O)."
        counter("event_loop_cpu_seconds", help, label).increment(by: delta)
    }

    /// `switchyard_accept_errors_total{error}`: spells of failing to accept new connections for
    /// want of a resource (`HTTPServerConfiguration.onAcceptError`).
    func acceptErrors(_ error: String) -> Counter {
        let help = "Spells of failing to accept new client connections for want of a resource (descriptors, memory)."
        return counter("accept_errors", help, [("error", error)])
    }

    /// `switchyard_event_loop_stalls_total{loop}`: times a loop was found not turning for a second
    /// or more (the edge's watcher, `HTTPServerConfiguration.onLoopStall`).
    func loopStalls(_ index: Int) -> Counter {
        let help = "Times an event loop was found not turning (busy in one job, or given no CPU) for a second or more."
        return counter("event_loop_stalls", help, [("loop", String(index))])
    }

    /// `switchyard_log_lines_dropped_total`: log lines dropped because the reader of stderr fell
    /// behind (`LogSink.droppedLines`, brought up to date when `/metrics` is read).
    func logDrops() -> Counter {
        let help = "Log lines dropped because the reader of the log (stderr) fell behind; logging never waits for it."
        return counter("log_lines_dropped", help, [])
    }

    func logLinesDropped(total: Int) {
        let delta = logDropsExported.withLock { exported -> Int in
            guard total > exported else { return 0 }
            defer { exported = total }
            return total - exported
        }
        if delta > 0 { logDrops().increment(by: Int64(delta)) }
    }

    func acceptFailed(_ error: String) { acceptErrors(error).increment() }

    func loopStalled(_ index: Int) { loopStalls(index).increment() }

    /// Shows the rare-event counters at 0 from the start, for every loop, every resource an accept
    /// can run out of, and dropped log lines: an alert on `increase(...) > 0` then sees the first
    /// event, and the set of series does not grow when the first one happens.
    func registerRareEvents(loops: Int, acceptErrors names: [String]) {
        for index in 0..<loops { _ = loopStalls(index) }
        for name in names { _ = acceptErrors(name) }
        _ = logDrops()
    }
}
