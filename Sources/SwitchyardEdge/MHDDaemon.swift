import CMicroHTTPD
import CSwitchyardEdge
import Glibc
import SwitchyardLoop
import Synchronization

/// Owns one `struct MHD_Daemon *` running inside one event loop, and stops it exactly once.
///
/// Threading mode: MHD with epoll and no thread of its own (MHD_USE_EPOLL |
/// MHD_ALLOW_SUSPEND_RESUME). The loop watches MHD's epoll descriptor and calls `MHD_run` when it
/// is readable or when MHD's own timeout (MHD_get_timeout: idle connections) passes. Every
/// callback therefore runs on the loop thread, and each handler task this daemon starts prefers
/// the same loop as its executor, so a request never changes threads. The daemon has no
/// listening socket: the server's `Acceptor` hands it each connection it is to serve (`adopt`).
/// Connections waiting on a handler or on stream bytes are suspended; after a resume the daemon
/// runs again once the loop's current batch of jobs is done (MHD has no inter-thread channel
/// without a thread of its own, so a resume from another thread wakes the loop through
/// `EventLoop.execute`).
///
/// `@unchecked Sendable`: `core`, `loop` and `connectionLimit` are immutable; `daemon` is written
/// once in `start`, before the loop or any other thread can use it; `needsRun`,
/// `adoptedConnectionStarted`, `watch`, `timer` and `hook` are touched only on the loop thread;
/// `stopped` makes stop happen at most once; `slots` is atomic.
final class MHDDaemon: EventLoopWatcher, @unchecked Sendable {
    private var daemon: OpaquePointer?
    let core: ServerCore
    let loop: EventLoop
    private let stopped = Atomic<Bool>(false)
    /// The connections this daemon serves, and those it is about to: the acceptor claims a slot
    /// (`claimSlot`) for a connection it accepted for this daemon, from whichever loop; the slot
    /// becomes the connection when MHD takes it over (its started notification) and is given back
    /// when the connection closes, or when the connection never starts (refused by the accept
    /// policy, a stopped loop). Claiming against a bound in one atomic
    /// step keeps loops that accept at the same moment from overfilling a daemon: MHD refuses
    /// (resets) a connection beyond `connectionLimit`.
    let slots = Atomic<Int>(0)
    let connectionLimit: Int
    /// The retain MHD's callbacks hold (`cls`), released after MHD_stop_daemon.
    private var retainedForMHD: Unmanaged<MHDDaemon>?

    // Loop thread
    /// A connection was resumed or closed on the loop thread since the last MHD_run.
    var needsRun = false
    /// Response header names and values as C strings, reused for every answer (`queue`).
    var headerScratch: [UInt8] = []
    private var watch: EventLoop.Watch?
    private var timer: LoopTimer?
    private var hook: Int?

    init(core: ServerCore, loop: EventLoop) {
        self.core = core
        self.loop = loop
        connectionLimit = ConnectionTable.hardLimit(max(1, core.configuration.maxConnections))
    }

    /// Starts MHD (without a listening socket) and attaches it to the loop.
    func start(port: Int) throws(HTTPServerError) {
        let configuration = core.configuration
        guard MHD_is_feature_supported(.FEATURE_EPOLL) == .YES else {
            throw HTTPServerError(.startFailed, "this libmicrohttpd was built without epoll support")
        }
        MHDErrorPages.install()
        let retained = Unmanaged.passRetained(self)
        let started = sy_mhd_start_daemon(
            MHD_USE_EPOLL.rawValue | MHD_ALLOW_SUSPEND_RESUME.rawValue,
            UInt32(clamping: connectionLimit),
            UInt32(clamping: max(0, configuration.connectionTimeoutSeconds)),
            max(4096, configuration.maxHeaderBytes),
            0,
            acceptPolicyCallback, retained.toOpaque(),
            accessHandlerCallback, retained.toOpaque(),
            requestCompletedCallback, retained.toOpaque(),
            uriLogCallback, retained.toOpaque(),
            connectionNotifyCallback, retained.toOpaque())
        guard let started else {
            retained.release()
            throw HTTPServerError(.startFailed, "MHD_start_daemon failed on port \(port)")
        }
        daemon = started
        retainedForMHD = retained
        let epollFD = sy_mhd_epoll_fd(started)
        let attached = loop.executeAndWait { [self] in attach(epollFD: epollFD) }
        guard attached else {
            MHD_stop_daemon(started)
            daemon = nil
            retainedForMHD = nil
            retained.release()
            throw HTTPServerError(.startFailed, "cannot watch MHD's epoll descriptor on the event loop")
        }
    }

