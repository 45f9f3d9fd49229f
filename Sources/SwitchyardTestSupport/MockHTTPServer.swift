import Glibc
public import SwitchyardCore
import Synchronization

/// A request as `MockHTTPServer` received it.
public struct RecordedRequest: Sendable {
    public var method: String
    /// The request target's path, without the query.
    public var path: String
    /// The raw query after `?`, if any.
    public var query: String?
    public var headers: [HeaderField]
    /// The body, de-chunked if it came chunked.
    public var body: [UInt8]
    /// When the whole request had been read.
    public var arrival: ContinuousClock.Instant
    /// Ordinal of the connection it came on (1 = first accepted connection).
    public var connection: Int

    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// A scriptable in-process HTTP/1.1 server on 127.0.0.1, port 0, over raw POSIX sockets.
///
/// One accept thread plus one thread per connection; keep-alive, `Content-Length` and chunked
/// request bodies; TCP_NODELAY. Each request is answered by the handler; every request is logged
/// (unless `recordRequests` is false, for benchmarks) and can be awaited. `stop()` (or deinit)
/// closes everything and waits for the server's threads, releasing stalled responses.
public final class MockHTTPServer: Sendable {
    public typealias Handler = @Sendable (RecordedRequest) -> MockResponse

    /// What the server does with a freshly accepted connection.
    public enum AcceptBehaviour: Sendable {
        /// Read requests and answer them.
        case serve
        /// Close the connection with a TCP RST at once, before reading anything.
        case resetImmediately
    }

    public struct StartError: Error, Sendable {
        public var errno: Int32
    }

    /// The port the server listens on.
    public let port: Int
    let core: MockServerCore

    /// Starts listening on 127.0.0.1:`port` (0 = a free port, read it back from `port`).
    public init(
        port: Int = 0, recordRequests: Bool = true, handler: @escaping Handler = { _ in MockResponse() }
    ) throws(StartError) {
        guard let listener = MockSocket.listen(port: UInt16(port)) else { throw StartError(errno: errno) }
        self.port = listener.port
        core = MockServerCore(
            listenFD: listener.fd, port: listener.port, recordRequests: recordRequests, handler: handler)
        guard core.startAccepting() else {
            core.stop()
            throw StartError(errno: errno)
        }
    }

    deinit { core.stop() }

    /// `http://127.0.0.1:<port>` followed by `path`.
    public func url(_ path: String = "/") -> String { "http://127.0.0.1:\(port)\(path)" }

    /// Replaces the handler for requests read from now on.
    public func setHandler(_ handler: @escaping Handler) { core.state.withLock { $0.handler = handler } }

    /// What happens to connections accepted from now on.
    public var acceptBehaviour: AcceptBehaviour {
        get { core.state.withLock { $0.acceptBehaviour } }
        set { core.state.withLock { $0.acceptBehaviour = newValue } }
    }

    /// Stops listening: new connections are refused (RST to the SYN); open ones carry on.
    public func refuseConnections() { core.stopListening() }

    /// Every request received so far, in arrival order (empty if `recordRequests` is false).
    public var requests: [RecordedRequest] { core.state.withLock { $0.log } }
    /// Requests received so far (counted even when not recorded).
    public var requestCount: Int { core.state.withLock { $0.requestCount } }
    /// Connections accepted so far (including ones reset at once).
    public var acceptedConnections: Int { core.state.withLock { $0.accepted } }
    /// Connections closed so far, by either side.
    public var closedConnections: Int { core.state.withLock { $0.closed } }

    /// Returns once at least `n` requests have arrived (or the server stopped).
    public func waitForRequests(_ n: Int) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let ready = core.state.withLock { s -> Bool in
                if s.requestCount >= n || s.stopped { return true }
                s.requestWaiters.append((n, c))
                return false
            }
            if ready { c.resume() }
        }
    }

    /// Returns once at least `n` connections have been closed (or the server stopped).
    public func waitForClosedConnections(_ n: Int) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let ready = core.state.withLock { s -> Bool in
                if s.closed >= n || s.stopped { return true }
                s.closeWaiters.append((n, c))
                return false
            }
            if ready { c.resume() }
        }
    }

    /// Closes the listener and every connection, releases stalled or gated responses and waits for
    /// the server's threads to exit. Idempotent.
    public func stop() { core.stop() }
}

/// State and threads behind `MockHTTPServer`.
final class MockServerCore: Sendable {
    struct State {
        var handler: MockHTTPServer.Handler
        var acceptBehaviour = MockHTTPServer.AcceptBehaviour.serve
        var log: [RecordedRequest] = []
        var requestCount = 0
        var accepted = 0
        var closed = 0
        var requestWaiters: [(Int, CheckedContinuation<Void, Never>)] = []
        var closeWaiters: [(Int, CheckedContinuation<Void, Never>)] = []
        /// Connection sockets still open; `stop()` shuts them down to unblock their threads.
        var openFDs: Set<Int32> = []
        var listening = true
        var stopped = false
        /// Holds the port once the listener has stopped (`stopListening`), until `stop()`.
        var reservedFD: Int32?
    }

