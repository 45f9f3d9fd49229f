import CMicroHTTPD
import CSwitchyardEdge
import Glibc
import SwitchyardLoop
import Synchronization

/// A connection `accept4` returned, on its way to the daemon that serves it.
///
/// `@unchecked Sendable`: `sockaddr_storage` is a plain C value.
struct AcceptedConnection: @unchecked Sendable {
    let fd: Int32
    let address: sockaddr_storage
    let length: socklen_t
}

/// Accepts on the server's listening socket and chooses the loop that serves each connection.
///
/// Every loop watches the socket with `EPOLLEXCLUSIVE`, so a new connection wakes one loop that
/// waits in `epoll_wait` rather than all of them, and accepts what is pending. The loop that
/// serves a connection is the first, in loop order, that is not busy (`LoopChoice`): connections
/// fill loop 0 until its load passes half of its time or it holds `fillLimit` (32) of them, then
/// go to loop 1, and so on; the accepting
/// loop hands a connection to another loop's daemon with one queued closure (`EventLoop.execute`).
/// Why fill rather than spread: with few requests in flight, every loop that has work sleeps and
/// wakes once per request, and a wake-up across CPUs costs far more than the request's own work
/// on a small VM; one loop with several connections serves a batch per wake-up (measured in the
/// README, "Loops and cores"). A loop stuck in one long turn gets none.
///
/// At the connection limit (every daemon full) the loops stop watching the socket, so new
/// clients wait in the kernel's backlog, and watch it again when a connection closes. After an
/// error such as running out of descriptors, a loop stops watching for `retryDelay`, where a
/// level-triggered watch would spin, and reports the spell once (`onAcceptError`).
///
/// `@unchecked Sendable`: `choice` and `afterAccept` are set before `start`; `socket` and
/// `listeners` are written in `take` and `start`, before any loop watches the socket (and `socket`
/// again in `close`, after every loop stopped watching); each `Listener`'s own state is touched
/// only on its loop's thread; `held` is behind a lock and the counters are atomic.
final class Acceptor: @unchecked Sendable {
    static let acceptsPerTurn = 32
    static let retryDelay: Int64 = 100_000_000

    private var socket: Int32 = -1
    /// Which loop serves a connection (set before `start`).
    var choice = LoopChoice()
    /// Called between an accept and its claim (set before `start`): lets a test play the other
    /// loops that take the last places in between.
    var afterAccept: (@Sendable () -> Void)?
    private var listeners: [Listener] = []
    private let closed = Atomic<Bool>(false)
    /// Listeners that stopped watching at the connection limit.
    private let paused = Atomic<Int>(0)
    /// When accepting last failed for want of a resource (monotonic ns; 0: never).
    private let lastFailure = Atomic<Int64>(0)
    /// Connections accepted when, between the look and the claim, other loops took every place
    /// left. Each waits here for the next place that frees up, as it would in the backlog, instead
    /// of being closed. The loop that holds one stops watching, so there are at most as many as
    /// loops. `heldCount` mirrors the list's length for a lock-free look.
    private let held = Mutex<[AcceptedConnection]>([])
    private let heldCount = Atomic<Int>(0)

    /// Takes the listening socket, which `close()` closes.
    func take(socket: Int32) { self.socket = socket }

    /// Starts watching the socket on every daemon's loop.
    func start(daemons: [MHDDaemon]) throws(HTTPServerError) {
        listeners = daemons.map { Listener(acceptor: self, daemon: $0) }
        for listener in listeners {
            let watching = listener.daemon.loop.executeAndWait { [listener] in listener.listen() }
            guard watching else {
                close()
                throw HTTPServerError(.startFailed, "cannot watch the listening socket on an event loop")
            }
        }
    }

