public import SwitchyardLoop
import SwitchyardThreads
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The gateway's inbound HTTP/1.1 server: libmicrohttpd underneath, Swift handlers on top.
///
/// One MHD daemon per event loop; the `Acceptor` accepts on the listening socket and gives each
/// connection to one loop's daemon. Each request runs its handler on a Swift Task on the loop that
/// serves its connection while the connection is suspended, and
/// streams suspend between writes (see `MHDDaemon` for the threading choice and `RequestContext`
/// for the suspend/resume protocol).
public final class HTTPServer: Sendable {
    private enum Lifecycle {
        case idle
        case running([MHDDaemon], heartbeat: Task<Void, Never>?)
        case stopped
    }

    let core: ServerCore
    private let group: EventLoopGroup
    private let ownsGroup: Bool
    private let lifecycle = Mutex(Lifecycle.idle)
    private let boundPort = Atomic<Int>(0)

    /// Validates the configuration; nothing is bound until `start()`. Serves on every loop of
    /// `loops`; without a group, on a private one-loop group stopped with the server.
    public init(
        configuration: HTTPServerConfiguration, handler: any HTTPHandler, loops: EventLoopGroup? = nil
    ) throws(HTTPServerError) {
        guard ListenSocket.Address(literal: configuration.host) != nil else {
            throw HTTPServerError(.invalidConfiguration, "host is not an IPv4 or IPv6 literal: \(configuration.host)")
        }
        guard configuration.maxConnections > 0 else {
            throw HTTPServerError(.invalidConfiguration, "maxConnections must be positive")
        }
        guard configuration.maxBodyBytes >= 0, configuration.maxHeaderBytes > 0,
            configuration.connectionTimeoutSeconds >= 0
        else {
            throw HTTPServerError(.invalidConfiguration, "limits must not be negative")
        }
        if let interval = configuration.heartbeatInterval, interval <= .zero {
            throw HTTPServerError(.invalidConfiguration, "heartbeatInterval must be positive")
        }
        do {
            group = try .shared(loops)
        } catch {
            throw HTTPServerError(.startFailed, "cannot start an event loop: \(error)")
        }
        ownsGroup = loops == nil
        core = ServerCore(configuration: configuration, handler: handler)
    }

    /// Binds and starts serving; afterwards `port` is the bound port.
    public func start() throws(HTTPServerError) {
        try lifecycle.withLock { (state: inout Lifecycle) throws(HTTPServerError) in
            guard case .idle = state else {
                throw HTTPServerError(.alreadyStarted, "the server was already started")
            }
            let configuration = core.configuration
            let socket = try ListenSocket.bind(
                host: configuration.host, port: configuration.port,
                backlog: Int32(clamping: max(128, configuration.maxConnections)))
            // One watcher thread for all daemons: hang-ups of suspended connections and deadlines.
            guard let watcher = core.watcher, watcher.start(core: core, loops: group.loops) else {
                close(socket.fd)
                throw HTTPServerError(
                    .startFailed, "cannot start the connection watcher thread: \(ListenSocket.errnoText())")
            }
            // The acceptor owns the socket from here (its `close()` closes it).
            core.acceptor.take(socket: socket.fd)
            var daemons: [MHDDaemon] = []
            do throws(HTTPServerError) {
                for loop in group.loops {
                    let daemon = MHDDaemon(core: core, loop: loop)
                    try daemon.start(port: socket.port)
                    daemons.append(daemon)
                }
                try core.acceptor.start(daemons: daemons)
            } catch {
                core.acceptor.close()
                core.beginStopping()
                for started in daemons { started.stop() }
                watcher.stop()
                throw error
            }
            boundPort.store(socket.port, ordering: .releasing)
            state = .running(daemons, heartbeat: startHeartbeat())
        }
    }

    /// The bound TCP port once started, else 0.
    public var port: Int { boundPort.load(ordering: .acquiring) }

    /// Connections open now (accepted, not yet closed).
    public var openConnections: Int { core.connections.count }

    /// The places the acceptor holds on every daemon (`MHDDaemon.slots`): the open connections and
    /// those being accepted. Back to 0 once every connection closed.
    var slotsTaken: Int { runningDaemons.reduce(0) { $0 + $1.slots.load(ordering: .sequentiallyConsistent) } }

    /// The daemons while the server runs, one per loop.
    var runningDaemons: [MHDDaemon] {
        lifecycle.withLock { state in
            if case .running(let daemons, _) = state { return daemons }
            return []
        }
    }

    /// Streams started and not yet finished.
    public var openStreams: Int { core.streams.load(ordering: .relaxed) }

    /// Requests begun and not over: from the request line until MHD has sent the whole answer (a
    /// stream until its last byte) or the connection ended. Drain waits for zero: an answer
    /// queued is not yet delivered, and an upload under way still expects one.
    public var inFlightRequests: Int { core.inFlight.load(ordering: .relaxed) }

    /// Stops accepting new connections (the kernel refuses them); open connections are still served.
    public func quiesce() {
        core.beginDraining()
        let daemons: [MHDDaemon] = lifecycle.withLock { state in
            if case .running(let daemons, _) = state { return daemons }
            return []
        }
        if !daemons.isEmpty { core.acceptor.stopAccepting() }
    }

    /// Closes every connection and the listen socket, cancels handler tasks of unfinished requests
    /// and releases all per-request contexts. Idempotent; blocks until every loop has stopped its
    /// daemon (and, for a private group, until its thread has exited).
    public func stop() {
        let running: ([MHDDaemon], Task<Void, Never>?)? = lifecycle.withLock { state in
            defer { state = .stopped }
            if case .running(let daemons, let heartbeat) = state { return (daemons, heartbeat) }
            return nil
        }
        if let (daemons, heartbeat) = running {
            heartbeat?.cancel()
            core.acceptor.close()
            // Resume every suspended connection first: MHD_stop_daemon panics on one.
            core.beginStopping()
            for daemon in daemons { daemon.stop() }
            core.watcher?.stop()
        }
        if ownsGroup { group.shutdown() }
    }

    deinit {
        stop()
    }

    /// One timer for all streams: every half interval, idle streams get `heartbeatBytes`. With no
    /// stream open it sleeps until one opens (`ServerCore.streamOpened`) instead of ticking, so a
    /// server with no stream wakes for none of them.
    private func startHeartbeat() -> Task<Void, Never>? {
        guard let interval = core.configuration.heartbeatInterval else { return nil }
        let bytes = core.configuration.heartbeatBytes
        let tick = max(interval / 2, .milliseconds(5))
        return Task.detached { [core] in
            while !Task.isCancelled {
                if core.streams.load(ordering: .relaxed) == 0 {
                    // A stream that opened after the load rang already: the ring is kept.
                    core.heartbeatParks.add(1, ordering: .relaxed)
                    _ = await core.streamOpened.wait(upTo: .seconds(3600))
                    continue
                }
                do {
                    try await Task.sleep(for: tick)
                } catch {
                    return
                }
                core.heartbeat(interval: interval, bytes: bytes)
            }
        }
    }
}
