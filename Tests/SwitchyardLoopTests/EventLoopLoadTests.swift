import Dispatch
import Glibc
import Synchronization
import Testing

@testable import SwitchyardLoop

/// A loop's load (the share of recent time spent outside `epoll_wait`) and the start of its turn
/// under way: what the edge reads to pick the loop that serves a new connection.
@Suite(.timeLimit(.minutes(1)))
struct EventLoopLoadTests {
    @Test func aStretchAsLongAsTheWindowMovesTheShareHalfWayAndALongOneAllTheWay() {
        var share = BusyShare(window: 100)
        share.add(100, busy: true)
        #expect(share.value == 0.5)
        share.add(100, busy: true)
        #expect(share.value == 0.75)
        share.add(1_000_000, busy: false)
        #expect(share.value < 0.001)
        // Nothing happens in no time, nor in negative time (a clock read out of order).
        share.add(0, busy: true)
        share.add(-5, busy: true)
        #expect(share.value < 0.001)
    }

    @Test func shortStretchesAverageToTheShareOfTimeSpentBusy() {
        var share = BusyShare(window: 1_000_000)
        for _ in 0..<10_000 {
            share.add(3_000, busy: true)
            share.add(1_000, busy: false)
        }
        #expect(abs(share.value - 0.75) < 0.01)
        // Splitting one stretch into many barely changes the result.
        var whole = BusyShare(window: 1_000_000)
        var parts = BusyShare(window: 1_000_000)
        whole.add(200_000, busy: true)
        for _ in 0..<200 { parts.add(1_000, busy: true) }
        #expect(abs(whole.value - parts.value) < 0.02)
    }

    /// A job that keeps the loop busy for longer than the window shows as a load near 1 in the
    /// next turn; the turn's start is published while the job runs (so a job that holds the loop
    /// shows before the load can), and an idle loop, between turns, publishes none.
    @Test func aBusyTurnRaisesTheLoadAndItsStartIsPublishedWhileItRuns() async throws {
        let group = try EventLoopGroup(count: 1)
        defer { group.shutdown() }
        let loop = group.loops[0]
        try await Self.waitUntil { loop.isWaiting && loop.turnBegan == EventLoop.betweenTurns }
        #expect(loop.load < 0.5)

        let started = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let readerQueued = Atomic<Bool>(false)
        let before = monotonicNanoseconds()
        #expect(
            loop.execute {
                started.signal()
                release.wait()
                // Busy, not blocked: the load counts time outside epoll_wait either way. The job
                // ends only once the reader below is queued, so the loop goes straight on to the
                // next turn (no sleep that would weigh the load down) and reads it there.
                let spinUntil = monotonicNanoseconds() + 3 * EventLoop.loadWindow
                while monotonicNanoseconds() < spinUntil || !readerQueued.load(ordering: .acquiring) {}
            })
        started.wait()
        let began = loop.turnBegan
        #expect(began >= before && began <= monotonicNanoseconds())
        #expect(!loop.isWaiting)
        release.signal()
        let seen = Mutex<Double?>(nil)
        #expect(loop.execute { seen.withLock { $0 = loop.load } })
        readerQueued.store(true, ordering: .releasing)
        try await Self.waitUntil { seen.withLock { $0 } != nil }
        let load = try #require(seen.withLock { $0 })
        #expect(load > 0.7, "load \(load) after a turn three windows long")
        try await Self.waitUntil { loop.isWaiting && loop.turnBegan == EventLoop.betweenTurns }
    }

    /// Polls `condition` every 5 ms; throws after 20 s (a generous ceiling for a loaded machine).
    static func waitUntil(_ condition: @Sendable () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while !condition() {
            guard ContinuousClock.now < deadline else { throw CancellationError() }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}
