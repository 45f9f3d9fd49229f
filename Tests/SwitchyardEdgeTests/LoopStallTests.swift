import Dispatch
import Glibc
import SwitchyardLoop
import SwitchyardTestSupport
import Synchronization
import Testing

@testable import SwitchyardEdge

/// A loop stuck in one job is reported, once per stall, with its index; a loop that serves
/// requests or waits for them is not.
@Suite(.timeLimit(.minutes(1)))
struct LoopStallTests {
    final class Stalls: Sendable {
        let reports = Mutex<[LoopStall]>([])
    }

    @Test func aLoopHeldByOneJobIsReportedThroughTheServersWatcher() async throws {
        let group = try EventLoopGroup(count: 2)
        defer { group.shutdown() }
        let stalls = Stalls()
        var configuration = HTTPServerConfiguration()
        // Sweeps every 50 ms (a quarter of the shorter deadline, at least 50 ms).
        configuration.headerTimeout = .milliseconds(200)
        configuration.loopStallThreshold = .milliseconds(300)
        configuration.onLoopStall = { stall in stalls.reports.withLock { $0.append(stall) } }
        let server = try HTTPServer(
            configuration: configuration,
            handler: ClosureHandler { _, responder in responder.respond(status: 200, headers: [:], body: []) },
            loops: group)
        try server.start()
        defer { server.stop() }
        // A connection is open: the watcher sweeps only then.
        let client = try await requestRepeatedly(port: server.port, for: .milliseconds(100))
        defer { client.close() }

        // One job holds loop 1 for 1.2 s. (On a loaded machine a loop may also be starved of CPU
        // for as long, which is reported too; the watch's own rules are pinned below, with
        // times of the test's choosing.)
        #expect(group.loops[1].execute { usleep(1_200_000) })
        try await waitUntil { stalls.reports.withLock { $0.contains { $0.loop == 1 } } }
        let report = try #require(stalls.reports.withLock { $0.first { $0.loop == 1 } })
        #expect(report.stuck >= .milliseconds(300))
        // The job slept: the loop's thread used next to no CPU while it was stuck.
        #expect((report.cpu ?? .seconds(99)) < .milliseconds(100))
    }

    /// The watch's rules, on a real loop held by a job until the test lets it go, with times of
    /// the test's choosing: a stuck turn is reported once it has lasted the threshold, and only
    /// once; a loop that turns or waits is not reported, however far apart the checks.
    @Test func aStuckTurnIsReportedOnceAndATurningOrWaitingLoopNever() async throws {
        let group = try EventLoopGroup(count: 1)
        defer { group.shutdown() }
        let loop = group.loops[0]
        var watch = LoopStallWatch(loops: group.loops, threshold: .seconds(1))
        let t0 = ContinuousClock.now

        // Waiting for work: never reported.
        try await waitUntil { loop.isWaiting }
        for s in 0..<3 { #expect(watch.check(now: t0 + .seconds(s)).isEmpty) }

        let started = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        #expect(
            loop.execute {
                started.signal()
                release.wait()
            })
        try await offload { started.wait() }
        #expect(watch.check(now: t0 + .seconds(10)).isEmpty)  // first seen busy
        #expect(watch.check(now: t0 + .milliseconds(10_500)).isEmpty)  // not yet the threshold
        let reported = watch.check(now: t0 + .seconds(12))
        #expect(reported.count == 1)
        #expect(reported.first?.loop == 0)
        #expect(reported.first?.stuck == .seconds(2))
        #expect(watch.check(now: t0 + .seconds(20)).isEmpty)  // the same stuck turn: once

        release.signal()
        #expect(loop.executeAndWait { true })
        // It turned: a new spell, not reported, whether it waits or works between the checks.
        for s in 30..<34 {
            #expect(loop.executeAndWait { true })
            #expect(watch.check(now: t0 + .seconds(s)).isEmpty)
        }
    }

    /// A loop whose thread has ended neither waits nor turns: that is not a stall.
    @Test func aStoppedLoopIsNotStuck() throws {
        let group = try EventLoopGroup(count: 1)
        #expect(group.loops[0].executeAndWait { true })
        var watch = LoopStallWatch(loops: group.loops, threshold: .milliseconds(10))
        group.shutdown()
        let now = ContinuousClock.now
        for seconds in 0..<4 { #expect(watch.check(now: now + .seconds(seconds)).isEmpty) }
    }
}
