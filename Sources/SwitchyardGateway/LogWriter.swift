import Glibc
import SwitchyardThreads
import Synchronization

/// Writes log lines to a descriptor (stderr) from a thread of its own, so that a thread that logs
/// (an event loop writing a request's access line) never waits for whoever reads that descriptor.
///
/// A sidecar's stderr is a pipe to the container runtime or a log shipper. Written to directly, a
/// reader that fell one pipe buffer behind (64 KiB, about 150 access lines) blocked the loop in
/// write(2): every request on it, `/healthz` included, waited for the reader. Here lines wait in
/// memory, up to `capacity` bytes; past that a line is dropped and counted (`droppedLines`), and
/// once the writer gets through, one line says how many were lost where they were lost.
///
/// The writer sleeps while nothing waits. The first line wakes it; it then gathers what follows for
/// up to `linger` (or until `batchBytes` wait) and writes it all in one write(2). Woken for every
/// line instead, it cost 4-7 us of CPU per request at 15-18k requests a second (a wake-up and a
/// small write each); gathered, a few wake-ups a millisecond serve any rate, and a line reaches the
/// log at most `linger` late.
///
/// A reader that has gone (EPIPE) or a descriptor that fails otherwise loses the lines, never the
/// process: SIGPIPE is blocked on the writer's thread, where a write to a closed pipe raises it.
///
/// `@unchecked Sendable`: every mutable field is touched only with `mutex` held.
final class LogWriter: @unchecked Sendable {
    private let fd: Int32
    /// Bytes of lines that may wait for the writer.
    let capacity: Int
    /// How long the writer gathers lines after the first one before writing them.
    let linger: Duration
    /// Waiting bytes that end the gathering early.
    let batchBytes: Int
    /// The line reporting `count` lines dropped before it.
    private let dropNote: @Sendable (Int) -> [UInt8]
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    /// Signalled when a line arrives for an idle writer.
    private let arrived = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// Broadcast when the writer has written everything it was given.
    private let drained = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var pending: [UInt8] = []
    private var droppedSinceNote = 0
    private var writerIdle = false
    /// The writer gathers lines until `batchBytes` wait (or `linger` passed): a line that brings
    /// the waiting bytes there wakes it.
    private var lingering = false
    private var writing = false
    private var stopping = false
    /// Callers of `flush` waiting: the writer stops gathering and writes at once.
    private var flushing = 0
    /// nil until the first line starts the writer; false when its thread could not start (lines
    /// are then written by the thread that logs, as before).
    private var writerRunning: Bool?
    private let dropped = Atomic<Int>(0)

