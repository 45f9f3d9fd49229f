import Glibc
import SwitchyardThreads

/// Counts live server threads so `stop()` can wait for all of them (a condition variable; Mutex
/// has none).
///
/// Why `@unchecked Sendable`: `mutex` and `cond` are heap-allocated once, initialised in `init`,
/// destroyed in `deinit`, and `count` is read and written only while `mutex` is held.
final class MockThreadGroup: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var count = 0

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(cond, nil)
    }

    deinit {
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        cond.deallocate()
    }

    /// Runs `body` on a new detached thread, counted until it returns.
    func spawn(_ body: @escaping @Sendable () -> Void) -> Bool {
        pthread_mutex_lock(mutex)
        count += 1
        pthread_mutex_unlock(mutex)
        do {
            try OSThread.start(name: "mock-conn", stackSize: 512 << 10, detached: true) { [self] in
                body()
                leave()
            }
            return true
        } catch {
            leave()
            return false
        }
    }

    private func leave() {
        pthread_mutex_lock(mutex)
        count -= 1
        if count == 0 { pthread_cond_broadcast(cond) }
        pthread_mutex_unlock(mutex)
    }

    /// Blocks until every spawned thread has returned.
    func waitForAll() {
        pthread_mutex_lock(mutex)
        while count > 0 { pthread_cond_wait(cond, mutex) }
        pthread_mutex_unlock(mutex)
    }
}
