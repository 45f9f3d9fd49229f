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
        let h = try startTaskGateway(mock: llm.server, storePath: storePath)
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
        let echoing = try GatewayHarness.start(
            yaml: yaml(mock: echo, models: "  - {name: m, targets: [{provider: openai, model: gpt-4o-mini}]}"))
        defer { echoing.stop() }
        let failed = try await echoing.chat(#"{"model":"m","messages":[{"role":"user","content":"x"}]}"#)
        #expect(failed.head.status == 502)
        #expect(failed.json?["error"]?["code"] == "upstream_auth_failed")
        record(failed)
        written.append(echoing.logs.captured)

        written.append(h.logs.captured)
        for suffix in ["", "-wal"] {
            if let data = FileManager.default.contents(atPath: storePath + suffix) {
                written.append(String(decoding: data, as: UTF8.self))
            }
        }
        #expect(written.count > 15)
        let everything = written.joined(separator: "\n")
        #expect(everything.contains("Hello from the mock"))  // the search covers real content
        for secret in [TestSecrets.client, TestSecrets.provider, OtherKey.secret] {
            #expect(!everything.contains(secret), "found a configured secret in what the process wrote")
        }
    }
}
