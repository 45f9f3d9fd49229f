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

    @Test func aLoopHeldByOneJobIsReportedOnceAndABusyOrIdleOneIsNot() async throws {
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

        // A connection is open (the watcher sweeps only then); requests for ten sweeps, then an
        // idle spell as long: no report.
        let client = try await requestRepeatedly(port: server.port, for: .milliseconds(500))
        defer { client.close() }
        let watcher = try #require(server.core.watcher)
        let sweeps = watcher.sweeps.load(ordering: .relaxed)
        try await waitUntil { watcher.sweeps.load(ordering: .relaxed) >= sweeps + 10 }
        #expect(stalls.reports.withLock { $0.isEmpty })

        // One job holds loop 1 for 1.2 s: reported once, with at least the threshold.
        #expect(group.loops[1].execute { usleep(1_200_000) })
        try await waitUntil { stalls.reports.withLock { $0.contains { $0.loop == 1 } } }
        // The job ends, and the loop turns again (`executeAndWait` runs on it): still one report.
        #expect(group.loops[1].executeAndWait { true })
        let reports = stalls.reports.withLock { $0.filter { $0.loop == 1 } }
        #expect(reports.count == 1)
        #expect((reports.first?.stuck ?? .zero) >= .milliseconds(300))
        // The job slept: the loop's thread used next to no CPU while it was stuck.
        #expect((reports.first?.cpu ?? .seconds(99)) < .milliseconds(100))
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
