import CEventLoop
import Dispatch
import SwitchyardThreads
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One event-loop thread: an epoll set, a few timers and a queue of work, and the Swift task
/// executor of the request handlers it starts.
///
/// The gateway runs one loop per core. Each owns its share of the server (an MHD daemon, a curl
/// multi handle) and runs every handler that daemon starts, so one request is accepted, routed,
/// sent upstream, answered and logged on one thread: no lock is contended and no other thread is
/// woken on its way. Work queued from the loop's own thread (the common case: a continuation
/// resumed by a curl callback, a handler task started by MHD) is a plain array append; work from
/// another thread takes a mutex and, if the loop sleeps, one eventfd write.
///
/// Only short, non-blocking work belongs here: everything on a loop delays every transfer and
/// connection it owns. SQLite, large bodies and other slow work go elsewhere and come back.
///
/// Iteration: wait in `epoll_wait` (no longer than the nearest timer; not at all when work is
/// queued), dispatch ready descriptors to their watchers, then, until nothing is due (bounded so
/// I/O is never starved): fire due timers, run queued closures and jobs, run the after-work hooks.
///
/// `@unchecked Sendable`: everything under `// Loop thread` is touched only on the loop thread
/// (checked by `inLoop` where an API may be called elsewhere); other threads use `remote` (a
/// mutex), the atomics, and `epollFD`/`wakeFD`, which are immutable while the loop runs.
public final class EventLoop: TaskExecutor, @unchecked Sendable {
    /// Position in its `EventLoopGroup`.
    public let index: Int
    let epollFD: Int32
    let wakeFD: Int32

    private struct Remote {
        var jobs: [UnownedJob] = []
        var closures: [@Sendable () -> Void] = []
        var state = State.running
    }

    enum State { case running, stopping, stopped }

    private let remote = Mutex(Remote())
    /// Set by a producer after queueing remote work; cleared by the loop when it takes it.
    private let remotePending = Atomic<Bool>(false)
    /// The loop is (about to be) blocked in epoll_wait; a producer that clears it writes `wakeFD`.
    private let sleeping = Atomic<Bool>(false)
    private let finished = Atomic<Bool>(false)
    private var thread: OSThread?

    // Loop thread
    private var jobs: [UnownedJob] = []
    private var closures: [() -> Void] = []
    private var slots: [Slot] = []
    private var freeSlots: [Int] = []
    private var timers: [LoopTimer] = []
    private var hooks: [() -> Void] = []
    /// Descriptors added to the epoll set so far (loop thread). Tests count them to pin that a
    /// kept-alive upstream connection is added once, not once per request.
    private(set) var registrations = 0
    /// Descriptors in the epoll set now (loop thread).
    var watchCount: Int { slots.count - freeSlots.count }

    /// Jobs and closures run per iteration before I/O is polled again (fairness).
    static let maxRunPerIteration = 4096
    /// After this long without work following a busy spell, the loop gives free heap memory back
    /// to the system (`malloc_trim`). glibc keeps what a burst freed in its arenas, so without it
    /// the RSS stays at the burst's high-water mark (bench/streams.py, 2,000 streams per round:
    /// 191 -> 274 MB after four rounds without, 51 -> 66 MB with, the rest idle connections).
    let idleReleaseDelay: Int64
    private var busySinceRelease = false
    private var lastBusy: Int64 = 0
    private let releases = Atomic<Int>(0)
    /// The loop thread's CPU-time clock (`pthread_getcpuclockid`; glibc's ids of such clocks are
    /// negative), set as it starts; `noClock` before and after.
    private let cpuClock = Atomic<Int64>(EventLoop.noClock)
    private static let noClock = Int64.max

