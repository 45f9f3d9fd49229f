import CSwitchyardEdge
import Glibc
import SwitchyardLoop
import SwitchyardThreads
import Synchronization

/// The edge's watcher thread: notices clients that hang up while their request is being answered,
/// and enforces the request head and body deadlines.
///
/// Why a thread of its own: MHD takes a suspended connection out of its epoll set, so a client that
/// closes while its handler works (or before a stream's first byte) went unnoticed until the next
/// write, and the upstream call ran its full time. Here every connection's socket sits in a second
/// epoll set for EPOLLRDHUP only (edge-triggered, no EPOLLIN: arriving data costs nothing), added
/// once per connection in MHD's "started" notification and removed in "closed". MHD itself closes a
/// connection on the first read that returns 0, so treating a FIN as a hang-up matches it. The same
/// thread wakes every `tick` to drop connections past their head or body deadline, which MHD cannot
/// do: its timeout is per byte, so a client trickling one byte at a time never hits it. With no
/// connection open there is nothing to sweep: the thread then waits without a timeout until the
/// next connection opens (`connectionOpened`), so an idle server's watcher never wakes (it swept
/// once a second before).
///
/// `@unchecked Sendable`: `epollFD` and `wakePipe` are immutable after init; `thread` is written in
/// `start()` and read in `stop()`, which `stopped` makes happen once.
final class ConnectionWatcher: @unchecked Sendable {
    private let epollFD: Int32
    private let wakePipe: (read: Int32, write: Int32)
    private let tick: Duration
    private let stopped = Atomic<Bool>(false)
    private var thread: OSThread?
    /// True while the thread waits without a timeout because no connection is open.
    private let parked = Atomic<Bool>(false)
    /// `epoll_wait` calls, deadline sweeps and waits without a timeout so far (tests: the thread
    /// sleeps between sweeps, and until a connection opens when none is).
    let waits = Atomic<Int>(0)
    let sweeps = Atomic<Int>(0)
    let parks = Atomic<Int>(0)

    /// The id the wake-up pipe carries in epoll (connection ids start at 1).
    private static let wakeID: UInt64 = 0

    init?(tick: Duration) {
        let epollFD = sy_epoll_create()
        guard epollFD >= 0 else { return nil }
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else {
            close(epollFD)
            return nil
        }
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, O_NONBLOCK)
        }
        self.epollFD = epollFD
        wakePipe = (fds[0], fds[1])
        self.tick = tick
        guard sy_epoll_watch_input(epollFD, fds[0], Self.wakeID) == 0 else {
            closeDescriptors()
            return nil
        }
    }

    deinit { closeDescriptors() }

    private func closeDescriptors() {
        close(wakePipe.read)
        close(wakePipe.write)
        close(epollFD)
    }

    /// Adds a connection's socket (MHD thread, "started" notification).
    func watch(_ connection: EdgeConnection) {
        _ = sy_epoll_watch_hangup(epollFD, connection.fd, connection.id)
    }

    /// A connection was opened and counted (MHD thread): a thread waiting without a timeout wakes,
    /// so the new connection's deadlines are swept. One atomic exchange when it is not waiting.
    func connectionOpened() {
        if parked.exchange(false, ordering: .sequentiallyConsistent) { wakeThread() }
    }

    /// Removes it again ("closed" notification, before MHD closes the socket).
    func unwatch(_ connection: EdgeConnection) {
        _ = sy_epoll_unwatch(epollFD, connection.fd)
    }

    /// Starts the thread, which holds `core` until `stop()`; its sweeps also look for a stuck
    /// loop among `loops` when `onLoopStall` is set.
    func start(core: ServerCore, loops: [EventLoop] = []) -> Bool {
        thread = try? OSThread.start(name: "sy-edge-watch") { [self] in run(core: core, loops: loops) }
        return thread != nil
    }

    /// Stops the thread and waits for it. Idempotent.
    func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing), let thread else { return }
        wakeThread()
        thread.join()
    }

    private func run(core: ServerCore, loops: [EventLoop]) {
        var ids = [UInt64](repeating: 0, count: 64)
        let onLoopStall = core.configuration.onLoopStall
        var stalls = LoopStallWatch(loops: loops, threshold: core.configuration.loopStallThreshold)
        let tickMs = Int32(clamping: tick.milliseconds)
        var nextSweep = ContinuousClock.now + tick
        while !stopped.load(ordering: .acquiring) {
            // Rounded up: rounded down, the last sub-millisecond before each sweep was a 0 ms
            // wait, so the thread spun there (about 170 `epoll_wait` calls per second, idle).
            var wait = max(0, min(tickMs, Int32(clamping: (nextSweep - .now).millisecondsRoundedUp)))
            if park(core) { wait = -1 }
            waits.add(1, ordering: .relaxed)
            let n = ids.withUnsafeMutableBufferPointer { sy_epoll_wait_ids(epollFD, $0.baseAddress, 64, wait) }
            if n < 0 && errno != EINTR { return }
            parked.store(false, ordering: .sequentiallyConsistent)
            for id in ids.prefix(max(0, Int(n))) {
                if id == Self.wakeID {
                    drainWakePipe()
                } else {
                    core.connections.connection(id: id)?.peerHungUp()
                }
            }
            let now = ContinuousClock.now
            if now >= nextSweep {
                core.sweep(now: now, tick: tick)
                if let onLoopStall {
                    for stall in stalls.check(now: now) { onLoopStall(stall) }
                }
                sweeps.add(1, ordering: .relaxed)
                nextSweep = now + tick
            }
        }
    }
}

extension ConnectionWatcher {
    /// True when no connection is open, after announcing the wait to `connectionOpened`. The
    /// count is read after `parked` is set and a connection is counted before `connectionOpened`
    /// reads it, so a connection opening meanwhile either is counted here or finds `parked` set and
    /// wakes the thread.
    private func park(_ core: ServerCore) -> Bool {
        guard core.connections.count == 0 else { return false }
        parked.store(true, ordering: .sequentiallyConsistent)
        guard core.connections.count == 0 else {
            parked.store(false, ordering: .sequentiallyConsistent)
            return false
        }
        parks.add(1, ordering: .relaxed)
        return true
    }

    /// Ends the thread's current wait (`drainWakePipe` reads the byte).
    private func wakeThread() {
        var byte: UInt8 = 1
        _ = write(wakePipe.write, &byte, 1)
    }

    /// Reads what `connectionOpened` and `stop` wrote (the pipe would otherwise stay readable
    /// and every wait would return at once).
    private func drainWakePipe() {
        var bytes = [UInt8](repeating: 0, count: 64)
        while bytes.withUnsafeMutableBytes({ read(wakePipe.read, $0.baseAddress, $0.count) }) > 0 {}
    }
}

extension Duration {
    /// Whole milliseconds, rounded down.
    fileprivate var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }

    /// Whole milliseconds, rounded up: a wait this long never ends before the duration has passed.
    fileprivate var millisecondsRoundedUp: Int64 {
        let (seconds, attoseconds) = components
        let ms = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        return attoseconds % 1_000_000_000_000_000 > 0 ? ms + 1 : ms
    }
}