    let state: Mutex<State>
    let recordRequests: Bool
    /// Made readable by `stop()`; every blocking wait polls it. Closed in deinit.
    private let stopSignal = MockSignalPipe()
    var stopFD: Int32 { stopSignal.readFD }
    private let listenFD: Int32
    private let port: Int
    private let threads = MockThreadGroup()

    init(listenFD: Int32, port: Int, recordRequests: Bool, handler: @escaping MockHTTPServer.Handler) {
        self.listenFD = listenFD
        self.port = port
        self.recordRequests = recordRequests
        state = Mutex(State(handler: handler))
    }

    deinit { stopSignal.close() }

    func startAccepting() -> Bool {
        threads.spawn { [self] in acceptLoop() }
    }

    private func acceptLoop() {
        defer { close(listenFD) }
        while true {
            let wake = MockSocket.wait(fd: listenFD, stopFD: stopFD, timeoutMs: -1)
            guard wake == .readable, state.withLock({ $0.listening && !$0.stopped }) else { return }
            let fd = accept(listenFD, nil, nil)
            if fd < 0 {
                if errno == EINTR || errno == EAGAIN || errno == ECONNABORTED { continue }
                return
            }
            let admitted = state.withLock { s -> (id: Int, behaviour: MockHTTPServer.AcceptBehaviour)? in
                s.accepted += 1
                guard !s.stopped else { return nil }
                if s.acceptBehaviour == .serve { s.openFDs.insert(fd) }
                return (s.accepted, s.acceptBehaviour)
            }
            guard let admitted else {
                close(fd)
                return
            }
            if case .resetImmediately = admitted.behaviour {
                MockSocket.resetAndClose(fd)
                connectionClosed(fd: nil)
                continue
            }
            MockSocket.setNoDelay(fd)
            let id = admitted.id
            let spawned = threads.spawn { [self] in
                MockConnection(fd: fd, id: id, server: self).run()
            }
            if !spawned { connectionClosed(fd: fd) }
        }
    }

    /// Stops listening at once: shutdown(2) on a listening socket moves it out of LISTEN (so
    /// new SYNs are refused) and wakes the accept thread, which then closes it.
    ///
    /// The port stays taken until `stop()`: a socket bound to it first (SO_REUSEPORT, no listen)
    /// keeps the kernel from giving it to a server another test starts meanwhile, whose requests
    /// would otherwise reach a test that expects the port to refuse (seen in CI: a refused-port
    /// test's request answered by another test's mock, failing both).
    func stopListening() {
        state.withLock { s in
            guard s.listening else { return }
            s.listening = false
            s.reservedFD = MockSocket.reserve(port: UInt16(port))
            _ = shutdown(listenFD, Int32(SHUT_RDWR))
        }
    }

    func record(_ request: RecordedRequest) -> MockHTTPServer.Handler {
        let (handler, ready) = state.withLock { s -> (MockHTTPServer.Handler, [CheckedContinuation<Void, Never>]) in
            s.requestCount += 1
            if recordRequests { s.log.append(request) }
            return (s.handler, Self.takeSatisfied(&s.requestWaiters, s.requestCount))
        }
        for c in ready { c.resume() }
        return handler
    }

    /// Unregisters and closes `fd` (nil: already closed), counting the close.
    func connectionClosed(fd: Int32?, reset: Bool = false) {
        let ready = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            if let fd {
                // Under the lock, so `stop()` never shuts down a number we already gave back.
                s.openFDs.remove(fd)
                if reset { MockSocket.resetAndClose(fd) } else { close(fd) }
            }
            s.closed += 1
            return Self.takeSatisfied(&s.closeWaiters, s.closed)
        }
        for c in ready { c.resume() }
    }

    private static func takeSatisfied(
        _ waiters: inout [(Int, CheckedContinuation<Void, Never>)], _ count: Int
    ) -> [CheckedContinuation<Void, Never>] {
        guard !waiters.isEmpty else { return [] }
        var ready: [CheckedContinuation<Void, Never>] = []
        waiters.removeAll { w in
            guard w.0 <= count else { return false }
            ready.append(w.1)
            return true
        }
        return ready
    }

    func stop() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>]? in
            guard !s.stopped else { return nil }
            s.stopped = true
            if s.listening {
                s.listening = false
                _ = shutdown(listenFD, Int32(SHUT_RDWR))
            }
            for fd in s.openFDs { _ = shutdown(fd, Int32(SHUT_RDWR)) }
            if let fd = s.reservedFD { close(fd) }
            s.reservedFD = nil
            let all = s.requestWaiters.map(\.1) + s.closeWaiters.map(\.1)
            s.requestWaiters = []
            s.closeWaiters = []
            return all
        }
        guard let waiters else { return }
        stopSignal.signal()
        for c in waiters { c.resume() }
        threads.waitForAll()
    }
}
