public import Logging
public import SwitchyardCore
import SwitchyardEdge
import SwitchyardInbound
import SwitchyardLoop
import SwitchyardRouting
import SwitchyardStore
import SwitchyardTasks
import SwitchyardUpstream
import SwitchyardWorkers
import UnixSignals

/// Wires the pieces together and owns the process lifecycle: start, SIGHUP reload,
/// SIGTERM/SIGINT drain, stop.
public final class SwitchyardServer: Sendable {
    public let gateway: Gateway
    let server: HTTPServer
    let upstream: CurlUpstream
    let loops: EventLoopGroup
    /// `upstream` behind the route table's secrets: what the router and the health checks use.
    let redacting: RedactingUpstream
    /// Runs requests whose body is at least `largeBodyBytes` (see `HTTPServerConfiguration`).
    let workers: WorkerPool
    let runtime: TaskRuntime
    /// The configured store (tasks, idempotency records, stored responses).
    let stores: ConfiguredStores
    /// Tells the task runtime when another process may have written the SQLite file (nil on
    /// PostgreSQL, which announces commits itself, or where inotify is refused: then it polls).
    let fileWatch: SQLiteFileWatch?
    let logger: Logger
    let configPath: String?
    let environment: [String: String]

    /// Returns once every event loop has finished the work it was doing when called: every request
    /// whose answer a client has already read has by then been counted and logged (the edge sends
    /// a full answer just before its handler does both, in the same job; `EventLoop.settle`).
    /// `/metrics` does this itself; a test that reads captured logs after a response awaits it.
    public func settle() async { await loops.settle() }

    /// How often the task runtime asks the SQLite store for other processes' commits when the
    /// file is watched (`SQLiteFileWatch`): a backstop only.
    static let storeWatchBackstop: Duration = .seconds(5)

    /// Threads of the pool that parses and translates large requests (`WorkerPool`).
    static var workerThreads: Int { max(2, EventLoopGroup.availableCores) }
    /// The threads this server's pool started with.
    var workerPoolSize: Int { workers.size }

    /// The bound port (useful with `listen: 127.0.0.1:0`).
    public var port: Int { server.port }
    /// The store's file (`store.path`), or its PostgreSQL URL without the password.
    public var storePath: String { stores.location }

