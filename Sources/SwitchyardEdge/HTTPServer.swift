import Synchronization

/// The gateway's inbound HTTP/1.1 server: libmicrohttpd underneath, Swift handlers on top.
///
/// One MHD epoll thread does all socket I/O; each request runs its handler on a Swift Task while
/// its connection is suspended, and streams suspend between writes (see `MHDDaemon` for the
/// threading choice and `RequestContext` for the suspend/resume protocol).
public final class HTTPServer: Sendable {
    private enum Lifecycle {
        case idle
        case running(MHDDaemon, heartbeat: Task<Void, Never>?)
        case stopped
    }

    private let core: ServerCore
    private let lifecycle = Mutex(Lifecycle.idle)
    private let boundPort = Atomic<Int>(0)

    /// Validates the configuration; nothing is bound until `start()`.
    public init(configuration: HTTPServerConfiguration, handler: any HTTPHandler) throws(HTTPServerError) {
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
            let daemon = try MHDDaemon(core: core, listenSocket: socket)
            boundPort.store(socket.port, ordering: .releasing)
            state = .running(daemon, heartbeat: startHeartbeat())
        }
    }

    /// The bound TCP port once started, else 0.
    public var port: Int { boundPort.load(ordering: .acquiring) }

    /// Connections open now (accepted, not yet closed).
    public var openConnections: Int { core.connections.count }

    /// Streams started and not yet finished.
    public var openStreams: Int { core.streams.load(ordering: .relaxed) }

    /// Requests begun and not over: from the request line until MHD has sent the whole answer (a
    /// stream until its last byte) or the connection ended. Drain waits for zero: an answer
    /// queued is not yet delivered, and an upload under way still expects one.
    public var inFlightRequests: Int { core.inFlight.load(ordering: .relaxed) }

    /// Stops accepting new connections (MHD_quiesce_daemon); open connections are still served.
    public func quiesce() {
        core.beginDraining()
        lifecycle.withLock { state in
            if case .running(let daemon, _) = state { daemon.quiesce() }
        }
    }

    /// Closes every connection and the listen socket, cancels handler tasks of unfinished requests
    /// and releases all per-request contexts. Idempotent; blocks until MHD's thread has exited.
    public func stop() {
        let running: (MHDDaemon, Task<Void, Never>?)? = lifecycle.withLock { state in
            defer { state = .stopped }
            if case .running(let daemon, let heartbeat) = state { return (daemon, heartbeat) }
            return nil
        }
        guard let (daemon, heartbeat) = running else { return }
        heartbeat?.cancel()
        daemon.stop()
    }

    deinit {
        stop()
    }

    /// One timer for all streams: every half interval, idle streams get `heartbeatBytes`.
    private func startHeartbeat() -> Task<Void, Never>? {
        guard let interval = core.configuration.heartbeatInterval else { return nil }
        let bytes = core.configuration.heartbeatBytes
        let tick = max(interval / 2, .milliseconds(5))
        return Task.detached { [core] in
            while !Task.isCancelled {
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
