import Glibc
import Synchronization
import Testing

@testable import SwitchyardLoop

/// The loop's queue of closures and jobs runs work in the order it was queued.
@Suite("EventLoop runs queued work in order")
struct EventLoopQueueTests {
    /// Closures queued from the loop thread run in the order queued, including those queued by
    /// closures of an earlier batch (the queue and the batch trade buffers between rounds).
    @Test func closuresQueuedFromTheLoopRunInOrderAcrossBatches() throws {
        let group = try EventLoopGroup(count: 1)
        defer { group.shutdown() }
        let loop = group.loops[0]
        let order = Mutex<[Int]>([])
        let done = Mutex(false)
        // Each round queues three closures; the last of a round starts the next round.
        @Sendable func round(_ n: Int) {
            for i in 0..<3 {
                loop.execute {
                    order.withLock { $0.append(n * 3 + i) }
                    if i == 2 {
                        if n < 99 { round(n + 1) } else { done.withLock { $0 = true } }
                    }
                }
            }
        }
        loop.executeAndWait { round(0) }
        // The rounds run on the loop; wait for the last one from here (a closure queued behind it).
        for _ in 0..<10_000 where !done.withLock({ $0 }) { loop.executeAndWait {} }
        #expect(done.withLock { $0 })
        #expect(order.withLock { $0 } == Array(0..<300))
    }
}

/// The loop's queue of closures and jobs: what `hasOtherWork` reports to work that may
/// be batched (the edge sends an answer at once only when nothing else waits).
@Suite("EventLoop knows what waits")
struct EventLoopPendingWorkTests {
    /// `hasOtherWork` is true while another closure or job of the same batch, or a queued one,
    /// waits, and false for the last piece of work.
    @Test func hasOtherWorkSeesTheRestOfTheBatchAndTheQueue() throws {
        let group = try EventLoopGroup(count: 1)
        defer { group.shutdown() }
        let loop = group.loops[0]
        let seen = Seen()
        loop.executeAndWait {
            loop.execute { seen.record("closure 1 of 2", loop.hasOtherWork) }
            loop.execute { seen.record("closure 2 of 2", loop.hasOtherWork) }
        }
        _ = loop.executeAndWait {
            loop.execute {
                loop.execute {}
                seen.record("closure that queued one", loop.hasOtherWork)
            }
        }
        // Tasks started on the loop thread queue their first jobs there, as the edge's handlers do.
        loop.executeAndWait {
            Task(executorPreference: loop) { seen.record("job 1 of 2", loop.hasOtherWork) }
            Task(executorPreference: loop) { seen.record("job 2 of 2", loop.hasOtherWork) }
        }
        for _ in 0..<10_000 where seen.values.count < 5 { loop.executeAndWait {} }
        let result = seen.values
        #expect(result["closure 1 of 2"] == true)
        #expect(result["closure 2 of 2"] == false)
        #expect(result["closure that queued one"] == true)
        #expect(result["job 1 of 2"] == true)
        #expect(result["job 2 of 2"] == false)
    }
}

/// What each piece of work saw, by name.
private final class Seen: Sendable {
    private let state = Mutex<[String: Bool]>([:])

    func record(_ name: String, _ value: Bool) { state.withLock { $0[name] = value } }

    var values: [String: Bool] { state.withLock { $0 } }
}

/// `settle`: what a reader of state that a loop's work writes awaits first (the gateway before
/// `/metrics`, tests before reading captured logs).
@Suite("EventLoop settles")
struct EventLoopSettleTests {
    /// `settle` returns only after the work the loop had when it was called has ended. The
    /// closure here ends only once something is queued behind it (at most 20 s), so `settle`
    /// must have queued its own and waited for it: returning early, it would see `done` false.
    @Test func settleWaitsForTheWorkUnderWay() async throws {
        let group = try EventLoopGroup(count: 1)
        defer { group.shutdown() }
        let loop = group.loops[0]
        let done = Atomic<Bool>(false)
        loop.execute {
            for _ in 0..<20_000 where !loop.hasOtherWork && !loop.hasRemoteWork { usleep(1000) }
            done.store(true, ordering: .releasing)
        }
        await loop.settle()
        let doneBeforeSettled = done.load(ordering: .acquiring)
        #expect(doneBeforeSettled)
        // A stopped loop settles at once.
        group.shutdown()
        await loop.settle()
    }
}