    /// Builds everything, opens the store (`store.path`), binds the listening socket and resumes
    /// the tasks a previous process left in `planning` or `executing`.
    /// Throws `ConfigErrors` for a bad configuration and `StoreError` (naming the file) for a
    /// store that cannot be opened, checked or migrated.
    /// `clock` is the router's monotonic time (breakers, deadlines, cooldowns, the retry budget's
    /// window); tests move it forward instead of waiting out an open breaker.
    public init(
        config: SwitchyardConfig, configPath: String?, environment: [String: String], logger: Logger,
        clock: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) async throws {
        let table = try RouteTable(config: config, environment: environment)
        for w in table.warnings { logger.warning("\(w)") }
        self.logger = logger
        self.configPath = configPath
        self.environment = environment
        // One event loop per core (or `event_loops`): each serves its own connections and drives
        // their upstream transfers, so a request never changes threads (README "Architecture", its "Threads" paragraph).
        loops = try EventLoopGroup(
            count: config.eventLoops > 0 ? config.eventLoops : EventLoopGroup.availableCores)
        // curl's default cache holds 4 idle connections per transfer in flight at the moment one
        // ends, so after a burst it closes most of them and the next burst reconnects (measured:
        // a new upstream connection every 30-50 requests at 64 clients). Each loop keeps as many
        // idle upstream connections as its share of the clients may hold open to us.
        let perLoop = (config.limits.maxConnections + loops.loops.count - 1) / loops.loops.count
        upstream = try CurlUpstream(configuration: .init(maxCachedConnections: max(64, perLoop)), loops: loops)
        redacting = RedactingUpstream(upstream, redactor: table.redactor)
        let metrics = GatewayMetrics(providers: table.providerNames, models: Array(table.configuredModelNames))
        metrics.buildInfo(version: SwitchyardBuild.version, storeSchema: ConfiguredStores.schemaVersion)
        metrics.configLoaded(success: true, reload: false, unixSeconds: WallClock.seconds())
        metrics.registerRareEvents(loops: loops.loops.count, acceptErrors: AcceptError.resourceNames)
        let router = Router(
            upstream: redacting, policy: RoutingPolicy(config), logger: logger,
            observer: MetricsRouterObserver(metrics: metrics, logger: logger), now: clock)
        let storeMonitor = StoreMonitor(metrics: metrics, logger: logger)
        // An unset or malformed `store.url_env` is the configuration's problem (exit 2), as
        // `check-config` reports it, not a database failure.
        if case .failure(let problem)? = config.store.resolvedURL(environment: environment) {
            throw ConfigErrors([problem])
        }
        let stores = try ConfiguredStores.open(
            config.store, environment: environment, listen: true, onWrite: { storeMonitor.record($0) })
        self.stores = stores
        metrics.storeWrite(failureKind: nil)
        let steps = GatewayStepRunner(router: router, table: table)
        let runtime = TaskRuntime(
            store: stores.tasks, runner: steps, workers: config.tasks.workers, observer: metrics, logger: logger)
        self.runtime = runtime
        // A replica's task event streams also follow the commits of the replica running the task.
        _ = stores.postgres?.subscribe { change in
            if change.external { runtime.changedElsewhere(taskID: change.taskID) }
        }
        // A CLI command or another server on the same SQLite file is noticed when the file is
        // written, with no poll while nothing happens (idle, the poll was most of the server's
        // wake-ups); the watcher still asks every `storeWatchBackstop` in case inotify missed one.
        fileWatch = stores.sqlite.flatMap { sqlite in
            SQLiteFileWatch(path: sqlite.path) { runtime.externalChangeHint() }
        }
        if stores.sqlite != nil && fileWatch == nil {
            logger.warning("cannot watch the store file (inotify); polling it every 500 ms")
        }
        let idempotency = IdempotentRequests(
            store: stores.idempotency, ttl: .seconds(config.store.idempotencyTTLSeconds))
        let responses = ResponsesStorage(store: stores.responses, ttl: .seconds(config.store.responsesTTLSeconds))
        gateway = Gateway(
            table: table, router: router, metrics: metrics, upstream: redacting, logger: logger,
            storage: GatewayStorage(
                tasks: TaskService(runtime: runtime), runtime: runtime, steps: steps, idempotency: idempotency,
                responses: responses, writeFailure: { stores.lastWriteFailure }), loops: loops)
        var edge = HTTPServerConfiguration()
        edge.host = config.listen.host == "localhost" ? "127.0.0.1" : config.listen.host
        edge.port = UInt16(config.listen.port)
        edge.maxConnections = config.limits.maxConnections
        edge.maxBodyBytes = config.limits.maxBodyBytes
        edge.maxHeaderBytes = config.limits.maxHeaderBytes
        edge.connectionTimeoutSeconds = config.limits.clientTimeoutSeconds
        edge.headerTimeout = .seconds(config.limits.headerTimeoutSeconds)
        edge.bodyTimeout = .seconds(config.limits.bodyTimeoutSeconds)
        edge.maxConnectionsPerPeer = config.limits.maxConnectionsPerPeer
        edge.maxConnectionsPerLoopbackPeer = config.limits.maxConnectionsPerLoopbackPeer
        edge.heartbeatInterval = .milliseconds(config.limits.streamHeartbeatMs)
        // Requests run on the event loop that accepted them; a large body's parsing and translation
        // would hold that loop, and with it every other transfer it drives, so it goes to the
        // worker pool. 32 KiB: bench/hostile measures the work a chat body adds at about 0.05 ms
        // per KiB here (64 KiB: +3 ms, 256 KiB: +9 ms, 1 MiB: +140-230 ms), so above this a
        // request would hold the loop for a millisecond or more, far above the pool's two extra
        // thread hand-offs (tens of microseconds).
        // One thread per core the process may use (the loops' CPU budget: affinity and cgroup
        // quota), at least 2: the online CPU count gave a container limited to one CPU on a
        // 16-core host 16 threads parsing large bodies at once.
        workers = WorkerPool(size: Self.workerThreads)
        edge.largeBodyExecutor = workers
        edge.largeBodyBytes = 32 * 1024
        edge.onConnectionDropped = { [metrics] reason in metrics.connectionDropped(reason.rawValue) }
        // Out of descriptors (or memory) to accept with: new clients wait in the backlog while
        // the loop retries every 100 ms. Counted and logged once per spell.
        edge.onAcceptError = { [metrics, logger] error in
            metrics.acceptFailed(error.name)
            logger.warning(
                "cannot accept new connections; retrying every 100 ms",
                metadata: ["error": "\(error.name)", "detail": "\(error.description)"])
        }
        // Nothing on a loop may block: a loop that has not turned for a second holds every
        // connection and transfer it owns. Counted and logged, once per stuck turn; `cpu_ms` tells
        // a job computing on the loop (about `stalled_ms`) from a job blocked in a system call or
        // a machine that gave the loop no CPU (near 0).
        edge.onLoopStall = { [metrics, logger] stall in
            metrics.loopStalled(stall.loop)
            var metadata: Logger.Metadata = [
                "loop": "\(stall.loop)", "stalled_ms": "\(stall.stuck.wholeMilliseconds)",
            ]
            if let cpu = stall.cpu { metadata["cpu_ms"] = "\(cpu.wholeMilliseconds)" }
            logger.warning("event loop stalled: it has not turned, delaying every connection on it", metadata: metadata)
        }
        let maxBody = config.limits.maxBodyBytes
        // Answers the edge gives itself (413, a malformed request, 503 while stopping) are
        // rejections too: counted and logged like the gateway's own.
        let rejected: @Sendable (Int) -> Void = { [metrics, logger] status in
            let reason = RejectionReason(edgeStatus: status)
            metrics.rejected(reason)
            logger.info(
                "request rejected",
                metadata: ["status": .stringConvertible(status), "reason": .string(reason.rawValue)])
        }
        edge.errorResponse = { status, message in
            rejected(status)
            return (
                ["Content-Type": "application/json"], Gateway.edgeError(status, message, maxBodyBytes: maxBody).body
            )
        }
        // Under `/v1/messages` the same pages in Anthropic's shape, with a `request-id`.
        edge.errorResponseForPath = { status, message, path in
            let format = Gateway.errorFormat(path: path)
            guard format.api == .anthropicMessages else { return nil }
            rejected(status)
            let error = Gateway.edgeError(status, message, maxBodyBytes: maxBody)
            let requestID = RequestID.from(nil)
            var headers: HTTPHeaders = ["Content-Type": "application/json", "x-request-id": requestID]
            for (k, v) in format.responseHeaders(requestID: requestID) { headers.add(k, v) }
            return (headers, format.encodeError(error, requestID: requestID))
        }
        do {
            server = try HTTPServer(configuration: edge, handler: gateway, loops: loops)
            try server.start()
        } catch {
            workers.shutdown()
            fileWatch?.stop()
            throw error
        }
        if config.healthCheckMs > 0 {
            let gateway = gateway
            gateway.health.start(table: { gateway.currentTable }, interval: .milliseconds(config.healthCheckMs))
        }
        logger.info(
            "listening",
            metadata: [
                "address": .string(config.listen.host), "port": .stringConvertible(server.port),
                "providers": .array(table.providerNames.map { .string($0) }),
                "auth": .string(table.authRequired ? "required" : "off"),
                "store": .string(stores.location),
            ])
        // Claims still in flight belong to a process that died before it answered: kept, they would
        // answer 409 to the client's retries until they expired.
        _ = try? await idempotency.store.purgeExpired()
        _ = try? await responses.store.purgeExpiredResponses()
        let released = (try? await idempotency.store.releaseInFlight()) ?? 0
        if released > 0 {
            logger.info("idempotency keys released after restart", metadata: ["count": .stringConvertible(released)])
        }
        do {
            let resumed = try await runtime.recover()
            if resumed > 0 { logger.info("tasks resumed", metadata: ["count": .stringConvertible(resumed)]) }
            runtime.startWatching(interval: fileWatch == nil ? nil : Self.storeWatchBackstop)
        } catch {
            stop()
            throw error
        }
    }

