import Glibc
import Synchronization
import Testing

@testable import SwitchyardLoop

/// How many turns (`epoll_wait` calls) a loop takes. At one request at a time a proxied request
/// should cost the loop two waits (for the client, for the upstream) and no turn beyond them:
/// curl asks for a 0 ms timer when a transfer is added, MHD for one while it has work pending,
/// and an upstream answer resumes the handler's job; each is done in the turn that caused it.
@Suite("EventLoop turns")
struct EventLoopTurnTests {
    /// A timer armed for now by queued work, or by a hook, fires before the loop polls again
    /// (curl's 0 ms timer after `curl_multi_add_handle`: the request goes upstream in the turn
    /// that handled it).
    @Test func aTimerArmedForNowFiresBeforeTheLoopPollsAgain() throws {
        let group = try EventLoopGroup(count: 1)
        defer { group.shutdown() }
        let loop = group.loops[0]
        let seen = Mutex<[String: Int]>([:])
        loop.executeAndWait {
            let byWork = LoopTimer { seen.withLock { $0["fired by work"] = loop.turns } }
            loop.add(byWork)
            seen.withLock { $0["armed by work"] = loop.turns }
            byWork.deadline = loop.now()
            let byHook = LoopTimer { seen.withLock { $0["fired by hook"] = loop.turns } }
            loop.add(byHook)
            var armed = false
            _ = loop.addHook {
                guard !armed else { return }
                armed = true
                seen.withLock { $0["armed by hook"] = loop.turns }
                byHook.deadline = loop.now()
            }
        }
        for _ in 0..<1000 where seen.withLock({ $0.count }) < 4 { loop.executeAndWait {} }
        let result = seen.withLock { $0 }
        #expect(result.count == 4)
        #expect(result["fired by work"] == result["armed by work"])
        #expect(result["fired by hook"] == result["armed by hook"])
    }

    /// A job resumed from the loop thread runs before the loop polls again (an upstream answer:
    /// curl's completion resumes the handler, which answers the client in the same turn).
    @Test func aJobResumedOnTheLoopRunsBeforeTheLoopPollsAgain() async throws {
        let group = try EventLoopGroup(count: 1)
        defer { group.shutdown() }
        let loop = group.loops[0]
        let parked = Mutex<UnsafeContinuation<Int, Never>?>(nil)
        let task = Task(executorPreference: loop) { () -> (resumedAt: Int, ranAt: Int) in
            let resumedAt = await withUnsafeContinuation { c in parked.withLock { $0 = c } }
            return (resumedAt, loop.turns)
        }
        for _ in 0..<10_000 where parked.withLock({ $0 == nil }) { loop.executeAndWait {} }
        loop.execute {
            let waiter = parked.withLock { $0.take() }
            waiter?.resume(returning: loop.turns)
        }
        let turns = await task.value
        #expect(turns.ranAt == turns.resumedAt)
    }

    /// With nothing to do the loop sleeps in `epoll_wait` instead of turning (no busy polling:
    /// spinning took the CPU that the client and the upstream needed, see README "Latency at c=1").
    @Test func anIdleLoopSleepsInsteadOfTurning() throws {
        let group = try EventLoopGroup(count: 1, idleMemoryRelease: .seconds(3600))
        defer { group.shutdown() }
        let loop = group.loops[0]
        let before = loop.executeAndWait { loop.turns }
        usleep(100_000)
        let after = loop.executeAndWait { loop.turns }
        // The wake-up for the second closure and its turn; a spinning loop would count thousands.
        #expect(after - before <= 3)
    }
}
