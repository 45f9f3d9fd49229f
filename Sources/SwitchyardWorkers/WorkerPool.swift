import Glibc
import SwitchyardThreads

/// A fixed set of threads that run Swift jobs: the place for work whose cost grows with its input
/// (parsing and translating a large request) so it never runs on a thread that drives other
/// requests' I/O (an event loop, which runs its connections' daemon and upstream transfers) and
/// never occupies the cooperative pool, which the small requests' continuations need.
///
/// Tasks reach it as their preferred executor (`Task(executorPreference:)` or
/// `withTaskExecutorPreference`); jobs run in the order they were enqueued, each to its next
/// suspension point. The number of threads bounds how much such work runs at once; a job waits in
/// the queue, not on a thread, when all are busy.
///
/// `@unchecked Sendable`: `queue` and `stopping` are only touched with `mutex` held; `threads` is
/// written in `init` before any thread can see the pool and read in `shutdown()`, which `joined`
/// (under `mutex`) makes run once.
public final class WorkerPool: TaskExecutor, @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var queue: [UnownedJob] = []
    private var head = 0
    private var stopping = false
    private var joined = false
    private var threads: [OSThread] = []

    /// Threads in the pool.
    public let size: Int

    /// One per online core, at least 2 (the server passes its CPU budget instead).
    public static var defaultSize: Int { max(2, sysconf(Int32(_SC_NPROCESSORS_ONLN))) }

    /// Starts `size` threads (nil: `defaultSize`).
    public init(size: Int? = nil) {
        self.size = max(1, size ?? Self.defaultSize)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        for i in 0..<self.size {
            if let thread = try? OSThread.start(name: "sy-worker-\(i)", { [self] in run() }) { threads.append(thread) }
        }
    }

    deinit {
        shutdown()
        pthread_cond_destroy(wake)
        pthread_mutex_destroy(mutex)
        wake.deallocate()
        mutex.deallocate()
    }

    /// Jobs waiting for a thread now.
    public var queued: Int {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return queue.count - head
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        pthread_mutex_lock(mutex)
        guard !stopping, !threads.isEmpty else {
            pthread_mutex_unlock(mutex)
            // After shutdown (or with no thread) a task must still be able to finish.
            unowned.runSynchronously(on: globalConcurrentExecutor.asUnownedTaskExecutor())
            return
        }
        queue.append(unowned)
        pthread_cond_signal(wake)
        pthread_mutex_unlock(mutex)
    }

    /// Stops the threads after the jobs already queued and waits for them. Idempotent; jobs
    /// enqueued afterwards run on the global executor.
    public func shutdown() {
        pthread_mutex_lock(mutex)
        let first = !joined
        joined = true
        stopping = true
        pthread_cond_broadcast(wake)
        pthread_mutex_unlock(mutex)
        guard first else { return }
        for thread in threads { thread.join() }
    }

    private func run() {
        let me = asUnownedTaskExecutor()
        while true {
            pthread_mutex_lock(mutex)
            while head == queue.count && !stopping {
                pthread_cond_wait(wake, mutex)
            }
            guard head < queue.count else {
                pthread_mutex_unlock(mutex)
                return
            }
            let job = queue[head]
            head += 1
            if head == queue.count {
                queue.removeAll(keepingCapacity: queue.capacity <= 1024)
                head = 0
            } else if head >= 1024 {
                queue.removeFirst(head)
                head = 0
            }
            pthread_mutex_unlock(mutex)
            job.runSynchronously(on: me)
        }
    }
}