    /// SIGTERM, SIGINT and SIGHUP, trapped: from the moment this returns they are queued for
    /// `runUntilSignalled` instead of killing the process. Call it before `init`, which starts the
    /// listener: a SIGTERM sent while the server starts (a rollout, a probe failing) is then a drain,
    /// not a kill in the middle of opening the store or recovering tasks.
    public static func trapSignals() async -> TrappedSignals {
        TrappedSignals(sequence: await UnixSignalsSequence(trapping: .sigterm, .sigint, .sighup))
    }

    /// Serves until SIGTERM or SIGINT, then drains for up to `shutdownGraceMs`. `signals` from
    /// `trapSignals()` (trapped now when nil).
    public func runUntilSignalled(_ trapped: TrappedSignals? = nil) async {
        let signals: UnixSignalsSequence
        if let trapped { signals = trapped.sequence } else { signals = await Self.trapSignals().sequence }
        for await signal in signals {
            if signal == .sighup {
                reload()
                continue
            }
            logger.info("shutting down", metadata: ["signal": .string(String(describing: signal))])
            break
        }
        await drain()
    }

    /// Re-reads the configuration file; a bad file is refused and the old configuration stays.
    public func reload() {
        guard let configPath else {
            logger.warning("SIGHUP ignored: no configuration file (embedded default in use)")
            return
        }
        do {
            let config = try ConfigLoader.load(path: configPath)
            let table = try RouteTable(config: config, environment: environment)
            for w in table.warnings { logger.warning("\(w)") }
            redacting.update(table.redactor)
            gateway.reload(table)
            gateway.router.updatePolicy(RoutingPolicy(config))
            gateway.metrics.configLoaded(success: true, reload: true, unixSeconds: WallClock.seconds())
            logger.info("configuration reloaded", metadata: ["path": .string(configPath)])
        } catch {
            gateway.metrics.configLoaded(success: false, reload: true, unixSeconds: 0)
            logger.error(
                "configuration reload refused; keeping the previous one", metadata: ["problems": .string("\(error)")])
        }
    }