    /// Stops accepting (every loop stops watching) and stops listening: the kernel refuses new
    /// clients instead of queueing them. The socket stays open until `close()`.
    func stopAccepting() {
        guard !closed.exchange(true, ordering: .sequentiallyConsistent) else { return }
        for listener in listeners {
            listener.daemon.loop.executeAndWait { [listener] in listener.stopListening() }
        }
        // On Linux, shutdown() on a listening socket stops listening: queued and new clients are
        // refused rather than left hanging in the backlog; so are the ones held for a place.
        if socket >= 0 { _ = shutdown(socket, Int32(SHUT_RDWR)) }
        let waiting = held.withLock { held in
            defer { held.removeAll() }
            return held
        }
        heldCount.subtract(waiting.count, ordering: .sequentiallyConsistent)
        for connection in waiting { Glibc.close(connection.fd) }
    }

    /// `stopAccepting()`, then closes the socket. Idempotent.
    func close() {
        stopAccepting()
        let fd = socket
        socket = -1
        if fd >= 0 { Glibc.close(fd) }
    }

    /// A connection closed (on its loop): a connection held for a place gets it, and listeners
    /// paused at the limit watch again.
    func slotFreed() {
        placeHeld()
        guard paused.load(ordering: .sequentiallyConsistent) > 0 else { return }
        for listener in listeners {
            listener.daemon.loop.execute { [listener] in listener.resume() }
        }
    }

    // MARK: Loop thread

