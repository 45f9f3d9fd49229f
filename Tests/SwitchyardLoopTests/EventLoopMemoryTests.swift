import SwitchyardLoop
import Testing

@Suite("EventLoop gives memory back when idle")
struct EventLoopMemoryTests {
    /// Polls `condition` every 10 ms for up to 10 s (a loaded machine may take long to run the loop).
    private func eventually(_ condition: () -> Bool) async -> Bool {
        for _ in 0..<1000 {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return condition()
    }

    /// Runs a closure on the loop and returns when it ran (a busy spell for the loop).
    private func work(on loop: EventLoop) {
        #expect(loop.executeAndWait { loop.inLoop })
    }

    @Test func aLoopIdleAfterWorkReleasesMemoryOncePerBusySpell() async throws {
        let group = try EventLoopGroup(count: 1, idleMemoryRelease: .milliseconds(20))
        defer { group.shutdown() }
        let loop = group.loops[0]
        work(on: loop)
        #expect(await eventually { loop.memoryReleases >= 1 })
        // One release per busy spell: the next comes only after more work.
        let afterFirst = loop.memoryReleases
        work(on: loop)
        #expect(await eventually { loop.memoryReleases > afterFirst })
    }
}
