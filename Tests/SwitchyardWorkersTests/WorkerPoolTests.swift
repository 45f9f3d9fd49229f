import Glibc
import SwitchyardWorkers
import Synchronization
import Testing

/// What the jobs of one test saw.
private final class Seen: Sendable {
    let running = Atomic<Int>(0)
    let most = Atomic<Int>(0)
    let threads = Mutex<Set<UInt>>([])
}

@Suite(.timeLimit(.minutes(1)))
struct WorkerPoolTests {
    @Test func tasksThatPreferThePoolRunOnItsThreadsAndNoMoreAtOnceThanItHas() async {
        // One thread: the cooperative pool (one thread per core, at least 2 on CI) would run two at once.
        let pool = WorkerPool(size: 1)
        defer { pool.shutdown() }
        let seen = Seen()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask(executorPreference: pool) { [seen] in
                    let now = seen.running.add(1, ordering: .relaxed).newValue
                    _ = seen.most.max(now, ordering: .relaxed)
                    seen.threads.withLock { _ = $0.insert(UInt(pthread_self())) }
                    usleep(20_000)  // CPU-bound work holds its thread; nothing to await
                    seen.running.subtract(1, ordering: .relaxed)
                }
            }
        }
        #expect(seen.most.load(ordering: .relaxed) == 1)
        #expect(seen.threads.withLock { $0.count } == 1)
    }

    @Test func aTaskStillFinishesAfterShutdown() async {
        let pool = WorkerPool(size: 1)
        pool.shutdown()
        let value = await Task(executorPreference: pool) { 41 + 1 }.value
        #expect(value == 42)
    }

    @Test func aSuspendedTaskComesBackToThePool() async {
        let pool = WorkerPool(size: 1)
        defer { pool.shutdown() }
        let (before, after) = await Task(executorPreference: pool) { () -> (UInt, UInt) in
            let before = UInt(pthread_self())
            await Task.yield()
            try? await Task.sleep(for: .milliseconds(5))
            return (before, UInt(pthread_self()))
        }.value
        #expect(before == after)
    }
}