    /// `turns`: written by the loop thread only, read by any (the edge's stall watch, tests).
    private let publishedTurns = Atomic<Int>(0)
    /// `load` (in `loadScale` units) and `turnBegan`: written by the loop thread once or twice a
    /// turn, read by any (the edge, choosing a loop for a new connection).
    private let publishedLoad = Atomic<Int>(0)
    private let publishedTurnBegan = Atomic<Int64>(0)
    private static let loadScale = 1 << 20
    /// Loop thread: the load itself, and when the turn under way began.
    private var busyShare = BusyShare(window: EventLoop.loadWindow)
    private var lastWake: Int64 = 0
    /// Client connections this loop serves now (`connectionOpened` ... `connectionClosed`).
    private let connections = Atomic<Int>(0)
    /// Upstream connections this loop's transfers hold open now, idle ones included.
    private let upstreamConnections = Atomic<Int>(0)

    init(index: Int, idleReleaseDelay: Int64 = 2_000_000_000) throws(EventLoopError) {
        self.index = index
        self.idleReleaseDelay = idleReleaseDelay
        let epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epollFD >= 0 else { throw EventLoopError("epoll_create1 failed: \(errnoText())") }
        let wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard wakeFD >= 0 else {
            close(epollFD)
            throw EventLoopError("eventfd failed: \(errnoText())")
        }
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = Self.wakeToken
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, wakeFD, &event) == 0 else {
            close(epollFD)
            close(wakeFD)
            throw EventLoopError("epoll_ctl failed: \(errnoText())")
        }
        self.epollFD = epollFD
        self.wakeFD = wakeFD
    }

    deinit {
        close(epollFD)
        close(wakeFD)
    }

    // MARK: Any thread

    /// The loop whose thread is calling, if any.
    public static var current: EventLoop? {
        guard let raw = pthread_getspecific(currentLoopKey) else { return nil }
        return Unmanaged<EventLoop>.fromOpaque(raw).takeUnretainedValue()
    }

    /// How often this loop has given free heap memory back after a busy spell.
    public var memoryReleases: Int { releases.load(ordering: .relaxed) }

    /// Turns begun so far (one per `epoll_wait`), and whether the loop waits in `epoll_wait` for
    /// I/O or a timer now: a loop that does not wait and begins no turn for a long time is stuck
    /// in one piece of work, and every connection and transfer on it waits meanwhile. Tests also
    /// count turns to pin that work done in a turn (a 0 ms timer it arms, a job it resumes) needs
    /// no further turn: at one request at a time each extra turn is an extra system call on the
    /// request's path.
    public var turns: Int { publishedTurns.load(ordering: .relaxed) }
    public var isWaiting: Bool { sleeping.load(ordering: .relaxed) }

    /// How busy the loop has been lately: the share of about the last `loadWindow` it spent
    /// outside `epoll_wait` (running work, or ready to and waiting for a CPU), 0...1, as of its
    /// last turn's start or end. A loop that waits in `epoll_wait` now has not updated it since
    /// it began waiting.
    public var load: Double { Double(publishedLoad.load(ordering: .relaxed)) / Double(Self.loadScale) }
    /// The span `load` averages over (the weight of older time halves every `loadWindow`).
    public static let loadWindow: Int64 = 100_000_000
    /// When the turn under way began (`now()` after `epoll_wait` returned), or `betweenTurns`
    /// while the loop waits or is being woken. A loop whose turn began long ago is inside one long
    /// piece of work, and `load` has not seen it yet.
    public var turnBegan: Int64 { publishedTurnBegan.load(ordering: .relaxed) }
    public static let betweenTurns = Int64.max
    /// True once the loop's thread has ended (`EventLoopGroup.shutdown`).
    public var hasStopped: Bool { finished.load(ordering: .acquiring) }

    /// Client connections this loop serves now, as their owner (the edge) counts them between
    /// `connectionOpened()` and `connectionClosed()`: for `/metrics`, how the listening socket
    /// spread them.
    public var connectionCount: Int { connections.load(ordering: .relaxed) }
    public func connectionOpened() { connections.add(1, ordering: .relaxed) }
    public func connectionClosed() { connections.subtract(1, ordering: .relaxed) }

    /// Upstream connections open on this loop now, idle keep-alive ones included, as their owner
    /// (the loop's curl multi handle) counts them between `upstreamConnectionOpened()` and
    /// `upstreamConnectionClosed()`: each loop keeps its own, so more loops hold more of them.
    public var upstreamConnectionCount: Int { upstreamConnections.load(ordering: .relaxed) }
    public func upstreamConnectionOpened() { upstreamConnections.add(1, ordering: .relaxed) }
    public func upstreamConnectionClosed() { upstreamConnections.subtract(1, ordering: .relaxed) }

    /// CPU time the loop's thread has used so far (its own CPU-time clock, read from any thread;
    /// the thread is busy exactly when it is not waiting in `epoll_wait`), nil before the loop
    /// started or after its thread ended. Reading it costs the loop nothing.
    public var cpuTime: Duration? {
        let clock = cpuClock.load(ordering: .acquiring)
        guard clock != Self.noClock else { return nil }
        var ts = timespec()
        guard clock_gettime(clockid_t(truncatingIfNeeded: clock), &ts) == 0 else { return nil }
        return .seconds(ts.tv_sec) + .nanoseconds(ts.tv_nsec)
    }

    /// True on this loop's own thread.
    public var inLoop: Bool {
        pthread_getspecific(currentLoopKey) == Unmanaged.passUnretained(self).toOpaque()
    }

    /// Runs a Swift job on the loop. From the loop's own thread this is an append; from another
    /// thread it is queued under a lock and wakes the loop if it sleeps. After the loop stopped,
    /// jobs go to the global executor so their tasks can still finish.
    public func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        if inLoop {
            jobs.append(unowned)
            return
        }
        let accepted = remote.withLock { r -> Bool in
            guard r.state != .stopped else { return false }
            r.jobs.append(unowned)
            return true
        }
        guard accepted else { return globalConcurrentExecutor.enqueue(ExecutorJob(unowned)) }
        wakeAfterRemoteWork()
    }

    /// Runs `work` on the loop thread soon; returns false (and does not run it) once the loop
    /// has stopped. On the loop thread itself it is queued behind the current work, never run inline.
    @discardableResult
    public func execute(_ work: @escaping @Sendable () -> Void) -> Bool {
        if inLoop {
            closures.append(work)
            return true
        }
        let accepted = remote.withLock { r -> Bool in
            guard r.state != .stopped else { return false }
            r.closures.append(work)
            return true
        }
        if accepted { wakeAfterRemoteWork() }
        return accepted
    }

    /// Runs `body` on the loop thread and waits for it. On the loop thread, or once the loop has
    /// stopped (nothing else can touch its state then), `body` runs right here.
    public func executeAndWait<T: Sendable>(_ body: @escaping @Sendable () -> T) -> T {
        if inLoop { return body() }
        let done = OneShot<T>()
        if execute({ done.set(body()) }) { return done.wait() }
        // The loop stopped: make sure its thread has finished before touching its state.
        waitUntilFinished()
        return body()
    }

    /// Returns once the loop has run a closure queued now, so whatever it was running or had
    /// queued when called has ended or reached its next suspension point. The edge sends a full
    /// answer from inside the job that hands it over (`MHDDaemon.answerReady`) and that job then
    /// counts and logs the request without suspending, so after this every request whose answer
    /// had gone out has been counted and logged. At once once the loop has stopped.
    public func settle() async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            if !execute({ done.resume() }) { done.resume() }
        }
    }

    private func wakeAfterRemoteWork() {
        remotePending.store(true, ordering: .sequentiallyConsistent)
        if sleeping.exchange(false, ordering: .sequentiallyConsistent) {
            var one: UInt64 = 1
            _ = write(wakeFD, &one, 8)
        }
    }

    // MARK: Lifecycle

    func start() throws(EventLoopError) {
        do {
            thread = try OSThread.start(name: "sy-loop-\(index)") { [self] in run() }
        } catch {
            finished.store(true, ordering: .releasing)
            throw EventLoopError("pthread_create failed: \(errnoText(error.code))")
        }
    }

    /// Asks the loop to finish the work queued so far and exit; then waits for its thread (unless
    /// called on it). Owners detach their descriptors and timers before this.
    func stop() {
        let first = remote.withLock { r -> Bool in
            guard r.state == .running else { return false }
            r.state = .stopping
            return true
        }
        if first { wakeAfterRemoteWork() }
        if inLoop { return }
        waitUntilFinished()
    }

    private func waitUntilFinished() {
        if finished.load(ordering: .acquiring) { return }
        if inLoop { return }
        // Joined once; a concurrent second waiter spins on `finished`.
        if joining.exchange(true, ordering: .acquiringAndReleasing) {
            while !finished.load(ordering: .acquiring) { sched_yield() }
        } else {
            thread?.join()
        }
    }

    private let joining = Atomic<Bool>(false)

    // MARK: Loop thread: the run loop

    private static let wakeToken = UInt64.max

    private func run() {
        pthread_setspecific(currentLoopKey, Unmanaged.passUnretained(self).toOpaque())
        var clock = clockid_t()
        if pthread_getcpuclockid(pthread_self(), &clock) == 0 { cpuClock.store(Int64(clock), ordering: .releasing) }
        var events = [epoll_event](repeating: epoll_event(), count: 256)
        var turn = 0
        lastWake = now()
        publishedTurnBegan.store(lastWake, ordering: .relaxed)
        while true {
            var timeout = pollTimeout()
            if timeout != 0 {
                // Between turns: a producer that clears `sleeping` to wake the loop leaves this,
                // so the loop does not look stuck in a turn that began before it slept.
                publishedTurnBegan.store(Self.betweenTurns, ordering: .relaxed)
                sleeping.store(true, ordering: .sequentiallyConsistent)
                if remotePending.load(ordering: .sequentiallyConsistent) { timeout = 0 }
            }
            turn &+= 1
            publishedTurns.store(turn, ordering: .relaxed)
            let beforeWait = now()
            busyShare.add(beforeWait &- lastWake, busy: true)
            publishedLoad.store(busyShare.scaled(Self.loadScale), ordering: .relaxed)
            let count = events.withUnsafeMutableBufferPointer { buffer in
                epoll_wait(epollFD, buffer.baseAddress, Int32(buffer.count), timeout)
            }
            sleeping.store(false, ordering: .relaxed)
            lastWake = now()
            busyShare.add(lastWake &- beforeWait, busy: false)
            publishedLoad.store(busyShare.scaled(Self.loadScale), ordering: .relaxed)
            publishedTurnBegan.store(lastWake, ordering: .relaxed)
            if count > 0 {
                for i in 0..<Int(count) { dispatch(events[i]) }
            }
            if remotePending.load(ordering: .sequentiallyConsistent), takeRemoteWork() { break }
            let idle = count == 0 && jobs.isEmpty && closures.isEmpty
            runReady()
            if !idle {
                busySinceRelease = true
                lastBusy = now()
            } else if busySinceRelease, now() - lastBusy >= idleReleaseDelay {
                busySinceRelease = false
                sy_loop_release_free_memory()
                releases.add(1, ordering: .relaxed)
            }
        }
        // Before `shutDown` marks the loop finished: a stopped loop reports no CPU time.
        cpuClock.store(Self.noClock, ordering: .releasing)
        shutDown()
    }

    private func dispatch(_ event: epoll_event) {
        let token = event.data.u64
        if token == Self.wakeToken {
            var value: UInt64 = 0
            _ = read(wakeFD, &value, 8)
            return
        }
        let index = Int(truncatingIfNeeded: token & 0xFFFF_FFFF)
        let generation = UInt32(truncatingIfNeeded: token >> 32)
        guard index < slots.count, slots[index].generation == generation, let watcher = slots[index].watcher else {
            return
        }
        watcher.ready(events: IOEvents(rawValue: event.events), token: slots[index].token)
    }

    /// Moves remote work into the local queues. Returns true when the loop must stop.
    private func takeRemoteWork() -> Bool {
        remotePending.store(false, ordering: .sequentiallyConsistent)
        let (remoteJobs, remoteClosures, state) = remote.withLock { r in
            defer {
                r.jobs.removeAll(keepingCapacity: true)
                r.closures.removeAll(keepingCapacity: true)
            }
            return (r.jobs, r.closures, r.state)
        }
        jobs += remoteJobs
        for c in remoteClosures { closures.append(c) }
        return state != .running
    }

    /// Fires due timers and runs queued work and hooks until nothing is due, bounded.
    private func runReady() {
        var budget = Self.maxRunPerIteration
        var rounds = 0
        repeat {
            fireDueTimers()
            budget -= runQueued(budget: budget)
            for hook in hooks { hook() }
            rounds += 1
        } while rounds < 16 && budget > 0 && (!jobs.isEmpty || !closures.isEmpty || nextTimerDeadline() <= now())
    }

    /// Runs queued closures and jobs (including ones they queue) up to `budget`; returns the count.
    /// The queues and the batches trade buffers, so neither is allocated again once it has grown
    /// (fresh batch arrays per call made every first job queued after a batch allocate the queue
    /// anew: about one allocation per request).
    private func runQueued(budget: Int) -> Int {
        var ran = 0
        let me = asUnownedTaskExecutor()
        while ran < budget, !jobs.isEmpty || !closures.isEmpty {
            swap(&batchClosures, &closures)
            unrunInBatch = batchClosures.count
            for c in batchClosures {
                unrunInBatch -= 1
                c()
            }
            ran += batchClosures.count
            batchClosures.removeAll(keepingCapacity: true)
            swap(&batchJobs, &jobs)
            unrunInBatch = batchJobs.count
            for job in batchJobs {
                unrunInBatch -= 1
                job.runSynchronously(on: me)
            }
            ran += batchJobs.count
            batchJobs.removeAll(keepingCapacity: true)
        }
        return ran
    }

    /// The batch being run (taken from `jobs` and `closures`, whose emptied buffers they become).
    private var batchJobs: [UnownedJob] = []
    private var batchClosures: [() -> Void] = []

    /// Jobs or closures of the batch being run that have not started yet (`hasOtherWork`).
    private var unrunInBatch = 0

    /// Whether anything besides the job or closure running now waits to run on this loop: a
    /// job or closure queued, or a job later in the current batch. Work that a later step batches
    /// (MHD sends every answer of a batch in one run) may rather be done right away when nothing
    /// else waits. Loop thread only.
    public var hasOtherWork: Bool { unrunInBatch > 0 || !jobs.isEmpty || !closures.isEmpty }

    /// Whether another thread has queued work that the loop has not taken yet (tests: work that
    /// waits until `settle`'s closure is queued behind it).
    var hasRemoteWork: Bool { remote.withLock { !$0.jobs.isEmpty || !$0.closures.isEmpty } }

    private func pollTimeout() -> Int32 {
        if !jobs.isEmpty || !closures.isEmpty { return 0 }
        var next = nextTimerDeadline()
        if busySinceRelease { next = min(next, lastBusy &+ idleReleaseDelay) }
        if next == LoopTimer.never { return 60_000 }
        let delta = next - now()
        if delta <= 0 { return 0 }
        // Round up: waking a little late is harmless, waking early costs a second epoll_wait.
        return Int32(min(60_000, (delta + 999_999) / 1_000_000))
    }

    private func nextTimerDeadline() -> Int64 {
        var next = LoopTimer.never
        for t in timers where t.deadline < next { next = t.deadline }
        return next
    }

    private func fireDueTimers() {
        guard !timers.isEmpty else { return }
        let at = now()
        for t in timers where t.deadline <= at {
            t.deadline = LoopTimer.never
            t.fire()
        }
    }

    /// Runs what is still queued, then refuses more (late jobs go to the global executor).
    private func shutDown() {
        var rounds = 0
        while rounds < 64, !jobs.isEmpty || !closures.isEmpty {
            _ = runQueued(budget: Int.max)
            _ = takeRemoteWork()
            rounds += 1
        }
        let (late, lateClosures) = remote.withLock { r in
            r.state = .stopped
            defer {
                r.jobs = []
                r.closures = []
            }
            return (r.jobs, r.closures)
        }
        for job in jobs + late { globalConcurrentExecutor.enqueue(ExecutorJob(job)) }
        jobs = []
        closures = []
        for c in lateClosures { Task.detached { c() } }
        slots = []
        timers = []
        hooks = []
        pthread_setspecific(currentLoopKey, nil)
        finished.store(true, ordering: .releasing)
    }

    // MARK: Loop thread: descriptors, timers, hooks

    struct Slot {
        var fd: Int32 = -1
        var token: Int = 0
        var generation: UInt32 = 0
        var watcher: (any EventLoopWatcher)?
    }

    /// A registered descriptor; pass it back to `modify`/`unwatch`. `rawValue` fits in a C
    /// `void *` (curl_multi_assign keeps it per socket) and is never 0.
    public struct Watch: Sendable, Equatable, RawRepresentable {
        let index: Int
        let generation: UInt32

        init(index: Int, generation: UInt32) {
            self.index = index
            self.generation = generation
        }

        public var rawValue: UInt { UInt(generation) << 32 | UInt(index + 1) }

        public init?(rawValue: UInt) {
            guard rawValue & 0xFFFF_FFFF != 0 else { return nil }
            index = Int(rawValue & 0xFFFF_FFFF) - 1
            generation = UInt32(truncatingIfNeeded: rawValue >> 32)
        }
    }

    /// Adds `fd` to the loop's epoll set, level-triggered; `watcher.ready` is called on the loop
    /// thread with the ready events and `token`. Loop thread only.
    public func watch(
        fd: Int32, events: IOEvents, watcher: any EventLoopWatcher, token: Int = 0
    ) throws(EventLoopError) -> Watch {
        let index = freeSlots.popLast() ?? slots.count
        if index == slots.count { slots.append(Slot()) }
        slots[index].generation &+= 1
        slots[index].fd = fd
        slots[index].token = token
        slots[index].watcher = watcher
        let watch = Watch(index: index, generation: slots[index].generation)
        var event = epoll_event()
        event.events = events.rawValue
        event.data.u64 = UInt64(watch.generation) << 32 | UInt64(index)
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event) == 0 else {
            let text = errnoText()
            release(index)
            throw EventLoopError("epoll_ctl(ADD, \(fd)) failed: \(text)")
        }
        registrations &+= 1
        return watch
    }

    /// Changes the events a watched descriptor waits for. Loop thread only.
    public func modify(_ watch: Watch, events: IOEvents) {
        guard watch.index < slots.count, slots[watch.index].generation == watch.generation else { return }
        var event = epoll_event()
        event.events = events.rawValue
        event.data.u64 = UInt64(watch.generation) << 32 | UInt64(watch.index)
        _ = epoll_ctl(epollFD, EPOLL_CTL_MOD, slots[watch.index].fd, &event)
    }

    /// Removes a descriptor (before it is closed). Loop thread only; harmless twice.
    public func unwatch(_ watch: Watch) {
        guard watch.index < slots.count, slots[watch.index].generation == watch.generation,
            slots[watch.index].watcher != nil
        else { return }
        _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, slots[watch.index].fd, nil)
        release(watch.index)
    }

    private func release(_ index: Int) {
        slots[index].watcher = nil
        slots[index].fd = -1
        slots[index].generation &+= 1
        freeSlots.append(index)
    }

    /// Registers a timer; set its `deadline` to arm it. Loop thread only.
    public func add(_ timer: LoopTimer) {
        guard !timers.contains(where: { $0 === timer }) else { return }
        timers.append(timer)
    }

    /// Unregisters a timer. Loop thread only.
    public func remove(_ timer: LoopTimer) {
        timers.removeAll { $0 === timer }
    }

    /// Adds a hook run after every batch of queued work (e.g. to let MHD send what handlers
    /// answered in that batch). Loop thread only; hooks live as long as the loop.
    public func addHook(_ hook: @escaping () -> Void) -> Int {
        hooks.append(hook)
        return hooks.count - 1
    }

    /// Replaces a hook with a no-op (its owner is going away). Loop thread only.
    public func removeHook(_ id: Int) {
        guard id < hooks.count else { return }
        hooks[id] = {}
    }

    /// Monotonic nanoseconds (`CLOCK_MONOTONIC`, the clock `ContinuousClock` reads on Linux).
    @inline(__always)
    public func now() -> Int64 { monotonicNanoseconds() }
}

