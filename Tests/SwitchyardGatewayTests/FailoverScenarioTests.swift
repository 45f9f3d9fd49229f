import FoundationEssentials
import SwitchyardCore
import SwitchyardGateway
import SwitchyardTestSupport
import Synchronization
import Testing

/// The failover scenarios of a quiet sidecar, one after another against ONE gateway with the
/// default retry budget, breakers and attempts: an OpenAI primary that misbehaves in a scripted
/// way per scenario and an Anthropic fallback (which continues broken streams by prefill). Every
/// rescuable scenario must be rescued on the first pass, and in every scenario the calls the
/// upstreams received equal the attempts the gateway logged. The outcome table is printed.
@Suite(.timeLimit(.minutes(3)))
struct FailoverScenarioTests {
    typealias Step = @Sendable (RecordedRequest) -> MockResponse

    /// One upstream's script: queued steps answer the next requests, then it is healthy again.
    final class Script: Sendable {
        let healthy: Step
        private let queue = Mutex<[Step]>([])
        init(healthy: @escaping Step) { self.healthy = healthy }
        func push(_ steps: [Step]) { queue.withLock { $0 += steps } }
        var pending: Int { queue.withLock { $0.count } }
        func handle(_ r: RecordedRequest) -> MockResponse {
            let step = queue.withLock { $0.isEmpty ? nil : $0.removeFirst() }
            return (step ?? healthy)(r)
        }
    }

    enum Expect: Equatable {
        /// A whole answer (the mock's text, once) from this provider.
        case answered(by: String)
        /// A whole answer, a broken stream finished by a continuation on this provider.
        case continued(by: String)
        /// A whole answer, a buffered stream restarted on this provider.
        case restarted(on: String)
        /// Returned to the client by design (not rescuable): this status and error code.
        case returned(status: Int, code: String)
    }

    struct Scenario {
        var name: String
        var model = "smart"
        var stream = false
        var requests = 1
        var primary: [Step] = []
        var fallback: [Step] = []
        var expect: Expect
    }

    struct Row {
        var name: String
        var expected: String
        var got: String
        var calls: Int
        var attempts: Int
        var passed: Bool
    }

    static let llm = MockLLM()
    static func ok(_ r: RecordedRequest) -> MockResponse { llm.respond(r) }
    static func openAIError(_ status: Int, _ type: String, _ code: String?, headers: [HeaderField] = []) -> Step {
        let body: JSON = [
            "error": [
                "message": "scripted", "type": .string(type), "param": nil, "code": code.map(JSON.string) ?? nil,
            ]
        ]
        return { _ in .json(status: status, body, headers: headers) }
    }
    /// The healthy stream with its chunk steps edited.
    static func editedStream(_ edit: @escaping @Sendable ([MockChunk]) -> [MockChunk]) -> Step {
        { r in
            var response = llm.respond(r)
            if case .chunks(let steps) = response.body { response.body = .chunks(edit(steps)) }
            return response
        }
    }
    static func isDone(_ c: MockChunk) -> Bool {
        if case .data(let d) = c { return String(decoding: d, as: UTF8.self).hasPrefix("data: [DONE]") }
        return false
    }

