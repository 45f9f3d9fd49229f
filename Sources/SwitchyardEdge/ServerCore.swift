import SwitchyardThreads
import Synchronization

/// State shared by one server's MHD callbacks, handler tasks and heartbeat timer.
///
/// Handed to MHD as the callbacks' `cls`, retained by `MHDDaemon` until after
/// `MHD_stop_daemon` returns. All mutable state is atomic or inside a `Mutex`.
final class ServerCore: Sendable {
    let configuration: HTTPServerConfiguration
    let handler: any HTTPHandler
    let inFlight = Atomic<Int>(0)
    /// Open streams (`RequestContext.startStream` ... `finish` or the request's end).
    let streams = Atomic<Int>(0)
    /// Rung when `streams` goes from 0 to 1: the heartbeat timer sleeps while no stream is open.
    let streamOpened = Doorbell()
    /// Heartbeat passes made (`heartbeat(interval:bytes:)`) and times the timer went to sleep
    /// for want of a stream, for tests.
    let heartbeatPasses = Atomic<Int>(0)
    let heartbeatParks = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    private let draining = Atomic<Bool>(false)
    /// Every request context between MHD's URI-log and request-completed callbacks.
    private let live = Mutex<[ObjectIdentifier: RequestContext]>([:])
    /// Every open connection, between MHD's "started" and "closed" notifications.
    let connections: ConnectionTable
    /// Hang-ups and deadlines; its thread runs while the daemon does (`MHDDaemon`).
    let watcher: ConnectionWatcher?
    /// Accepts new connections and picks the loop that serves each (`HTTPServer.start`).
    let acceptor = Acceptor()

    init(configuration: HTTPServerConfiguration, handler: any HTTPHandler) {
        self.configuration = configuration
        self.handler = handler
        connections = ConnectionTable(
            limits: .init(
                maxConnections: configuration.maxConnections, perPeer: configuration.maxConnectionsPerPeer,
                perLoopbackPeer: configuration.maxConnectionsPerLoopbackPeer))
        watcher = ConnectionWatcher(tick: Self.sweepInterval(configuration))
    }

    /// How often deadlines are checked: a quarter of the shorter one, within 50 ms ... 1 s.
    static func sweepInterval(_ configuration: HTTPServerConfiguration) -> Duration {
        let shorter = min(configuration.headerTimeout, configuration.bodyTimeout)
        return min(.seconds(1), max(.milliseconds(50), shorter / 4))
    }

    /// MHD's "started" notification (MHD thread): count it, watch it for hang-ups, and displace
    /// a waiting connection if this one goes past `maxConnections`.
    func connectionOpened(fd: Int32, peer: PeerAddress?) -> EdgeConnection {
        let (connection, displaced) = connections.open(fd: fd, peer: peer, server: self)
        connection.opened()
        watcher?.connectionOpened()
        if displaced != nil { configuration.onConnectionDropped?(.displaced) }
        return connection
    }

    /// MHD's "closed" notification, before it closes the socket.
    func connectionClosed(_ connection: EdgeConnection) {
        connections.close(connection)
    }

    /// The watcher's periodic pass: drops connections past their head or body deadline.
    func sweep(now: ContinuousClock.Instant, tick: Duration) {
        let headerTimeout = configuration.headerTimeout
        let bodyTimeout = configuration.bodyTimeout
        for connection in connections.snapshot() {
            if let reason = connection.sweep(
                now: now, headerTimeout: headerTimeout, bodyTimeout: bodyTimeout, tick: tick)
            {
                configuration.onConnectionDropped?(reason)
            }
        }
    }

    var isStopping: Bool { stopping.load(ordering: .sequentiallyConsistent) }

    /// Set by `HTTPServer.quiesce()`: answers from now on carry `Connection: close`, so keep-alive
    /// clients move to another instance instead of sending more requests to this one.
    var isDraining: Bool { draining.load(ordering: .relaxed) }

    func beginDraining() { draining.store(true, ordering: .relaxed) }

    func register(_ context: RequestContext) {
        live.withLock { $0[ObjectIdentifier(context)] = context }
    }

    func unregister(_ context: RequestContext) {
        _ = live.withLock { $0.removeValue(forKey: ObjectIdentifier(context)) }
    }

    /// Marks the server stopping, then resumes every suspended connection so that
    /// `MHD_stop_daemon` finds none (it panics otherwise).
    ///
    /// Why this cannot miss one: a context is registered before its first suspend, and suspends
    /// only after reading `isStopping == false` under its lock. If the snapshot below misses a
    /// context, its registration came after the snapshot, hence after the store of `stopping`,
    /// so it reads true and never suspends. A context in the snapshot is woken under its lock.
    func beginStopping() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        let contexts = live.withLock { Array($0.values) }
        for context in contexts {
            context.wakeForStop()
        }
    }

    /// One heartbeat pass over open streams.
    func heartbeat(interval: Duration, bytes: [UInt8]) {
        heartbeatPasses.add(1, ordering: .relaxed)
        let contexts = live.withLock { Array($0.values) }
        let now = ContinuousClock.now
        for context in contexts {
            context.heartbeat(now: now, interval: interval, bytes: bytes)
        }
    }

    /// The edge's own error answer (413, 500, 503) as configured, in the shape of the route
    /// `rawTarget` names when it is known.
    func errorResponse(_ status: Int, _ message: String, rawTarget: String? = nil) -> (HTTPHeaders, [UInt8]) {
        if let rawTarget, let forPath = configuration.errorResponseForPath {
            let path = rawTarget.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            if let answer = forPath(status, message, String(path)) { return answer }
        }
        return configuration.errorResponse(status, message)
    }
}
