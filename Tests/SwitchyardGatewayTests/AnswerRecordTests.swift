import Glibc
import Logging
import SwitchyardGateway
import SwitchyardTestSupport
import Synchronization
import Testing

@testable import SwitchyardLoop

/// The edge sends a full answer from inside the job that hands it over, and that job counts and
/// logs the request just after (`MHDDaemon.answerReady`). What a client or a test reads after its
/// answer must still include its request.
@Suite("Answers and their records")
struct AnswerRecordTests {
    /// The request's log line (written after its metrics, before the in-flight gauge drops) is
    /// held until something is queued on its loop, at most 20 s. The client has its answer while
    /// it is held; `/metrics`, read on a new connection and so served by the other loop, must
    /// settle the loops first and find the request counted and nothing in flight. Without the
    /// settling it answers while the line is held and reads one request in flight.
    @Test func metricsReadRightAfterAnAnswerCountIt() async throws {
        let llm = MockLLM()
        let mock = try MockHTTPServer { llm.respond($0) }
        defer { mock.stop() }
        let held = HeldLines()
        let h = try await GatewayHarness.start(
            yaml: yaml(mock: mock, models: "  - {name: m, targets: [{provider: openai, model: gpt-4o-mini}]}")
                + "\nevent_loops: 2\n",
            wrapLog: { HoldingLogHandler(inner: $0, held: held) })
        defer { h.stop() }
        let body = #"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#
        for round in 1...3 {
            let client = try RawHTTPClient(port: h.server.port, timeoutSeconds: 30)
            defer { client.close() }
            try client.send(
                "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(TestSecrets.client)\r\n"
                    + "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
            let answer = try await offload { try client.readResponse() }
            #expect(answer.status == 200, "\(answer.text)")
            let metrics = try RawHTTPClient(port: h.server.port, timeoutSeconds: 30)
            defer { metrics.close() }
            try metrics.send("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            let text = try await offload { try metrics.readResponse() }.text
            #expect(metricValue(text, "switchyard_requests_total") == Double(round))
            #expect(metricValue(text, "switchyard_inflight_requests") == 0)
        }
        #expect(held.count.load(ordering: .relaxed) == 3)
        let requestLines = h.logs.captured.split(separator: "\n").filter { $0.contains(#""msg":"request""#) }
        #expect(requestLines.count == 3)
    }
}

/// Passes every line on; the access-log line (`request`) only once other work is queued on the
/// event loop writing it, or after 20 s.
private struct HoldingLogHandler: LogHandler {
    var inner: any LogHandler
    let held: HeldLines

    init(inner: any LogHandler, held: HeldLines) {
        self.inner = inner
        self.held = held
    }

    var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }

    var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        if event.message.description == "request", let loop = EventLoop.current {
            held.count.add(1, ordering: .relaxed)
            for _ in 0..<20_000 where !loop.hasOtherWork && !loop.hasRemoteWork { usleep(1000) }
        }
        inner.log(event: event)
    }
}

/// How many access-log lines `HoldingLogHandler` held.
private final class HeldLines: Sendable {
    let count = Atomic<Int>(0)
}
