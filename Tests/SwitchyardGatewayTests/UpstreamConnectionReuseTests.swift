import SwitchyardCore
import SwitchyardTestSupport
import Synchronization
import Testing

/// Upstream connections are a gateway's cheapest win: a reconnect costs a TCP (and, to real
/// providers, a TLS) handshake. curl's default cache keeps 4 idle connections per transfer still
/// in flight, so the tail of every burst used to close connections the next burst had to reopen.
@Suite(.timeLimit(.minutes(1)))
struct UpstreamConnectionReuseTests {
    final class GateBox: Sendable {
        let current = Mutex(MockGate())
        var gate: MockGate { current.withLock { $0 } }
        func replace() { current.withLock { $0 = MockGate() } }
    }

    @Test func aSecondBurstReusesEveryConnectionTheFirstOpened() async throws {
        let llm = MockLLM()
        let gates = GateBox()
        // Each burst is held at the mock until all of it has arrived, so it needs `burst` connections.
        let mock = try MockHTTPServer { r in
            var response = llm.respond(r)
            response.beforeHead = [.waitFor(gates.gate)]
            return response
        }
        defer { mock.stop() }
        let h = try await GatewayHarness.start(
            yaml: yaml(mock: mock, models: "  - {name: m, targets: [{provider: openai, model: gpt-4o-mini}]}"))
        defer { h.stop() }
        let burst = 24
        for round in 1...3 {
            try await withThrowingTaskGroup(of: Int.self) { group in
                for i in 0..<burst {
                    group.addTask {
                        let body = #"{"model":"m","messages":[{"role":"user","content":"burst \#(round) #\#(i)"}]}"#
                        return try await h.chat(body).head.status
                    }
                }
                await mock.waitForRequests(burst * round)
                gates.gate.open()
                for try await status in group { #expect(status == 200) }
            }
            gates.replace()
        }
        #expect(mock.requestCount == 3 * burst)
        #expect(mock.acceptedConnections == burst)
    }
}