    private func attach(epollFD: Int32) -> Bool {
        guard epollFD >= 0, let watch = try? loop.watch(fd: epollFD, events: .readable, watcher: self) else {
            return false
        }
        self.watch = watch
        let timer = LoopTimer { [unowned self] in run() }
        loop.add(timer)
        self.timer = timer
        hook = loop.addHook { [unowned self] in
            if needsRun {
                needsRun = false
                run()
            }
        }
        run()
        return true
    }

    // MARK: Loop thread

    func ready(events: IOEvents, token: Int) { run() }

    /// Claims a slot for an accepted connection if fewer than `bound` are taken (any thread); the
    /// caller gives it back with `releaseSlot()` unless `adopt` is handed the connection.
    func claimSlot(below bound: Int) -> Bool {
        var current = slots.load(ordering: .relaxed)
        while current < bound {
            let (exchanged, original) = slots.compareExchange(
                expected: current, desired: current &+ 1, ordering: .sequentiallyConsistent)
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// Gives a slot back (any thread): an acceptor paused at the limit looks again.
    func releaseSlot() {
        slots.subtract(1, ordering: .sequentiallyConsistent)
        core.acceptor.slotFreed()
    }

    /// MHD's started notification ran inside the current `adopt` (loop thread).
    var adoptedConnectionStarted = false

    /// Takes over a connection the acceptor accepted for a slot it claimed (MHD_add_connection:
    /// the accept policy, the limit, the started notification); the loop's MHD run at the end of
    /// the current turn serves it. After `stop` the connection is closed instead. A connection
    /// that does not start gives its slot back; one that does keeps it until it closes.
    func adopt(_ accepted: AcceptedConnection) {
        guard let daemon, watch != nil else {
            close(accepted.fd)
            releaseSlot()
            return
        }
        adoptedConnectionStarted = false
        _ = withUnsafePointer(to: accepted.address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                MHD_add_connection(daemon, accepted.fd, $0, accepted.length)
            }
        }
        if !adoptedConnectionStarted { releaseSlot() }
        needsRun = true
    }

    /// After MHD_resume_connection (any thread): MHD_run once the loop's current jobs are done.
    func runSoon() {
        if loop.inLoop {
            needsRun = true
        } else {
            loop.execute { [self] in needsRun = true }
        }
    }

    /// A full answer was handed to a connection this loop resumed (`RequestContext.respond`, its
    /// lock released): send it now, unless more work is queued on the loop, whose answers the
    /// hook then sends in one run. With one request at a time the job that answered still has the
    /// handler's tail to run (metrics, the access log, the task's end) and the client would wait
    /// for it; under load the answers of a batch still share one MHD_run.
    func answerReady() {
        guard loop.inLoop, needsRun, !inRun, !loop.hasOtherWork else { return }
        needsRun = false
        run()
    }

    /// Inside MHD_run: a callback must not run the daemon again.
    private var inRun = false

    /// MHD_run, then arm the timer for MHD's next deadline (0 when it has work pending).
    private func run() {
        guard watch != nil, let daemon, !inRun else { return }
        inRun = true
        _ = MHD_run(daemon)
        inRun = false
        var ms: UInt64 = 0
        if MHD_get_timeout(daemon, &ms) == .YES {
            timer?.deadline = loop.now() &+ Int64(clamping: min(ms, 86_400_000)) &* 1_000_000
        } else {
            timer?.deadline = LoopTimer.never
        }
    }

    // MARK: Any thread

    /// Stops MHD on its loop (closes every connection, which runs the request-completed callback
    /// for each) and detaches from the loop. The caller resumed suspended connections first
    /// (`ServerCore.beginStopping`): MHD panics otherwise. Idempotent.
    func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        loop.executeAndWait { [self] in
            if let watch { loop.unwatch(watch) }
            if let timer { loop.remove(timer) }
            if let hook { loop.removeHook(hook) }
            watch = nil
            timer = nil
            hook = nil
            if let daemon { MHD_stop_daemon(daemon) }
        }
        retainedForMHD?.release()
        retainedForMHD = nil
    }
}
