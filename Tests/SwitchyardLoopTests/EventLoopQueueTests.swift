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