/// Receives readiness for descriptors it watches on a loop (loop thread).
public protocol EventLoopWatcher: AnyObject {
    func ready(events: IOEvents, token: Int)
}

/// epoll event bits, as a Swift option set (EPOLLIN, EPOLLOUT, ...).
public struct IOEvents: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// EPOLLIN
    public static let readable = IOEvents(rawValue: EPOLLIN.rawValue)
    /// EPOLLOUT
    public static let writable = IOEvents(rawValue: EPOLLOUT.rawValue)
    /// EPOLLERR (always reported)
    public static let error = IOEvents(rawValue: EPOLLERR.rawValue)
    /// EPOLLHUP (always reported)
    public static let hangUp = IOEvents(rawValue: EPOLLHUP.rawValue)
    /// EPOLLRDHUP: the peer shut down its side.
    public static let peerClosed = IOEvents(rawValue: EPOLLRDHUP.rawValue)
    /// EPOLLET: report changes only (the default is level-triggered).
    public static let edgeTriggered = IOEvents(rawValue: EPOLLET.rawValue)
    /// EPOLLEXCLUSIVE: of the epoll sets watching one descriptor with it, an event wakes one that
    /// has a thread waiting (the first such, in the order they were added), not every one. Only
    /// for `watch` (the kernel refuses it in `modify`).
    public static let exclusive = IOEvents(rawValue: EPOLLEXCLUSIVE.rawValue)
}