    /// Accepts pending connections, at most `acceptsPerTurn` (the watch is level-triggered: more
    /// wait for the next turn), each for the loop `claim()` picks once it is accepted. (Claiming
    /// first would hold a slot while another loop's accept takes the same client, and a third look
    /// meanwhile would see the slot taken.) A connection that finds no place left is held, not
    /// closed (`held`).
    fileprivate func acceptPending(on listener: Listener) {
        guard !closed.load(ordering: .relaxed) else {
            listener.stopListening()
            return
        }
        for _ in 0..<Self.acceptsPerTurn {
            guard choose() != nil else {
                pause(listener)
                return
            }
            var address = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sy_accept(socket, $0, &length)
                }
            }
            guard fd >= 0 else {
                let code = errno
                switch code {
                case EAGAIN, EWOULDBLOCK:
                    return
                // The client gave up before we took it, or a network error Linux passes on.
                case EINTR, ECONNABORTED, EPROTO, EPERM, ENETDOWN, ENOPROTOOPT, EHOSTDOWN, ENONET, EHOSTUNREACH,
                    EOPNOTSUPP, ENETUNREACH:
                    continue
                default:
                    // Out of descriptors or memory: the pending client stays queued; try again soon.
                    let now = monotonicNanoseconds()
                    let last = lastFailure.exchange(now, ordering: .relaxed)
                    if AcceptError.startsSpell(lastFailure: last, now: now) {
                        listener.daemon.core.configuration.onAcceptError?(AcceptError(code: code))
                    }
                    listener.backOff()
                    return
                }
            }
            let accepted = AcceptedConnection(fd: fd, address: address, length: length)
            afterAccept?()
            guard let target = claim() else {
                // Other loops filled every daemon between the look and the accept: the connection
                // waits for the next free place (`placeHeld`), and this loop stops accepting.
                held.withLock { $0.append(accepted) }
                heldCount.add(1, ordering: .sequentiallyConsistent)
                pause(listener)
                return
            }
            if target === listener {
                listener.daemon.adopt(accepted)
            } else {
                handOver(accepted, to: target.daemon)
            }
        }
    }

    /// Gives an accepted connection, with its slot claimed, to another loop's daemon.
    private func handOver(_ accepted: AcceptedConnection, to daemon: MHDDaemon) {
        if !daemon.loop.execute({ daemon.adopt(accepted) }) {
            Glibc.close(accepted.fd)
            daemon.releaseSlot()
        }
    }

    /// Gives connections held for a place (`held`) the places free now, oldest first (any thread).
    private func placeHeld() {
        while heldCount.load(ordering: .sequentiallyConsistent) > 0 {
            guard let target = claim() else { return }
            let next = held.withLock { $0.isEmpty ? nil : $0.removeFirst() }
            guard let next else {
                // Another thread placed it first: give the place back (it was free before).
                target.daemon.slots.subtract(1, ordering: .sequentiallyConsistent)
                return
            }
            heldCount.subtract(1, ordering: .sequentiallyConsistent)
            handOver(next, to: target.daemon)
        }
    }

    /// The listener whose loop is to serve the next connection, with a slot claimed on its daemon
    /// (`MHDDaemon.claimSlot`), or nil when every daemon is full. Another loop accepting at the
    /// same moment may take the last slot under the bound between the look and the claim: then
    /// look again.
    private func claim() -> Listener? {
        for _ in 0..<(4 * listeners.count) {
            guard let pick = choose() else { return nil }
            let daemon = listeners[pick.index].daemon
            let bound = pick.filling ? min(choice.fillLimit, daemon.connectionLimit) : daemon.connectionLimit
            if daemon.claimSlot(below: bound) { return listeners[pick.index] }
        }
        return nil
    }

    /// Where the next connection would go now, without claiming (`LoopChoice.pick`).
    private func choose() -> LoopChoice.Pick? {
        let now = monotonicNanoseconds()
        return choice.pick(count: listeners.count) { i in
            let daemon = listeners[i].daemon
            let loop = daemon.loop
            let connections = daemon.slots.load(ordering: .sequentiallyConsistent)
            return LoopChoice.Candidate(
                connections: connections, full: connections >= daemon.connectionLimit,
                stopped: loop.hasStopped, waiting: loop.isWaiting, load: loop.load,
                turnAge: max(0, now &- loop.turnBegan))
        }
    }

    /// Every daemon is full: stop watching until a connection closes.
    private func pause(_ listener: Listener) {
        listener.stopListening()
        listener.isPaused = true
        paused.add(1, ordering: .sequentiallyConsistent)
        // A connection that closed after `choose()` looked and before the counts above found no
        // paused listener to wake and no held connection to place: look again.
        placeHeld()
        if heldCount.load(ordering: .sequentiallyConsistent) == 0, choose() != nil { listener.resume() }
    }

    fileprivate func resumed() { paused.subtract(1, ordering: .sequentiallyConsistent) }

    fileprivate var isClosed: Bool { closed.load(ordering: .relaxed) }
    fileprivate var listeningSocket: Int32 { socket }

    /// One loop's watch on the listening socket.
    ///
    /// `@unchecked Sendable`: `acceptor` and `daemon` are immutable; the rest is touched only on
    /// the daemon's loop thread.
    fileprivate final class Listener: EventLoopWatcher, @unchecked Sendable {
        unowned let acceptor: Acceptor
        let daemon: MHDDaemon
        private var watch: EventLoop.Watch?
        private var retry: LoopTimer?
        var isPaused = false

        init(acceptor: Acceptor, daemon: MHDDaemon) {
            self.acceptor = acceptor
            self.daemon = daemon
        }

        func ready(events: IOEvents, token: Int) { acceptor.acceptPending(on: self) }

        /// Watches the socket unless the acceptor closed; true when watching.
        @discardableResult
        func listen() -> Bool {
            guard !acceptor.isClosed else { return false }
            if watch == nil {
                let socket = acceptor.listeningSocket
                // A kernel (or sandbox) without EPOLLEXCLUSIVE refuses it: then every waiting loop
                // wakes for a new connection, and all but one find nothing to accept.
                watch =
                    (try? daemon.loop.watch(fd: socket, events: [.readable, .exclusive], watcher: self))
                    ?? (try? daemon.loop.watch(fd: socket, events: .readable, watcher: self))
            }
            return watch != nil
        }

        func stopListening() {
            if let watch { daemon.loop.unwatch(watch) }
            watch = nil
            if let retry {
                daemon.loop.remove(retry)
                self.retry = nil
            }
        }

        func resume() {
            guard isPaused else { return }
            isPaused = false
            acceptor.resumed()
            listen()
        }

        func backOff() {
            stopListening()
            let timer = LoopTimer { [unowned self] in
                if let retry { daemon.loop.remove(retry) }
                retry = nil
                listen()
            }
            daemon.loop.add(timer)
            timer.deadline = daemon.loop.now() &+ Acceptor.retryDelay
            retry = timer
        }
    }
}

