import SwitchyardCore
import SwitchyardRouting
import Testing

@Suite struct RouterBreakerTests {
    let e503 = Reply.http(503, [], errorBody())
    let single = RoutingPolicy(attemptsPerTarget: 1)

    /// Five 503s from `a` (each request still served by `b`) open a's breaker.
    func tripPrimary(_ h: Harness) async throws {
        for i in 0..<5 {
            _ = try #require(await h.complete(id: "trip\(i)").success)
        }
        #expect(h.router.breakerSnapshot()["a/m"] == .open)
    }

    @Test func opensSkipsHalfOpensAndCloses() async throws {
        let h = Harness(
            policy: single, ["a": Array(repeating: e503, count: 5) + [ok, ok], "b": Array(repeating: ok, count: 6)])
        try await tripPrimary(h)
        #expect(h.observer.events.contains("breaker a/m closed->open"))
        #expect(h.upstream.hosts.filter { $0 == "a" }.count == 5)

        // Open: `a` is skipped without a call.
        let skipped = try #require(await h.complete(id: "open").success)
        #expect(skipped.target.key == "b/m")
        #expect(skipped.upstreamCalls == 1)
        #expect(h.observer.events.contains("skip a/m breaker_open"))

        // After openDuration one probe goes to `a`; its success closes the breaker.
        h.clock.advance(.seconds(15))
        #expect(h.router.breakerSnapshot()["a/m"] == .halfOpen)
        let probe = try #require(await h.complete(id: "probe").success)
        #expect(probe.target.key == "a/m")
        #expect(h.observer.events.contains("breaker a/m open->half_open"))
        #expect(h.observer.events.contains("breaker a/m half_open->closed"))
        #expect(h.router.breakerSnapshot()["a/m"] == .closed)
        let back = try #require(await h.complete(id: "back").success)
        #expect(back.target.key == "a/m")
    }

    @Test func probeFailureReopens() async throws {
        let h = Harness(policy: single, ["a": Array(repeating: e503, count: 6), "b": Array(repeating: ok, count: 8)])
        try await tripPrimary(h)
        h.clock.advance(.seconds(15))
        _ = try #require(await h.complete(id: "probe").success)
        #expect(h.observer.events.contains("breaker a/m half_open->open"))
        #expect(h.router.breakerSnapshot()["a/m"] == .open)
        let callsOnA = h.upstream.hosts.filter { $0 == "a" }.count
        _ = try #require(await h.complete(id: "after").success)
        #expect(h.upstream.hosts.filter { $0 == "a" }.count == callsOnA)
    }

    @Test func onlyOneProbeAtATime() async throws {
        let h = Harness(
            policy: single, ["a": Array(repeating: e503, count: 5) + [.hang], "b": Array(repeating: ok, count: 8)])
        try await tripPrimary(h)
        h.clock.advance(.seconds(15))
        let probe = Task { await h.complete(id: "probe") }
        while h.upstream.hosts.filter({ $0 == "a" }).count < 6 { await Task.yield() }
        let other = try #require(await h.complete(id: "other").success)
        #expect(other.target.key == "b/m")
        #expect(h.observer.events.contains("skip a/m probe_in_flight"))
        probe.cancel()
        #expect(await probe.value.failure?.error.code == "client_cancelled")
        // The cancelled probe is released, not counted: the next request may probe.
        #expect(h.router.breakerSnapshot()["a/m"] == .halfOpen)
    }

    @Test func clientErrorsDoNotCount() async throws {
        let e400 = Reply.http(400, [], errorBody(type: "invalid_request_error"))
        let h = Harness(policy: single, ["a": Array(repeating: e400, count: 6)])
        for i in 0..<6 { _ = await h.complete([target("a")], id: "r\(i)") }
        #expect(h.router.breakerSnapshot()["a/m"] == .closed)
        #expect(h.upstream.calls.count == 6)
    }

    @Test func everyTargetOpenFailsAtOnceWith503() async throws {
        let policy = RoutingPolicy(attemptsPerTarget: 1, breakerFailureThreshold: 1)
        let h = Harness(policy: policy, ["a": [e503], "b": [e503]])
        _ = await h.complete()
        #expect(h.upstream.calls.count == 2)
        h.clock.advance(.seconds(5))
        let failure = try #require(await h.complete(id: "down").failure)
        #expect(h.upstream.calls.count == 2)
        #expect(failure.upstreamCalls == 0)
        #expect(failure.error.status == 503)
        #expect(failure.error.retryAfterSeconds == 10)
        #expect(failure.error.type == "server_error")
        #expect(h.observer.events.contains("unavailable 10"))
        #expect(h.sleeper.sleeps.isEmpty)
    }

    @Test func everyTargetCoolingDownFailsAtOnceWith503() async throws {
        let long = Reply.http(429, [HeaderField("retry-after", "20")], errorBody(type: "rate_limit_error"))
        let h = Harness(["a": [long], "b": [long]])
        let first = try #require(await h.complete().failure)
        #expect(first.error.status == 429)
        #expect(first.error.retryAfterSeconds == 20)
        #expect(first.error.shouldRetry == false)
        h.clock.advance(.milliseconds(500))
        let second = try #require(await h.complete(id: "again").failure)
        #expect(second.upstreamCalls == 0)
        #expect(second.error.status == 503)
        #expect(second.error.retryAfterSeconds == 20)
        #expect(h.router.breakerSnapshot().values.allSatisfy { $0 == .closed })
    }

    @Test func budgetCapsRetriesUnderSustainedOutage() async throws {
        // A floor of 0.3 retries/s is 3 per 10 s window, so 20 % of 20 requests (4) is the larger.
        let policy = RoutingPolicy(
            initialBackoff: .milliseconds(1), budgetMinPerSecond: 0.3, breakerFailureThreshold: 1000)
        let h = Harness(policy: policy, ["a": Array(repeating: e503, count: 40)])
        for i in 0..<20 {
            let f = try #require(await h.complete([target("a")], id: "r\(i)").failure)
            #expect(f.error.status == 503)
        }
        // 20 first calls + 4 retries (3 from the floor, the 4th once 20 requests were in the window).
        #expect(h.upstream.calls.count == 24)
        #expect(h.observer.events.filter { $0 == "budget a/m" }.count == 16)
    }

    @Test func budgetExhaustedGoesToTheNextTarget() async throws {
        let policy = RoutingPolicy(budgetMinPerSecond: 0)
        let h = Harness(policy: policy, ["a": [e503, ok], "b": [ok]])
        let success = try #require(await h.complete().success)
        #expect(success.target.key == "b/m")
        #expect(h.upstream.hosts == ["a", "b"])
        #expect(h.sleeper.sleeps.isEmpty)
    }
}
