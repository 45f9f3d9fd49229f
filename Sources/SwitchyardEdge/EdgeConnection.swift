import CMicroHTTPD
import CSwitchyardEdge
import Glibc
import Synchronization

/// One TCP connection, from MHD's connection-notify "started" to "closed": where it is in
/// receiving a request (for the head and body deadlines and for displacement at the connection
/// limit) and which request it is serving (so a client hang-up reaches that request).
///
/// Lifetime: created and retained for MHD as the connection's `socket_context` in the "started"
/// notification, released in "closed". MHD calls "closed" before it closes the socket, and
/// `State.closed` is set then under `state`'s lock; so `fd` belongs to this connection whenever
/// the lock is held and `closed` is false, and `drop` may shut it down from another thread.
/// Lock order: `ConnectionTable`'s lock, then this one; never a `RequestContext` lock inside this one.
final class EdgeConnection: Sendable {
    enum Phase {
        /// Waiting for a request; no byte seen since `since` (the accept, or the previous answer).
        /// MHD's idle timeout (`connectionTimeoutSeconds`) applies.
        case idle(since: ContinuousClock.Instant)
        /// A request head is arriving, first seen at `since`: due whole by `headerTimeout`.
        case head(since: ContinuousClock.Instant)
        /// The head is complete and the body is arriving since `since`: due by `bodyTimeout`.
        case body(since: ContinuousClock.Instant)
        /// A handler is at work or an answer is being sent: no deadline from the edge.
        case busy
    }

    struct State {
        var phase: Phase
        /// The request being served, from MHD's URI-log callback to its request-completed one.
        var current: RequestContext?
        /// MHD's "closed" notification came: `fd` is no longer ours to touch.
        var closed = false
        /// We shut the socket down (a deadline passed, or displaced at the limit); MHD closes it next.
        var dropped = false
        /// The socket is in the watcher's epoll set (`ConnectionWatcher`).
        var watched = false
        /// The watcher saw the peer close or reset the connection.
        var peerGone = false
    }

    let id: UInt64
    let fd: Int32
    /// nil for a peer that is not an IP address.
    let peer: PeerAddress?
    /// Its server (for the error pages MHD makes; a cycle through `ConnectionTable` that "closed" breaks).
    let server: ServerCore
    let state: Mutex<State>

    init(id: UInt64, fd: Int32, peer: PeerAddress?, server: ServerCore, now: ContinuousClock.Instant) {
        self.id = id
        self.fd = fd
        self.peer = peer
        self.server = server
        state = Mutex(State(phase: .idle(since: now)))
    }

    // MARK: MHD thread

    /// MHD's "started" notification: the watcher sees the socket from now on.
    func opened() {
        state.withLock { $0.watched = true }
        server.watcher?.watch(self)
    }

    /// MHD's URI-log callback: the request line is in (the head may have started earlier). A
    /// socket the watcher let go of after the previous answer (expected to close, but kept open)
    /// is watched again: its handler must learn of a hang-up.
    func requestStarted(_ context: RequestContext?) {
        let rewatch = state.withLock { state in
            state.current = context
            if case .idle = state.phase { state.phase = .head(since: .now) }
            defer { state.watched = true }
            return !state.watched
        }
        if rewatch { server.watcher?.watch(self) }
    }

    /// The access handler's first call: the head is complete.
    func headReceived() {
        state.withLock { $0.phase = .body(since: .now) }
    }

    /// The body is complete (or refused) and the request is being answered.
    func answering() {
        state.withLock { $0.phase = .busy }
    }

    /// MHD's request-completed callback: back to waiting for the next request. When the
    /// connection closes after this answer (`closing`), the watcher lets go of it now, before MHD
    /// shuts the socket down: the client's FIN would otherwise wake the watcher thread once per
    /// connection for nothing (MHD reports "closed" only after it), which cost about one context
    /// switch and 10-15 µs of CPU per request for clients that close after each answer
    /// (`Connection: close`, HTTP/1.0) on the 2-core VM of README "Hot path".
    func requestEnded(closing: Bool) {
        let unwatch = state.withLock { state in
            state.current = nil
            state.phase = .idle(since: .now)
            return closing && Self.release(&state)
        }
        if unwatch { server.watcher?.unwatch(self) }
    }

    /// A whole answer was queued and the connection closes after it: the watcher lets go of it
    /// already, before the client can have read the answer and closed. MHD is sending, not
    /// suspended, so it notices a client that goes away by itself.
    func lastAnswerQueued() {
        if state.withLock({ Self.release(&$0) }) { server.watcher?.unwatch(self) }
    }

    /// Marks the socket as no longer watched; true when it was (the caller unwatches it).
    private static func release(_ state: inout State) -> Bool {
        guard state.watched else { return false }
        state.watched = false
        return true
    }

