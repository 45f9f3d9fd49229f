import SwitchyardCore
import SwitchyardGateway
import SwitchyardRouting
import SwitchyardTestSupport
import SwitchyardUpstream
import Testing

/// Circuit breaker, retry budget and metrics under sustained primary faults.
@Suite(.timeLimit(.minutes(2))) struct FaultMatrixBreakerTests {
    static let serverError = Wire.openAIError(status: 500, type: "server_error", code: nil, message: "boom")
    static let overloaded = Wire.openAIError(status: 503, type: "server_error", code: nil, message: "unavailable")

    func breaker(_ rig: FaultRig) -> BreakerState? {
        rig.h.server.gateway.router.breakerSnapshot()[FaultRig.primaryKey]
    }

    @Test func breakerOpensSkipsProbesOnceAndCloses() async throws {
        // The open period ends by the router's clock, which the test moves forward: an hour is
        // open for as long as the steps "opened" and "skipped while open" take on any machine.
        let openFor = Duration.seconds(3600)
        let options = FaultRig.Options(attempts: 1, failureThreshold: 2, openMs: 3_600_000)
        try await FaultRig.run(options, primary: { _ in Self.serverError }) { rig in
            // Two failing requests open the breaker.
            for i in 1...2 {
                let r = try await rig.chat()
                #expect(r.header("x-switchyard-provider") == "fallback")
                #expect(r.header("x-switchyard-attempts") == "2")
                #expect(rig.primary.requestCount == i)
            }
            #expect(breaker(rig) == .open)

            // While open the primary is skipped.
            let skipped = try await rig.chat()
            #expect(skipped.head.status == 200)
            #expect(skipped.header("x-switchyard-provider") == "fallback")
            #expect(skipped.header("x-switchyard-attempts") == "1")
            #expect(rig.primary.requestCount == 2)

            // Open until open_ms has passed (a minute short of it here: far more than this test's
            // steps take), then one probe goes through; a request meanwhile does not reach the
            // primary.
            rig.clock.advance(by: openFor - .seconds(60))
            #expect(breaker(rig) == .open)
            rig.clock.advance(by: .seconds(60))
            try #require(breaker(rig) == .halfOpen)
            let gate = MockGate()
            var heldError = Self.serverError
            heldError.beforeHead = [.waitFor(gate)]
            rig.primary.setHandler { [heldError] _ in heldError }
            let probe = Task { try await rig.chat() }
            await rig.primary.waitForRequests(3)
            let during = try await rig.chat()
            #expect(during.header("x-switchyard-provider") == "fallback")
            #expect(during.header("x-switchyard-attempts") == "1")
            #expect(rig.primary.requestCount == 3)
            gate.open()
            let probed = try await probe.value
            #expect(probed.header("x-switchyard-provider") == "fallback")
            #expect(probed.header("x-switchyard-attempts") == "2")
            #expect(rig.primary.requestCount == 3)
            #expect(breaker(rig) == .open)  // the failed probe re-opened it

            // The primary recovers: the next probe succeeds and traffic returns to it.
            rig.primary.setHandler { FaultRig.primaryLLM.respond($0) }
            rig.clock.advance(by: openFor)
            try #require(breaker(rig) == .halfOpen)
            for i in 1...2 {
                let r = try await rig.chat()
                #expect(r.header("x-switchyard-provider") == "primary")
                #expect(r.header("x-switchyard-attempts") == "1")
                #expect(rig.primary.requestCount == 3 + i)
            }
            #expect(breaker(rig) == .closed)
            #expect(rig.fallback.requestCount == 5)
            let m = try await rig.metrics()
            #expect(metricValue(m, "switchyard_breaker_state", ["target": FaultRig.primaryKey]) == 0)
        }
    }

    /// Under a sustained outage retries stay within the budget: at most
    /// max(floor, 20 % of requests) retries over the window; here the floor is set to 3 per
    /// window (0.3/s) so that 20 requests exceed it.
    @Test func retryBudgetBoundsPrimaryCallsUnderOutage() async throws {
        let n = 20
        let options = FaultRig.Options(attempts: 3, budgetPercent: 20, budgetMinPerSecond: 0.3)
        try await FaultRig.run(options, primary: { _ in Self.overloaded }) { rig in
            let started = ContinuousClock.now
            for _ in 0..<n {
                let r = try await rig.chat()
                #expect(r.head.status == 200)
                #expect(r.header("x-switchyard-provider") == "fallback")
            }
            // The budget is per 10 s sliding window: on a machine so loaded that the loop outlives a
            // window, each window started grants its own budget (without any budget the primary
            // would see 3n calls).
            let windows = 1 + Int((ContinuousClock.now - started) / .seconds(10))
            let calls = rig.primary.requestCount
            let bound = n + max(3, n * 20 / 100) * windows
            #expect(calls <= bound, "primary calls \(calls) over the budget bound \(bound)")
            #expect(calls >= n + 3, "the budget floor should have allowed 3 retries")  // retries did happen
            #expect(rig.fallback.requestCount == n)
            let m = try await rig.metrics()
            #expect(metricValue(m, "switchyard_retries_total", ["provider": "primary"]) == Double(calls - n))
            #expect(
                metricValue(m, "switchyard_upstream_attempts_total", ["provider": "primary", "outcome": "http_503"])
                    == Double(calls))
        }
    }

    /// `/metrics` after mixed fault traffic moved by exactly what happened.
    @Test func metricsCountFallbacksAndAttempts() async throws {
        let primary = scripted(
            [Self.serverError, Self.serverError, nil, Self.overloaded, Self.overloaded],
            then: { FaultRig.primaryLLM.respond($0) })
        try await FaultRig.run(primary: primary) { rig in
            let before = try await rig.metrics()
            var providers: [String?] = []
            for _ in 0..<3 { providers.append(try await rig.chat().header("x-switchyard-provider")) }
            #expect(providers == ["fallback", "primary", "fallback"])
            let after = try await rig.metrics()
            func moved(_ name: String, _ labels: [String: String]) -> Double {
                metricValue(after, name, labels) - metricValue(before, name, labels)
            }
            #expect(moved("switchyard_fallbacks_total", ["from": "primary", "to": "fallback"]) == 2)
            #expect(moved("switchyard_fallbacks_total", [:]) == 2)
            #expect(moved("switchyard_upstream_attempts_total", ["provider": "primary", "outcome": "http_500"]) == 2)
            #expect(moved("switchyard_upstream_attempts_total", ["provider": "primary", "outcome": "http_503"]) == 2)
            #expect(moved("switchyard_upstream_attempts_total", ["provider": "primary", "outcome": "ok"]) == 1)
            #expect(moved("switchyard_upstream_attempts_total", ["provider": "fallback", "outcome": "ok"]) == 2)
            #expect(moved("switchyard_upstream_attempts_total", [:]) == 7)
            #expect(moved("switchyard_retries_total", ["provider": "primary"]) == 2)
        }
    }
}
