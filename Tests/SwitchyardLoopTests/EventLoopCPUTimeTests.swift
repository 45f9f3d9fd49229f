import SwitchyardLoop
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A loop's CPU time (`/metrics`' `switchyard_event_loop_cpu_seconds_total`) is its own thread's,
/// readable from any thread while the loop runs.
@Suite(.timeLimit(.minutes(1)))
struct EventLoopCPUTimeTests {
    /// CPU time of the calling thread.
    private static func threadCPU() -> Duration {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return .seconds(ts.tv_sec) + .nanoseconds(ts.tv_nsec)
    }

    @Test func theLoopsCPUTimeIsWhatItsThreadSpentAndNoneOnceItStopped() throws {
        let group = try EventLoopGroup(count: 2)
        let busy = group.loops[0]
        let idle = group.loops[1]
        // Both threads have started once each ran something.
        #expect(busy.executeAndWait { true })
        #expect(idle.executeAndWait { true })
        let busyBefore = try #require(busy.cpuTime)
        let idleBefore = try #require(idle.cpuTime)
        // 30 ms of CPU on the first loop, measured by that thread's own clock.
        let spent = busy.executeAndWait { () -> Duration in
            let start = Self.threadCPU()
            var x: UInt64 = 1
            while Self.threadCPU() - start < .milliseconds(30) { x = x &* 6_364_136_223_846_793_005 &+ 1 }
            return Self.threadCPU() - start + .nanoseconds(Int64(x & 1))
        }
        let busyAfter = try #require(busy.cpuTime)
        let idleAfter = try #require(idle.cpuTime)
        #expect(busyAfter - busyBefore >= spent)
        // The other loop did nothing meanwhile: far less than the busy one's work.
        #expect(idleAfter - idleBefore < .milliseconds(15))
        group.shutdown()
        #expect(busy.cpuTime == nil)
    }
}
