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
/// once the writer gets through, one line says how many were lost where they were lost. The writer
/// wakes when a line arrives and writes everything waiting in one write(2); lines that come
/// meanwhile go in the next, so under load it makes fewer system calls than there are lines.
///
/// A reader that has gone (EPIPE) or a descriptor that fails otherwise loses the lines, never the
/// process: SIGPIPE is blocked on the writer's thread, where a write to a closed pipe raises it.
///
/// `@unchecked Sendable`: every mutable field is touched only with `mutex` held.
final class LogWriter: @unchecked Sendable {
    private let fd: Int32
    /// Bytes of lines that may wait for the writer.
    let capacity: Int
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
    private var writing = false
    private var stopping = false
    /// nil until the first line starts the writer; false when its thread could not start (lines
    /// are then written by the thread that logs, as before).
    private var writerRunning: Bool?
    private let dropped = Atomic<Int>(0)

    init(fd: Int32, capacity: Int = 4 << 20, dropNote: @escaping @Sendable (Int) -> [UInt8]) {
        self.fd = fd
        self.capacity = capacity
        self.dropNote = dropNote
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(arrived, &attributes)
        pthread_cond_init(drained, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    /// Lines dropped so far because the reader fell `capacity` bytes behind.
    var droppedLines: Int { dropped.load(ordering: .relaxed) }

    /// Queues `line` (a whole line, newline included) and returns at once; drops it when `capacity`
    /// bytes already wait.
    func write(_ line: [UInt8]) {
        pthread_mutex_lock(mutex)
        if writerRunning == nil { writerRunning = startWriter() }
        guard writerRunning == true else {
            pthread_mutex_unlock(mutex)
            return Self.writeAll(line, to: fd)
        }
        guard pending.count + line.count <= capacity else {
            droppedSinceNote += 1
            pthread_mutex_unlock(mutex)
            dropped.add(1, ordering: .relaxed)
            return
        }
        pending.append(contentsOf: line)
        let wake = writerIdle
        writerIdle = false
        pthread_mutex_unlock(mutex)
        if wake { pthread_cond_signal(arrived) }
    }

    /// Waits until every line queued so far is written, or `timeout` has passed (a reader that
    /// never reads must not keep the process from exiting). True when everything was written.
    @discardableResult
    func flush(timeout: Duration = .seconds(2)) -> Bool {
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let (seconds, attoseconds) = timeout.components
        let nanoseconds = Int(deadline.tv_nsec) + Int(attoseconds / 1_000_000_000)
        deadline.tv_sec += Int(seconds) + nanoseconds / 1_000_000_000
        deadline.tv_nsec = nanoseconds % 1_000_000_000
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while writerRunning == true, !pending.isEmpty || writing || droppedSinceNote > 0 {
            if pthread_cond_timedwait(drained, mutex, &deadline) == ETIMEDOUT { return false }
        }
        return true
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
        let wake = writerIdle
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
