import SwitchyardCore
import SwitchyardTestSupport
import Testing

/// The retry budget through the real gateway with its default rule (README "Retry budget"):
/// a quiet sidecar retries every isolated fault on the primary, and an outage under heavy traffic
/// retries no more than the budget allows.
@Suite(.timeLimit(.minutes(2)))
struct RetryBudgetGatewayTests {
    static let rateLimited = Wire.openAIError(
        status: 429, type: "requests", code: "rate_limit_exceeded", message: "slow down")
    static let serverError = Wire.openAIError(status: 500, type: "server_error", code: nil, message: "boom")
    static let overloaded = Wire.openAIError(status: 503, type: "server_error", code: nil, message: "unavailable")

    /// The sequence that showed the old floor too low: a 429 retried once, a 429 retried twice, then an isolated 500. With
    /// the old floor (3 retries per 10 s) the 500 went straight to the fallback.
    @Test func anIsolatedFaultAfterTwoIncidentsIsRetriedOnThePrimary() async throws {
        let primary = scripted(
            [Self.rateLimited, nil, Self.rateLimited, Self.rateLimited, nil, Self.serverError],
            then: { FaultRig.primaryLLM.respond($0) })
        try await FaultRig.run(FaultRig.Options(attempts: 3), primary: primary) { rig in
            var seen: [String] = []
            for _ in 0..<3 {
                let r = try await rig.chat()
                #expect(r.head.status == 200)
                seen.append("\(r.header("x-switchyard-provider") ?? "-")/\(r.header("x-switchyard-attempts") ?? "-")")
            }
            #expect(seen == ["primary/2", "primary/3", "primary/2"])
            #expect(rig.fallback.requestCount == 0)
            let m = try await rig.metrics()
            #expect(metricValue(m, "switchyard_retries_total", ["provider": "primary"]) == 4)
        }
    }

    /// 1,000 requests at 32 at a time (well over 100 requests/s) while the primary answers 503 to
    /// every call and each request would retry it twice: the primary gets at most 20 % more calls
    /// than requests per 10 s window (the floor of 100 is smaller), not the 200 % retrying without
    /// a budget would send. Every request is still answered by the fallback.
    @Test func aSustainedOutageUnderLoadStaysWithinTheBudget() async throws {
        let n = 1000
        let options = FaultRig.Options(attempts: 3, failureThreshold: 1_000_000)
        try await FaultRig.run(options, primary: { _ in Self.overloaded }) { rig in
            let started = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<32 {
                    group.addTask {
                        for _ in stride(from: worker, to: n, by: 32) {
                            let r = try await rig.chat()
                            #expect(r.head.status == 200)
                        }
                    }
                }
                try await group.waitForAll()
            }
            let elapsed = ContinuousClock.now - started
            #expect(rig.fallback.requestCount == n)
            let retries = rig.primary.requestCount - n
            // In one 10 s window the bound is max(100, 20 % of n). A slower machine spreads the
            // run over k windows; each may then grant its floor, and a window's 20 % may count
            // requests of the one before it.
            let windows = Int((elapsed / .seconds(10)).rounded(.up))
            let bound = windows <= 1 ? max(100, n / 5) : windows * 100 + 2 * n / 5
            #expect(retries <= bound, "\(retries) retries over \(windows) window(s), bound \(bound)")
            #expect(retries >= 100, "the floor alone grants 100 retries per window")
            let m = try await rig.metrics()
            #expect(metricValue(m, "switchyard_retries_total", ["provider": "primary"]) == Double(retries))
            print("retry budget under outage: \(n) requests in \(elapsed), \(retries) retries (bound \(bound))")
        }
    }
}
