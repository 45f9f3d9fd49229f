import Logging
import SwitchyardCore
import SwitchyardEdge
import Synchronization
import Testing

@testable import SwitchyardGateway

/// The gateway reads its loggers' levels once (the access log and the router observer's debug
/// lines when it is made, the router's own lines when a request starts) instead of on every line
/// it might write. These pin that each level still writes exactly the lines it did: the router's
/// and the observer's attempt lines at `debug`, the access-log line from `info`, nothing at
/// `warning` for a request that succeeds, and the metrics whatever the level.
@Suite struct LogLevelGateTests {
    static let config = """
        auth: {keys: [{name: app, key_env: GATE_CLIENT_KEY}]}
        providers: [{name: openai, kind: openai, base_url: "http://openai.test/v1", api_key_env: GATE_OPENAI_KEY}]
        models: [{name: fast, targets: [{provider: openai, model: gpt-4o-mini, priority: 1}]}]
        health_check_ms: 0
        """

    static let answer = Array(
        #"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#
            .utf8)

    static let request = HTTPRequest(
        method: "POST", path: "/v1/chat/completions",
        headers: HTTPHeaders([("content-type", "application/json"), ("authorization", "Bearer sk-gate-client")]),
        body: Array(#"{"model":"fast","messages":[{"role":"user","content":"Hello"}]}"#.utf8))

    /// Serves one request in process at `level`; the log lines' messages and the request counter.
    static func serve(at level: Logger.Level) async throws -> (messages: [String], counted: Bool) {
        let sink = LogSink(capture: true)
        var logger = Logger(label: "gate") { JSONLogHandler(label: $0, sink: sink) }
        logger.logLevel = level
        let gateway = try Gateway.inProcess(
            config: try ConfigLoader.parse(yaml: config),
            environment: ["GATE_CLIENT_KEY": "sk-gate-client", "GATE_OPENAI_KEY": "sk-gate-upstream"],
            upstream: Canned(body: answer), logger: logger, sleep: { _ in })
        let answers = Answers()
        await gateway.handle(request, responder: HTTPResponder(sink: answers))
        #expect(answers.statuses == [200])
        var messages: [String] = []
        for line in sink.captured.split(separator: "\n") {
            guard case .object(let o)? = try? JSON.parse(Array(line.utf8)), let msg = o["msg"]?.stringValue else {
                Issue.record("not a JSON log line: \(line)")
                continue
            }
            messages.append(msg)
        }
        let exposition = String(decoding: gateway.metrics.exposition(), as: UTF8.self)
        let request =
            #"switchyard_requests_total{api="chat",model="fast",provider="openai",outcome="ok",status_class="2xx"} 1"#
        let counted =
            exposition.contains(request)
            && exposition.contains(#"switchyard_upstream_attempts_total{provider="openai",outcome="ok"} 1"#)
        return (messages, counted)
    }

    @Test func debugWritesTheAttemptLinesAndTheAccessLine() async throws {
        let (messages, counted) = try await Self.serve(at: .debug)
        #expect(messages.contains("upstream attempt"), "the router's and the observer's attempt lines: \(messages)")
        #expect(messages.contains("upstream attempt finished"), "\(messages)")
        #expect(messages.filter { $0 == "upstream attempt" }.count == 2, "\(messages)")
        #expect(messages.last == "request", "\(messages)")
        #expect(counted)
    }

    @Test func infoWritesTheAccessLineOnly() async throws {
        let (messages, counted) = try await Self.serve(at: .info)
        #expect(messages == ["request"])
        #expect(counted)
    }

    @Test func warningWritesNothingForAnAnswer() async throws {
        let (messages, counted) = try await Self.serve(at: .warning)
        #expect(messages.isEmpty, "\(messages)")
        #expect(counted)
    }

    /// Answers every call at once with a 200 and `body`.
    final class Canned: Upstream {
        let body: [UInt8]
        init(body: [UInt8]) { self.body = body }

        func perform(_ request: UpstreamRequest) async throws(UpstreamFailure) -> UpstreamResponse {
            UpstreamResponse(
                head: UpstreamHead(status: 200, rawLines: Array("Content-Type: application/json\r\n".utf8)), body: body)
        }

        func stream(_ request: UpstreamRequest) async throws(UpstreamFailure) -> UpstreamStreamingResponse {
            throw .transport("no streams here")
        }
    }

    /// Collects the statuses of plain answers.
    final class Answers: HTTPResponseSink {
        let received = Mutex<[Int]>([])
        var statuses: [Int] { received.withLock { $0 } }

        func respond(status: Int, headers: HTTPHeaders, body: [UInt8]) { received.withLock { $0.append(status) } }
        func startStream(status: Int, headers: HTTPHeaders) -> Bool { false }
        func write(_ bytes: [UInt8]) -> Bool { false }
        func finish() {}
        var isClientGone: Bool { false }
    }
}