/// A one-shot deadline on a loop: `fire` runs on the loop thread once `deadline` (monotonic
/// nanoseconds) has passed, and the timer disarms itself first. Loop thread only.
public final class LoopTimer {
    public static let never = Int64.max
    public var deadline: Int64 = LoopTimer.never
    let fire: () -> Void

    public init(_ fire: @escaping () -> Void) { self.fire = fire }
}

/// Why a loop could not be created or started.
public struct EventLoopError: Error, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// Monotonic nanoseconds on `CLOCK_MONOTONIC`: a vDSO call.
@inline(__always)
public func monotonicNanoseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) &* 1_000_000_000 &+ Int64(ts.tv_nsec)
}

func errnoText(_ code: Int32 = errno) -> String {
    guard let text = strerror(code) else { return "errno \(code)" }
    return String(cString: text)
}

/// The pthread key behind `EventLoop.current` (set by each loop thread for itself).
private let currentLoopKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key, nil)
    return key
}()

/// A value handed from the loop thread to one waiting thread.
final class OneShot<T: Sendable>: Sendable {
    private let value = Mutex<T?>(nil)
    private let ready = DispatchSemaphore(value: 0)

    func set(_ v: T) {
        value.withLock { $0 = v }
        ready.signal()
    }

    func wait() -> T {
        ready.wait()
        return value.withLock { $0! }
    }
}