    static let scenarios: [Scenario] = [
        Scenario(
            name: "429 with Retry-After",
            primary: [openAIError(429, "requests", "rate_limit_exceeded", headers: [HeaderField("Retry-After", "1")])],
            expect: .answered(by: "openai")),
        Scenario(
            name: "persistent 429",
            primary: Array(repeating: openAIError(429, "requests", "rate_limit_exceeded"), count: 2),
            expect: .answered(by: "anthropic")),
        Scenario(
            name: "a single 500", primary: [openAIError(500, "server_error", nil)], expect: .answered(by: "openai")),
        Scenario(
            name: "503 (twice)", primary: Array(repeating: openAIError(503, "server_error", nil), count: 2),
            expect: .answered(by: "anthropic")),
        Scenario(
            name: "reset before headers", primary: [{ _ in MockResponse(beforeHead: [.reset]) }],
            expect: .answered(by: "openai")),
        Scenario(
            name: "silence (stream: headers, no event)", stream: true,
            primary: [{ _ in .headersThenSilence(headers: [HeaderField("Content-Type", "text/event-stream")]) }],
            expect: .answered(by: "anthropic")),
        Scenario(
            name: "slow first token", stream: true,
            primary: [
                { r in
                    var response = llm.respond(r)
                    response.beforeHead = [.pause(.milliseconds(300))]
                    return response
                }
            ],
            expect: .answered(by: "openai")),
        Scenario(
            name: "stream cut mid-answer", stream: true, primary: [{ llm.respond($0, breakingAfter: 4, .cut) }],
            expect: .continued(by: "anthropic")),
        Scenario(
            name: "stream stall", stream: true, primary: [{ llm.respond($0, breakingAfter: 5, .stall) }],
            expect: .continued(by: "anthropic")),
        Scenario(
            name: "malformed chunk", stream: true,
            primary: [editedStream { steps in Array(steps[..<3]) + [.text("data: {\"id\": nope\n\n")] + steps[3...] }],
            expect: .answered(by: "openai")),
        Scenario(
            name: "no terminator", stream: true, primary: [editedStream { $0.filter { !isDone($0) } }],
            expect: .answered(by: "openai")),
        Scenario(
            name: "context length",
            primary: [openAIError(400, "invalid_request_error", "context_length_exceeded")],
            expect: .answered(by: "anthropic")),
        Scenario(
            name: "content filter", primary: [openAIError(400, "invalid_request_error", "content_policy_violation")],
            expect: .returned(status: 400, code: "content_policy_violation")),
        Scenario(
            name: "fallback rejecting prefill, buffered model", model: "atomic", stream: true,
            primary: [{ llm.respond($0, breakingAfter: 4, .cut) }],
            fallback: [{ r in MockLLM.hasPrefill(r) ? MockLLM.prefillRejected : llm.respond(r) }],
            expect: .restarted(on: "anthropic")),
        Scenario(
            name: "flapping primary (3 requests)", requests: 3,
            primary: [
                openAIError(500, "server_error", nil), ok, openAIError(502, "server_error", nil), ok,
                openAIError(503, "server_error", nil), ok,
            ],
            expect: .answered(by: "openai")),
    ]

    static func yaml(primary: Int, fallback: Int) -> String {
        let targets =
            "[{provider: openai, model: gpt-4o-mini, priority: 1}, {provider: anthropic, model: claude-haiku, priority: 2}]"
        return """
            listen: 127.0.0.1:0
            health_check_ms: 0
            auth: {keys: [{name: tests, key_env: TEST_CLIENT_KEY}]}
            providers:
              - {name: openai, kind: openai, base_url: "http://127.0.0.1:\(primary)/v1", api_key_env: TEST_PROVIDER_KEY, first_event_timeout_ms: 2000, idle_timeout_ms: 1000}
              - {name: anthropic, kind: anthropic, base_url: "http://127.0.0.1:\(fallback)", api_key_env: TEST_PROVIDER_KEY}
            models:
              - {name: smart, targets: \(targets)}
              - {name: atomic, stream_mode: buffered, targets: \(targets)}
            retry: {initial_backoff_ms: 50, max_backoff_ms: 200}
            limits: {max_body_bytes: 65536, stream_heartbeat_ms: 100}
            """
    }

    static let question = "tell me one two three four five six"
    static let answer = "Hello from the mock: \(question)"

