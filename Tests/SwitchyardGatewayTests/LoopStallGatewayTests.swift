import Foundation
import Glibc
import SwitchyardLoop
import SwitchyardTestSupport
import Testing

@testable import SwitchyardGateway

/// A loop stuck in one job is counted in `/metrics` and logged as a warning.
@Suite(.timeLimit(.minutes(1)))
struct LoopStallGatewayTests {
    @Test func aLoopStuckForTwoSecondsIsCountedAndLogged() async throws {
        let llm = MockLLM()
        let mock = try MockHTTPServer { llm.respond($0) }
        // `header_timeout_s: 1`: the watcher sweeps every 250 ms; a stall is reported after 1 s.
        let limits = "stream_heartbeat_ms: 100}"
        let config = yaml(mock: mock, models: "  - {name: m, targets: [{provider: openai, model: gpt-4o-mini}]}")
            .replacingOccurrences(of: limits, with: "stream_heartbeat_ms: 100, header_timeout_s: 1}")
        let h = try await GatewayHarness.start(yaml: config + "\nevent_loops: 2")
        defer {
            h.stop()
            mock.stop()
        }
        // An open connection keeps the watcher sweeping.
        let client = try RawHTTPClient(port: h.server.port)
        let answer = try await offload { try client.roundTrip("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n") }
        #expect(answer.status == 200)
        // Every loop's stall counter, every accept error's and the dropped log lines' are shown from the start (0 unless a
        // loaded machine already starved a loop), so the set of series does not grow later.
        let first = try await h.request("GET", "/metrics", key: nil).text
        for series in [
            #"switchyard_event_loop_stalls_total{loop="0"}"#, #"switchyard_event_loop_stalls_total{loop="1"}"#,
            #"switchyard_accept_errors_total{error="EMFILE"}"#, #"switchyard_accept_errors_total{error="ENOMEM"}"#,
            "switchyard_log_lines_dropped_total",
        ] {
            #expect(OperationalSignalsTests.value(first, series) != nil, "\(series)")
        }
        #expect(OperationalSignalsTests.value(first, #"switchyard_accept_errors_total{error="EMFILE"}"#) == 0)

        #expect(h.server.loops.loops[1].execute { usleep(2_000_000) })
        try await HostileEdgeProcessTests.eventually(20, "the stall's warning") {
            h.logs.captured.contains("event loop stalled")
        }
        // `/metrics` waits for every loop to finish its work, this one's job included. (A loaded
        // machine may also starve a loop for a second, which is reported too: CI's PostgreSQL pass
        // saw a second report. The edge's own tests pin "once per stuck turn".)
        let text = try await h.request("GET", "/metrics", key: nil).text
        let counted = try #require(
            OperationalSignalsTests.value(text, #"switchyard_event_loop_stalls_total{loop="1"}"#), "\(text)")
        #expect(counted >= 1)
        let warnings = h.logs.captured.split(separator: "\n").filter { $0.contains("event loop stalled") }
        let loop1 = warnings.filter { $0.contains(#""loop":"1""#) }
        #expect(!loop1.isEmpty, "\(warnings)")
        for line in loop1 {
            #expect(line.contains(#""level":"warning""#) && line.contains(#""stalled_ms":"#), "\(line)")
            #expect(line.contains(#""cpu_ms":"#), "\(line)")
        }
    }
}