    /// MHD's "closed" notification, before it closes the socket.
    func closed() {
        let unwatch = state.withLock { state in
            state.closed = true
            state.current = nil
            defer { state.watched = false }
            return state.watched
        }
        if unwatch { server.watcher?.unwatch(self) }
    }

    // MARK: any thread

    /// The peer closed or reset the connection (the watcher saw EPOLLRDHUP/EPOLLHUP). A request
    /// being answered learns at once: its handler is cancelled and a suspended connection is
    /// resumed so MHD closes it. A connection MHD is reading from (waiting for a request, or in
    /// its head or body) is shut down: MHD watches its sockets edge-triggered, so a FIN that came
    /// in the segment carrying the last bytes (part of a request, then the client's close) raised
    /// no event after MHD read those bytes, and MHD waited for the rest until a deadline.
    ///
    /// Both ways, not only the reading side: a socket shut both ways is hung up, which epoll
    /// reports (EPOLLHUP) for as long as it lasts, so MHD sees it even when it adds the socket to
    /// its set only after this (bytes and FIN that came before the accept: the watcher hears of
    /// the socket first). A reading side shut down is a one-off wake-up, which MHD misses in that
    /// order: `bench/soak.py` then held 100 to 300 sockets in CLOSE-WAIT. So a whole request whose
    /// client closes its sending side right after it usually ends unanswered (about 2 in 3 on
    /// loopback), as the policy says: a FIN is a hang-up (`ConnectionWatcher`), as it is for MHD
    /// when it reads one itself, and for nginx.
    func peerHungUp() {
        let current = state.withLock { state -> RequestContext? in
            state.peerGone = true
            guard !state.closed else { return nil }
            switch state.phase {
            case .idle, .head, .body: if !state.dropped { shutDown(&state) }
            case .busy: break
            }
            return state.current
        }
        current?.peerHungUp()
    }

    /// Whether the connection still waits for (part of) a request head, and since when; such a
    /// connection can be displaced at the connection limit. Lock held by the caller's closure.
    static func waitingSince(_ state: State) -> ContinuousClock.Instant? {
        guard !state.closed, !state.dropped else { return nil }
        switch state.phase {
        case .idle(let since), .head(let since): return since
        case .body, .busy: return nil
        }
    }

    /// Shuts the socket down so MHD's next read sees the end and closes it (the connection is
    /// not suspended in any phase that gets dropped, so MHD is watching it). False if it was
    /// already closed or dropped.
    @discardableResult
    func drop() -> Bool {
        state.withLock { state in
            guard !state.closed, !state.dropped else { return false }
            shutDown(&state)
            return true
        }
    }

    /// Lock held, not closed: the socket is still this connection's.
    private func shutDown(_ state: inout State) {
        state.dropped = true
        _ = shutdown(fd, Int32(SHUT_RDWR))
    }

    /// The watcher's periodic check. Returns why the connection was dropped, if it was.
    func sweep(
        now: ContinuousClock.Instant, headerTimeout: Duration, bodyTimeout: Duration, tick: Duration
    )
        -> ConnectionDrop?
    {
        state.withLock { state -> ConnectionDrop? in
            guard !state.closed, !state.dropped else { return nil }
            switch state.phase {
            case .idle(let since):
                // MHD has read whatever arrived, so the socket cannot tell us; the kernel's time
                // since the last data segment can. Data after `since` means a request has begun.
                guard now - since > tick, let quiet = Self.timeSinceLastData(fd),
                    quiet + .milliseconds(50) < now - since
                else { return nil }
                state.phase = .head(since: now - quiet)
                return nil
            case .head(let since):
                guard now - since > headerTimeout else { return nil }
                shutDown(&state)
                return .headerTimeout
            case .body(let since):
                guard now - since > bodyTimeout else { return nil }
                shutDown(&state)
                return .bodyTimeout
            case .busy:
                return nil
            }
        }
    }

    /// TCP_INFO's `tcpi_last_data_recv`: time since the last data segment arrived (or since the
    /// connection was established, if none has), at the kernel's tick resolution.
    private static func timeSinceLastData(_ fd: Int32) -> Duration? {
        var info = tcp_info()
        var length = socklen_t(MemoryLayout<tcp_info>.size)
        guard getsockopt(fd, Int32(IPPROTO_TCP), TCP_INFO, &info, &length) == 0 else { return nil }
        return .milliseconds(Int64(info.tcpi_last_data_recv))
    }
}

/// Why the edge closed a connection on its own.
public enum ConnectionDrop: String, Sendable, CaseIterable {
    /// A request head was not complete within `headerTimeout` of its first byte.
    case headerTimeout = "header_timeout"
    /// A request body was not complete within `bodyTimeout` of the end of its head.
    case bodyTimeout = "body_timeout"
    /// At the connection limit, a new connection took the place of the one that had waited
    /// longest for a request head.
    case displaced
    /// The peer already had its maximum of open connections (refused at accept).
    case peerLimit = "peer_limit"
}