    /// Stops accepting, lets requests and streams in flight finish within the grace period, stops.
    ///
    /// Tasks stop at a step boundary: no step starts after the drain begins, a step in flight gets
    /// the grace period to finish and be checkpointed, and task event streams end. Tasks stay
    /// `executing` in the store (not `paused`), so the next start resumes them on its own; a step
    /// still in flight when the grace period ends is cancelled and runs again then (at-least-once).
    public func drain() async {
        gateway.beginDraining()
        runtime.quiesce()
        server.quiesce()
        let grace = Duration.milliseconds(gateway.currentTable.config.shutdownGraceMs)
        let deadline = ContinuousClock.now + grace
        while server.inFlightRequests > 0 || runtime.busyWorkers > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        // A shared store: the tasks this process held go to another replica now, not a lease
        // later (after the runtime stopped, so it claims nothing more).
        runtime.stop()
        await stores.releaseClaims()
        stop()
    }

    /// Stops at once: task steps in flight are cancelled without a checkpoint (they run again on
    /// the next start), then the listener and the transport stop and a PostgreSQL store's
    /// connections close (its claims, unless `drain` released them, expire after the lease).
    public func stop() {
        gateway.health.stop()
        fileWatch?.stop()
        runtime.stop()
        server.stop()
        upstream.shutdown()
        workers.shutdown()
        loops.shutdown()
        stores.close()
    }
}

extension RoutingPolicy {
    init(_ c: SwitchyardConfig) {
        self.init()
        attemptsPerTarget = c.retry.attemptsPerTarget
        initialBackoff = .milliseconds(c.retry.initialBackoffMs)
        maxBackoff = .milliseconds(c.retry.maxBackoffMs)
        multiplier = c.retry.multiplier
        deadline = .milliseconds(c.retry.deadlineMs)
        waitRetryAfterCap = .milliseconds(c.retry.waitRetryAfterMs)
        budgetPercent = c.retry.budgetPercent
        budgetMinPerSecond = c.retry.budgetMinRetriesPerSecond
        breakerFailureThreshold = c.circuitBreaker.failureThreshold
        breakerOpenDuration = .milliseconds(c.circuitBreaker.openMs)
    }
}

/// Signals trapped by `SwitchyardServer.trapSignals()`, waiting for `runUntilSignalled`.
public struct TrappedSignals: Sendable {
    let sequence: UnixSignalsSequence
}
