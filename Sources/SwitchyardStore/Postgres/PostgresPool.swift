import Dispatch
import SwitchyardTasks
import SwitchyardThreads
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A small pool of PostgreSQL connections, each owned by one thread of the pool for its whole
/// life: a job waits in the queue (never on a thread) until a thread is free, then runs with that
/// thread's connection. Every libpq call blocks for a round trip, so this is where they block:
/// never on an event loop, a curl or edge thread, or the cooperative pool.
///
/// Threads (and their connections) start on demand, up to `size`; a thread whose connection broke
/// (server restart, network) connects again for its next job, and that job gets the error if it
/// cannot. Nothing is retried behind the caller's back: a transaction whose COMMIT got no answer
/// may or may not have committed, and only the caller knows whether repeating it is safe.
///
/// `@unchecked Sendable`: `queue`, `head`, `idle`, `threads` and `stopping` are only touched with
/// `mutex` held; `joinable` is appended under it and drained once by `close()`.
final class PostgresPool: @unchecked Sendable {
    typealias Job = @Sendable (Result<PostgresConnection, StoreError>) -> Void

    let size: Int
    private let url: String
    let location: String
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var queue: [Job] = []
    private var head = 0
    private var idle = 0
    private var threads = 0
    private var stopping = false
    private var joinable: [OSThread] = []
    private let setUp: @Sendable (PostgresConnection) throws(StoreError) -> Void
    /// The server processes behind this pool's connections (`pg_backend_pid()`).
    let backendPIDs = Mutex<Set<Int32>>([])

    /// - Parameter setUp: runs on every new connection before its first job (session settings).
    init(
        url: String, location: String, size: Int,
        setUp: @escaping @Sendable (PostgresConnection) throws(StoreError) -> Void = { _ in }
    ) {
        self.url = url
        self.location = location
        self.size = max(1, size)
        self.setUp = setUp
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
    }

    deinit {
        close()
        pthread_cond_destroy(wake)
        pthread_mutex_destroy(mutex)
        wake.deallocate()
        mutex.deallocate()
    }

    /// Runs `body` on a pool thread with its connection and resumes the caller with the result.
    func perform<T: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) throws(StoreError) -> T
    ) async throws(StoreError) -> T {
        let result: Result<T, StoreError> = await withCheckedContinuation { continuation in
            submit { connection in
                continuation.resume(
                    returning: connection.flatMap { connection in
                        Result { () throws(StoreError) -> T in try body(connection) }
                    })
            }
        }
        return try result.get()
    }

    /// `perform` for a caller that may block (a server's start-up, a command-line tool): waits on
    /// the calling thread, never on the cooperative pool.
    func performBlocking<T: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) throws(StoreError) -> T
    ) throws(StoreError) -> T {
        let done = DispatchSemaphore(value: 0)
        let outcome = Mutex<Result<T, StoreError>?>(nil)
        submit { connection in
            outcome.withLock {
                $0 = connection.flatMap { connection in Result { () throws(StoreError) -> T in try body(connection) } }
            }
            done.signal()
        }
        done.wait()
        return try outcome.withLock { $0! }.get()
    }

    /// Jobs queued and not yet taken by a thread (tests).
    var waitingJobs: Int {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return queue.count - head
    }

    /// Queues `job`; starts a thread when every running one is busy and the pool is not full.
    func submit(_ job: @escaping Job) {
        pthread_mutex_lock(mutex)
        guard !stopping else {
            pthread_mutex_unlock(mutex)
            job(.failure(StoreError(kind: .unavailable, message: "the store is closed", path: location)))
            return
        }
        queue.append(job)
        let start = queue.count - head > idle && threads < size
        if start { threads += 1 }
        pthread_cond_signal(wake)
        pthread_mutex_unlock(mutex)
        if start { startThread() }
    }

    /// Stops taking jobs, lets the threads finish the queued ones, closes every connection and
    /// waits for the threads. Idempotent.
    func close() {
        pthread_mutex_lock(mutex)
        stopping = true
        pthread_cond_broadcast(wake)
        let toJoin = joinable
        joinable = []
        pthread_mutex_unlock(mutex)
        for thread in toJoin { thread.join() }
    }

    private func startThread() {
        let thread = try? OSThread.start(name: "sy-pg-conn") { [self] in run() }
        pthread_mutex_lock(mutex)
        if let thread {
            joinable.append(thread)
        } else {
            threads -= 1
        }
        pthread_mutex_unlock(mutex)
    }

    private func next() -> Job? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        idle += 1
        while head == queue.count && !stopping { pthread_cond_wait(wake, mutex) }
        idle -= 1
        guard head < queue.count else {
            threads -= 1
            return nil
        }
        let job = queue[head]
        head += 1
        if head == queue.count {
            queue.removeAll(keepingCapacity: true)
            head = 0
        }
        return job
    }

    private func run() {
        var connection: PostgresConnection?
        defer {
            if let pid = connection?.backendPID { _ = backendPIDs.withLock { $0.remove(pid) } }
        }
        while let job = next() {
            if let current = connection, !current.isHealthy {
                _ = backendPIDs.withLock { $0.remove(current.backendPID) }
                connection = nil
            }
            if connection == nil {
                do {
                    let fresh = try PostgresConnection(url: url, location: location)
                    try setUp(fresh)
                    connection = fresh
                    _ = backendPIDs.withLock { $0.insert(fresh.backendPID) }
                } catch {
                    job(.failure(error))
                    continue
                }
            }
            job(.success(connection!))
        }
    }
}
