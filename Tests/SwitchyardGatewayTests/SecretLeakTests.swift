import Foundation
import SwitchyardCore
import SwitchyardGateway
import SwitchyardTestSupport
import SwitchyardUpstream
import Testing

/// Everything the process wrote — logs, metrics, every response body (errors included) and the
/// SQLite store on disk — is searched for the configured secrets after mixed traffic.
@Suite struct SecretLeakTests {
    @Test func noConfiguredSecretAppearsAnywhereTheProcessWrote() async throws {
        // The upstream echoes credentials back in its error text, as some providers do.
        let llm = try GatedLLM()
        let echo = try MockHTTPServer { r in
            .json(
                status: 401,
                [
                    "error": [
                        "message": .string(
                            "Incorrect API key provided: \(r.headers.value(for: "authorization") ?? "")"),
                        "type": "invalid_request_error", "param": nil, "code": "invalid_api_key",
                    ]
                ])
        }
        let storePath = temporaryStorePath("leaks")
        let h = try await startTaskGateway(mock: llm.server, storePath: storePath)
        defer {
            h.stop()
            llm.stop()
            echo.stop()
        }
        var written: [String] = []
        func record(_ r: UpstreamResponse) {
            written.append(r.text)
            written.append(r.head.headers.map { "\($0.name): \($0.value)" }.joined(separator: "\n"))
        }

        // Successes, a stream, client errors, a wrong key, an idempotent replay, a task.
        record(try await h.chat(#"{"model":"smart","messages":[{"role":"user","content":"hi"}]}"#))
        record(try await h.chat(#"{"model":"smart","stream":true,"messages":[{"role":"user","content":"hi"}]}"#))
        record(try await h.chat("{broken"))
        record(try await h.chat(#"{"model":"nope","messages":[{"role":"user","content":"x"}]}"#))
        record(try await h.request("POST", "/v1/chat/completions", body: "{}", key: "sk-wrong-\(TestSecrets.client)"))
        let idem = [HeaderField("Idempotency-Key", "leak-1")]
        record(try await h.chat(#"{"model":"smart","messages":[{"role":"user","content":"once"}]}"#, headers: idem))
        record(try await h.chat(#"{"model":"smart","messages":[{"role":"user","content":"once"}]}"#, headers: idem))
        let created = try await h.request(
            "POST", "/v1/tasks", body: taskBody([stepJSON("a", "first"), stepJSON("b", "second")]))
        record(created)
        let id = try #require(created.json?["id"]?.stringValue)
        _ = try await h.waitForTask(id) { $0.state == "completed" }
        record(try await h.task(id))
        record(try await h.request("GET", "/v1/tasks"))
        // Stored Responses conversations: a turn, a streamed continuation of it, a read-back.
        let turn = try await h.request("POST", "/v1/responses", body: #"{"model":"smart","input":"remember"}"#)
        record(turn)
        let turnID = try #require(turn.json?["id"]?.stringValue)
        record(
            try await h.request(
                "POST", "/v1/responses",
                body: #"{"model":"smart","input":"again","stream":true,"previous_response_id":"\#(turnID)"}"#))
        record(try await h.request("GET", "/v1/responses/\(turnID)/input_items"))
        record(try await h.request("GET", "/metrics", key: nil))
        record(try await h.request("GET", "/readyz", key: nil))

        // A provider whose error text echoes our key: the gateway must not forward it.
        let echoing = try await GatewayHarness.start(
            yaml: yaml(mock: echo, models: "  - {name: m, targets: [{provider: openai, model: gpt-4o-mini}]}"))
        defer { echoing.stop() }
        let failed = try await echoing.chat(#"{"model":"m","messages":[{"role":"user","content":"x"}]}"#)
        #expect(failed.head.status == 502)
        #expect(failed.json?["error"]?["code"] == "upstream_auth_failed")
        record(failed)
        written.append(echoing.logs.captured)

        written.append(h.logs.captured)
        written.append(try TestStore.contents(storePath))
        #expect(written.count > 15)
        let everything = written.joined(separator: "\n")
        #expect(everything.contains("Hello from the mock"))  // the search covers real content
        for secret in [TestSecrets.client, TestSecrets.provider, OtherKey.secret] {
            let leaked = everything.contains(secret)
            #expect(!leaked, "found a configured secret in what the process wrote")
        }
    }
}

/// An upstream of all three wire formats that puts the key it received into every answer: the
/// error message of each error path, a response header, a stream's error event, even a normal
/// answer's text. Which path a request takes is named in its prompt: `scenario:<name>`.
enum EchoingUpstream {
    static let scenarios = ["ok", "400", "badkey", "429", "500", "streamerror"]

    static func start() throws -> MockHTTPServer {
        try MockHTTPServer { r in
            let key =
                r.headers.value(for: "x-api-key") ?? r.headers.value(for: "x-goog-api-key")
                ?? r.headers.value(for: "authorization").map { String($0.dropFirst("Bearer ".count)) } ?? ""
            var response = respond(r, key: key)
            response.headers.append(HeaderField("x-echo-key", key))
            return response
        }
    }

    static func respond(_ r: RecordedRequest, key: String) -> MockResponse {
        guard let kind = MockProviderKind(path: r.path) else { return MockLLM().respond(r) }
        let scenario = scenarios.first { r.bodyText.contains("scenario:\($0) ") } ?? "ok"
        let streaming = r.bodyText.contains(#""stream":true"#) || r.path.contains("streamGenerateContent")
        let text = "the key you sent is \(key)"
        switch scenario {
        case "400": return error(kind, 400, "INVALID_ARGUMENT", "invalid_request_error", text)
        case "badkey":
            // Gemini's answer to a bad key is a 400 INVALID_ARGUMENT; the others answer 401.
            return kind == .gemini
                ? error(kind, 400, "INVALID_ARGUMENT", "invalid_request_error", "API key not valid: \(key)")
                : error(kind, 401, "UNAUTHENTICATED", "authentication_error", "Incorrect API key provided: \(key)")
        case "429": return error(kind, 429, "RESOURCE_EXHAUSTED", "rate_limit_error", text)
        case "500": return error(kind, 500, "INTERNAL", "api_error", text)
        case "streamerror" where !streaming: return error(kind, 500, "INTERNAL", "api_error", text)
        case "streamerror":
            // The stream starts normally (so it is handed to the client), then fails in-band.
            guard case .chunks(let steps) = MockLLM(reply: "partial answer").respond(r).body else { break }
            let first = steps.filter { if case .data = $0 { true } else { false } }.prefix(2)
            let event: String
            switch kind {
            case .openai: event = #"data: {"error":{"message":"\#(text)","type":"server_error","code":null}}"#
            case .anthropic:
                event = #"event: error\#ndata: {"type":"error","error":{"type":"api_error","message":"\#(text)"}}"#
            case .gemini: event = #"data: {"error":{"code":500,"message":"\#(text)","status":"INTERNAL"}}"#
            }
            return .chunked(
                Array(first) + [.text(event + "\n\n")], headers: [HeaderField("Content-Type", "text/event-stream")])
        default: break
        }
        return MockLLM(reply: text).respond(r)
    }

    static func error(
        _ kind: MockProviderKind, _ status: Int, _ grpc: String, _ type: String, _ message: String
    )
        -> MockResponse
    {
        switch kind {
        case .openai:
            return .json(
                status: status,
                ["error": ["message": .string(message), "type": .string(type), "param": nil, "code": nil]])
        case .anthropic:
            return .json(
                status: status, ["type": "error", "error": ["type": .string(type), "message": .string(message)]])
        case .gemini:
            return .json(
                status: status, ["error": ["code": .int(status), "message": .string(message), "status": .string(grpc)]])
        }
    }
}

extension SecretLeakTests {
    /// Every provider kind, every error path, streamed and not, from Chat Completions and Messages
    /// clients, plus idempotency records and a task: the upstream echoes the provider key each
    /// time, and none of it may reach an answer, a log line, a metric or the store.
    @Test func upstreamsEchoingTheKeyInEveryPathLeakNothing() async throws {
        let upstream = try EchoingUpstream.start()
        let storePath = temporaryStorePath("echo")
        let h = try await GatewayHarness.start(
            yaml: yaml(
                mock: upstream,
                models: """
                      - {name: m-openai, targets: [{provider: openai, model: gpt-4o-mini}]}
                      - {name: m-anthropic, targets: [{provider: anthropic, model: claude-3-5-haiku-latest}]}
                      - {name: m-gemini, targets: [{provider: gemini, model: gemini-2.0-flash}]}
                    """,
                retry: "retry: {attempts_per_target: 1, initial_backoff_ms: 1, max_backoff_ms: 5, multiplier: 2}")
                + "\nstore: {path: \"\(storePath)\"}\ncircuit_breaker: {failure_threshold: 1000}")
        defer {
            h.stop()
            upstream.stop()
        }
        var written: [String] = []
        var redactedAnswers = 0
        func record(_ r: UpstreamResponse) {
            written.append(r.text)
            written.append(r.head.headers.map { "\($0.name): \($0.value)" }.joined(separator: "\n"))
            if r.text.contains("[REDACTED]") { redactedAnswers += 1 }
        }
        for kind in ["openai", "anthropic", "gemini"] {
            for scenario in EchoingUpstream.scenarios {
                for stream in [false, true] {
                    let body: JSON = [
                        "model": .string("m-\(kind)"), "stream": .bool(stream),
                        "messages": [["role": "user", "content": .string("scenario:\(scenario) please")]],
                    ]
                    let r = try await h.chat(body.serializedString())
                    record(r)
                    if scenario == "ok" { #expect(r.head.status == 200, "\(kind) \(scenario) stream \(stream)") }
                }
            }
            // The same scenarios from an Anthropic Messages client (natively forwarded on Anthropic).
            for scenario in EchoingUpstream.scenarios {
                for stream in [false, true] {
                    let body: JSON = [
                        "model": .string("m-\(kind)"), "max_tokens": 64, "stream": .bool(stream),
                        "messages": [["role": "user", "content": .string("scenario:\(scenario) please")]],
                    ]
                    let r = try await h.request("POST", "/v1/messages", body: body.serializedString())
                    record(r)
                    if scenario == "ok" {
                        #expect(r.head.status == 200, "messages \(kind) \(scenario) stream \(stream)")
                    }
                }
            }
            let idem = [HeaderField("Idempotency-Key", "echo-\(kind)")]
            let once = JSON.object([
                "model": .string("m-\(kind)"), "messages": [["role": "user", "content": "scenario:ok once"]],
            ]).serializedString()
            record(try await h.chat(once, headers: idem))
            let replay = try await h.chat(once, headers: idem)
            #expect(replay.header("x-switchyard-replayed") == "true")
            record(replay)
        }
        // A task whose first step's answer echoes the key and whose second step fails with it.
        let created = try await h.request(
            "POST", "/v1/tasks",
            body: taskBody([
                stepJSON("a", "scenario:ok first", model: "m-gemini"),
                stepJSON("b", "scenario:400 second", model: "m-anthropic"),
            ]))
        record(created)
        let id = try #require(created.json?["id"]?.stringValue)
        _ = try await h.waitForTask(id) { $0["state"]?.stringValue == "failed" }
        record(try await h.task(id))
        record(try await h.request("GET", "/metrics", key: nil))
        record(try await h.request("GET", "/readyz", key: nil))
        written.append(h.logs.captured)
        written.append(try TestStore.contents(storePath))

        // The echo really went through every path (the search below could not pass vacuously).
        #expect(upstream.requests.filter { $0.method == "POST" }.count >= 3 * 24 + 3 + 2)
        #expect(redactedAnswers >= 3 * 16)
        let everything = written.joined(separator: "\n")
        let echoed = everything.contains("the key you sent is [REDACTED]")
        let streamed = everything.contains("partial")
        #expect(echoed && streamed, "the echoes and the streamed text were expected in the answers")
        let fragment = String(TestSecrets.provider.dropFirst(3).prefix(Redactor.fragmentLength))
        for secret in [TestSecrets.client, TestSecrets.provider, fragment] {
            let leaked = everything.contains(secret)
            #expect(!leaked, "found a configured secret in what the process wrote")
        }
    }
}