    init(
        fd: Int32, capacity: Int = 4 << 20, linger: Duration = .milliseconds(2), batchBytes: Int = 64 << 10,
        dropNote: @escaping @Sendable (Int) -> [UInt8]
    ) {
        self.fd = fd
        self.capacity = capacity
        self.linger = linger
        self.batchBytes = batchBytes
        self.dropNote = dropNote
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(arrived, &attributes)
        pthread_cond_init(drained, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    /// Runs once the writer's thread has ended (it holds the writer while it runs).
    deinit {
        pthread_cond_destroy(drained)
        pthread_cond_destroy(arrived)
        pthread_mutex_destroy(mutex)
        drained.deallocate()
        arrived.deallocate()
        mutex.deallocate()
    }

    /// Lines dropped so far because the reader fell `capacity` bytes behind.
    var droppedLines: Int { dropped.load(ordering: .relaxed) }

    /// Queues `line` (a whole line, newline included) and returns at once; drops it when `capacity`
    /// bytes already wait, and every line after it until the writer has taken what waits (so the
    /// note of the drop stands exactly where the lines are missing).
    func write(_ line: [UInt8]) {
        pthread_mutex_lock(mutex)
        if writerRunning == nil { writerRunning = startWriter() }
        guard writerRunning == true else {
            pthread_mutex_unlock(mutex)
            return Self.writeAll(line, to: fd)
        }
        guard droppedSinceNote == 0, pending.count + line.count <= capacity else {
            droppedSinceNote += 1
            pthread_mutex_unlock(mutex)
            dropped.add(1, ordering: .relaxed)
            return
        }
        let before = pending.count
        pending.append(contentsOf: line)
        let wake = writerIdle || (lingering && before < batchBytes && pending.count >= batchBytes)
        writerIdle = false
        pthread_mutex_unlock(mutex)
        if wake { pthread_cond_signal(arrived) }
    }

    /// Waits until every line queued so far is written, or `timeout` has passed (a reader that
    /// never reads must not keep the process from exiting). True when everything was written.
    @discardableResult
    func flush(timeout: Duration = .seconds(2)) -> Bool {
        var deadline = Self.deadline(after: timeout)
        pthread_mutex_lock(mutex)
        flushing += 1
        if lingering { pthread_cond_signal(arrived) }
        defer {
            flushing -= 1
            pthread_mutex_unlock(mutex)
        }
        while writerRunning == true, !pending.isEmpty || writing || droppedSinceNote > 0 {
            if pthread_cond_timedwait(drained, mutex, &deadline) == ETIMEDOUT { return false }
        }
        return true
    }

    /// `clock_gettime(CLOCK_MONOTONIC)` plus `duration`, for `pthread_cond_timedwait`.
    private static func deadline(after duration: Duration) -> timespec {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        let (seconds, attoseconds) = duration.components
        let nanoseconds = Int(t.tv_nsec) + Int(attoseconds / 1_000_000_000)
        t.tv_sec += Int(seconds) + nanoseconds / 1_000_000_000
        t.tv_nsec = nanoseconds % 1_000_000_000
        return t
    }

    /// Called with `mutex` held.
    private func startWriter() -> Bool {
        do {
            try OSThread.start(name: "sy-log", detached: true) { [self] in run() }
            return true
        } catch {
            return false
        }
    }

    private func run() {
        var blocked = sigset_t()
        sigemptyset(&blocked)
        sigaddset(&blocked, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &blocked, nil)
        var batch: [UInt8] = []
        pthread_mutex_lock(mutex)
        while true {
            while pending.isEmpty && droppedSinceNote == 0 && !stopping {
                writerIdle = true
                pthread_cond_wait(arrived, mutex)
            }
            if pending.isEmpty && droppedSinceNote == 0 { break }
            // Gather what follows the first line, unless enough waits already or someone waits.
            var until = Self.deadline(after: linger)
            lingering = true
            while pending.count < batchBytes && droppedSinceNote == 0 && !stopping && flushing == 0 {
                if pthread_cond_timedwait(arrived, mutex, &until) == ETIMEDOUT { break }
            }
            lingering = false
            writerIdle = false
            swap(&batch, &pending)
            let lost = droppedSinceNote
            droppedSinceNote = 0
            writing = true
            pthread_mutex_unlock(mutex)
            // The lines taken came before the ones dropped, so the note follows them.
            Self.writeAll(batch, to: fd)
            if lost > 0 { Self.writeAll(dropNote(lost), to: fd) }
            // A burst's buffer is not kept for good.
            if batch.capacity > 64 << 10 { batch = [] } else { batch.removeAll(keepingCapacity: true) }
            pthread_mutex_lock(mutex)
            writing = false
            if pending.isEmpty && droppedSinceNote == 0 { pthread_cond_broadcast(drained) }
        }
        writerRunning = false
        pthread_cond_broadcast(drained)
        pthread_mutex_unlock(mutex)
    }

    /// Ends the writer once it has written what waits (tests; the process's own writer runs for
    /// as long as the process). Lines that come later are written by the thread that logs.
    func stop() {
        pthread_mutex_lock(mutex)
        stopping = true
        let wake = writerIdle || lingering
        writerIdle = false
        pthread_mutex_unlock(mutex)
        if wake { pthread_cond_signal(arrived) }
        flush()
    }

    /// Writes all of `bytes`, through partial writes and interruptions; waits for a non-blocking
    /// descriptor to take more; gives up on any other error (the reader has gone).
    private static func writeAll(_ bytes: [UInt8], to fd: Int32) {
        bytes.withUnsafeBytes { all in
            var rest = all
            while !rest.isEmpty {
                let n = Glibc.write(fd, rest.baseAddress, rest.count)
                if n > 0 {
                    rest = UnsafeRawBufferPointer(rebasing: rest[n...])
                } else if n < 0 && errno == EINTR {
                    continue
                } else if n < 0 && errno == EAGAIN {
                    var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&p, 1, -1)
                } else {
                    return
                }
            }
        }
    }
}