    @Test func everyRescuableScenarioIsRescuedOnTheFirstPass() async throws {
        let primaryScript = Script(healthy: Self.ok)
        let fallbackScript = Script(healthy: Self.ok)
        let primary = try MockHTTPServer(handler: primaryScript.handle)
        let fallback = try MockHTTPServer(handler: fallbackScript.handle)
        let h = try await GatewayHarness.start(yaml: Self.yaml(primary: primary.port, fallback: fallback.port))
        defer {
            h.stop()
            primary.stop()
            fallback.stop()
        }
        var rows: [Row] = []
        var sent = 0
        for scenario in Self.scenarios {
            primaryScript.push(scenario.primary)
            fallbackScript.push(scenario.fallback)
            let callsBefore = primary.requestCount + fallback.requestCount
            var got: [String] = []
            var attempts = 0
            var passed = true
            for _ in 0..<scenario.requests {
                sent += 1
                let id = "scenario-\(sent)"
                let options = scenario.stream ? #","stream_options":{"include_usage":true}"# : ""
                let body =
                    #"{"model":"\#(scenario.model)","stream":\#(scenario.stream)\#(options),"messages":[{"role":"user","content":"\#(Self.question)"}]}"#
                let r = try await h.chat(body, headers: [HeaderField("x-request-id", id)])
                let line = try await Self.awaitRequestLine(h, id)
                attempts += line?["targets"]?.arrayValue?.count ?? 0
                let (outcome, ok) = Self.judge(r, stream: scenario.stream, line: line, scenario.expect)
                got.append(outcome)
                passed = passed && ok
            }
            let calls = primary.requestCount + fallback.requestCount - callsBefore
            // Every scripted step was used: the scenario exercised what it says.
            passed = passed && calls == attempts && primaryScript.pending == 0 && fallbackScript.pending == 0
            rows.append(
                Row(
                    name: scenario.name, expected: Self.describe(scenario.expect),
                    got: Set(got).count == 1 ? got[0] : got.joined(separator: ", "), calls: calls, attempts: attempts,
                    passed: passed))
        }

        // Accounting over the whole run: calls received = attempts logged = attempts counted.
        let calls = primary.requestCount + fallback.requestCount
        let logged = (1...sent).reduce(0) {
            $0 + (Self.requestLine(h, "scenario-\($1)")?["targets"]?.arrayValue?.count ?? 0)
        }
        let metrics = try await h.request("GET", "/metrics", key: nil).text
        let counted = Int(metricValue(metrics, "switchyard_upstream_attempts_total"))
        let budgetRefusals = h.logs.captured.components(separatedBy: "retry budget exhausted").count - 1
        rows.append(
            Row(
                name: "accounting (whole run)", expected: "calls = logged = counted, no budget refusal",
                got: "\(calls) calls, \(logged) logged, \(counted) counted, \(budgetRefusals) refusals", calls: calls,
                attempts: logged, passed: calls == logged && logged == counted && budgetRefusals == 0))

        print(Self.table(rows))
        for row in rows {
            #expect(
                row.passed,
                "\(row.name): expected \(row.expected), got \(row.got) (\(row.calls) calls, \(row.attempts) attempts)")
        }
    }

    // MARK: Judging

    /// The request's log line. It is written just after the response goes out, so the client
    /// may see the response first: poll the captured log (returns as soon as the line is there).
    static func awaitRequestLine(_ h: GatewayHarness, _ id: String) async throws -> JSON? {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if let line = requestLine(h, id) { return line }
            try await Task.sleep(for: .milliseconds(5))
        }
        return nil
    }

    static func requestLine(_ h: GatewayHarness, _ id: String) -> JSON? {
        h.logs.captured.split(separator: "\n").lazy.compactMap { try? JSON.parse(String($0)) }.last {
            $0["msg"] == "request" && $0["request_id"]?.stringValue == id
        }
    }

    /// What the client got, and whether it is what the scenario expects.
    static func judge(_ r: UpstreamResponse, stream: Bool, line: JSON?, _ expect: Expect) -> (String, Bool) {
        switch expect {
        case .answered, .continued, .restarted:
            guard r.head.status == 200 else { return ("HTTP \(r.head.status) \(r.text.prefix(80))", false) }
            // The finishing provider and how it came to finish, from the request's log line.
            let provider = line?["provider"]?.stringValue ?? "-"
            let recovery = line?["continuations"]?.arrayValue?.last?["outcome"]?.stringValue
            let got: Expect =
                switch recovery {
                case "ok"?: .continued(by: provider)
                case "restart_ok"?: .restarted(on: provider)
                default: .answered(by: provider)
                }
            let whole: Bool
            if stream {
                let s = ClientStream(r.text)
                whole =
                    s.error == nil && s.text == answer && s.roleDeltas == 1 && s.finishReasons == ["stop"]
                    && s.endsWithDone
            } else {
                whole = r.json?["choices"]?.arrayValue?.first?["message"]?["content"]?.stringValue == answer
            }
            return (describe(got) + (whole ? "" : " (answer damaged)"), whole && got == expect)
        case .returned(let status, let code):
            let gotCode = r.json?["error"]?["code"]?.stringValue ?? "-"
            return ("HTTP \(r.head.status) \(gotCode)", r.head.status == status && gotCode == code)
        }
    }

    static func describe(_ e: Expect) -> String {
        switch e {
        case .answered(let by): "answered by \(by)"
        case .continued(let by): "continued by \(by)"
        case .restarted(let on): "restarted on \(on)"
        case .returned(let status, let code): "HTTP \(status) \(code) (by design)"
        }
    }

    static func table(_ rows: [Row]) -> String {
        let header = ["scenario", "expected", "got", "calls", "attempts", "ok"]
        let cells = rows.map {
            [$0.name, $0.expected, $0.got, "\($0.calls)", "\($0.attempts)", $0.passed ? "yes" : "NO"]
        }
        let widths = header.indices.map { i in ([header[i]] + cells.map { $0[i] }).map(\.count).max() ?? 0 }
        func line(_ c: [String]) -> String {
            "| "
                + c.enumerated().map { $1 + String(repeating: " ", count: widths[$0] - $1.count) }
                .joined(separator: " | ") + " |"
        }
        return
            ([line(header), "|" + widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "|") + "|"]
            + cells.map(line)).joined(separator: "\n")
    }
}