/// Why accepting failed (`HTTPServerConfiguration.onAcceptError`).
public struct AcceptError: Sendable, Equatable {
    public let code: Int32

    /// The errno's name (`EMFILE`: this process is out of descriptors; `ENFILE`: the system is;
    /// `ENOBUFS`, `ENOMEM`: out of memory), else `errno N`.
    public var name: String {
        switch code {
        case EMFILE: "EMFILE"
        case ENFILE: "ENFILE"
        case ENOBUFS: "ENOBUFS"
        case ENOMEM: "ENOMEM"
        default: "errno \(code)"
        }
    }

    public var description: String { ListenSocket.errnoText(code) }

    /// Failures closer together than this are one spell, reported once: while descriptors run
    /// short, accepts fail and succeed by turns as connections close (a client served from the
    /// backlog, the next refused again), so one success does not end the spell.
    static let spellGap: Int64 = 5_000_000_000

    /// Whether a failure at `now` starts a new spell, the last one having been at `lastFailure`
    /// (0: none yet).
    static func startsSpell(lastFailure: Int64, now: Int64) -> Bool {
        lastFailure == 0 || now &- lastFailure > spellGap
    }

    /// The names of the resources an accept can run out of (`name` for each).
    public static let resourceNames = [EMFILE, ENFILE, ENOBUFS, ENOMEM].map { AcceptError(code: $0).name }
}

/// Which loop serves a new connection: the first, in loop order, that has room and is not busy.
///
/// Busy is a load (`EventLoop.load`) at or above `spillAbove` while not waiting, a turn under way
/// for longer than `longTurn` (a loop inside one long piece of work, which its load has not seen
/// yet; a loop between turns, waiting or being woken, has a turn age of 0), or `fillLimit`
/// connections already. When every loop with room is busy, the one with the fewest connections,
/// loops in a long turn only if nothing else has room; nil when none has room.
///
/// `fillLimit`: a burst of connections lands before any load shows, so the count alone decides
/// where it goes. One loop gains little from more connections past a few dozen (closed-loop load
/// on the 2-core test VM: 19,200 requests a second at 16 connections, 20,700 at 64, 15,600 at 128,
/// 8,400 at 1,000, with the allocator's free lists a third of the profile there), while a pool that
/// large opened at once is a client able to keep two loops busy: at 64 connections the split
/// served 21,000-28,500 requests a second where one loop served 14,300-21,900 (four interleaved
/// rounds). 32 still keeps a 16-connection pool on one loop, where fewer wake-ups pay most.
///
/// The thresholds are judgement, not tuned against a benchmark; tests that count where a burst of
/// connections lands set `spillAbove` and `longTurn` out of reach, as a loaded machine would
/// otherwise decide for them.
struct LoopChoice: Sendable {
    var spillAbove = 0.5
    var longTurn: Int64 = 20_000_000
    var fillLimit = 32

    /// The loop to serve the next connection: `filling` when it is the first that is not busy
    /// (then it takes up to `fillLimit` connections), not when it is the fallback.
    struct Pick: Equatable {
        var index: Int
        var filling: Bool
    }

    struct Candidate {
        /// Its connections, those being accepted for it included (its claimed slots).
        var connections: Int
        var full: Bool
        var stopped: Bool
        var waiting: Bool
        var load: Double
        /// Nanoseconds since the loop's current turn began.
        var turnAge: Int64
    }

    func pick(count: Int, _ candidate: (Int) -> Candidate) -> Pick? {
        var fallback: (index: Int, rank: (Int, Int))?
        for i in 0..<count {
            let c = candidate(i)
            guard !c.full, !c.stopped else { continue }
            let inLongTurn = !c.waiting && c.turnAge > longTurn
            if !inLongTurn, c.connections < fillLimit, c.waiting || c.load < spillAbove {
                return Pick(index: i, filling: true)
            }
            let rank = (inLongTurn ? 1 : 0, c.connections)
            if let f = fallback, f.rank <= rank { continue }
            fallback = (i, rank)
        }
        return fallback.map { Pick(index: $0.index, filling: false) }
    }
}
