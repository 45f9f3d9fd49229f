import SwitchyardCore
import SwitchyardTestSupport
import Synchronization
import Testing

/// Every request that reaches an upstream is an attempt the router decided: the calls a mock
/// receives equal the attempts the gateway reports in `x-switchyard-attempts`, in
/// `switchyard_upstream_attempts_total` and in its request log line, whether the failing call went
/// out on a fresh connection or on a reused keep-alive one (where libcurl would re-send it).
@Suite(.timeLimit(.minutes(1)))
struct UpstreamCallAccountingTests {
    /// The primary answers normally (held at a gate while warming up) until `failing` is set;
    /// then it reads each request and resets the connection before any response byte.
    final class Primary: Sendable {
        let failing = Atomic<Bool>(false)
        let gate = Mutex<MockGate?>(nil)
        func respond(_ r: RecordedRequest) -> MockResponse {
            if failing.load(ordering: .relaxed) { return MockResponse(beforeHead: [.reset]) }
            var ok = FaultRig.primaryLLM.respond(r)
            if let g = gate.withLock({ $0 }) { ok.beforeHead = [.waitFor(g)] }
            return ok
        }
    }

    struct Case: Sendable, CustomTestStringConvertible {
        /// Keep-alive connections to the primary opened before the fault.
        var idle: Int
        var stream: Bool
        var testDescription: String { "\(idle) idle connections, \(stream ? "stream" : "non-streaming")" }
    }

    @Test(arguments: [
        Case(idle: 0, stream: false), Case(idle: 0, stream: true), Case(idle: 4, stream: false),
        Case(idle: 4, stream: true),
    ])
    func upstreamCallsEqualReportedAttempts(_ c: Case) async throws {
        let primary = Primary()
        try await FaultRig.run(primary: primary.respond) { rig in
            if c.idle > 0 {
                let gate = MockGate()
                primary.gate.withLock { $0 = gate }
                try await withThrowingTaskGroup(of: Int.self) { group in
                    for _ in 0..<c.idle { group.addTask { try await rig.chat().head.status } }
                    await rig.primary.waitForRequests(c.idle)
                    gate.open()
                    for try await status in group { #expect(status == 200) }
                }
                primary.gate.withLock { $0 = nil }
                #expect(rig.primary.acceptedConnections == c.idle)
            }
            primary.failing.store(true, ordering: .relaxed)

            let r = try await rig.chat(stream: c.stream)
            #expect(r.head.status == 200, "body: \(r.text)")
            #expect(r.header("x-switchyard-provider") == "fallback")
            // attempts_per_target is 2: two primary calls, then the fallback's answer.
            #expect(r.header("x-switchyard-attempts") == "3")
            #expect(rig.primary.requestCount - c.idle == 2, "calls the primary received for this request")
            #expect(rig.fallback.requestCount == 1)

            let metrics = try await rig.metrics()
            let primaryAttempts = metricValue(metrics, "switchyard_upstream_attempts_total", ["provider": "primary"])
            #expect(Int(primaryAttempts) == rig.primary.requestCount)
            #expect(metricValue(metrics, "switchyard_upstream_attempts_total", ["outcome": "transport"]) == 2)
            let logged = rig.requestLogLines().last?["targets"]?.arrayValue ?? []
            #expect(logged.compactMap { $0["outcome"]?.stringValue } == ["transport", "transport", "ok"])
        }
    }
}
