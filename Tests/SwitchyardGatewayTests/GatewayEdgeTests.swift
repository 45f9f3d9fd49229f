import FoundationEssentials
import SwitchyardCore
import SwitchyardGateway
import SwitchyardTestSupport
import SwitchyardUpstream
import Testing

/// The OpenAI-compatible surface against an OpenAI-kind mock upstream.
@Suite struct GatewayEdgeTests {
    static let models = """
          - {name: smart, targets: [{provider: openai, model: gpt-4o-mini}]}
        """

    func withGateway(_ body: (GatewayHarness, MockHTTPServer) async throws -> Void) async throws {
        try await GatewayHarness.withMockLLM(model: "smart") { h, mock in
            try await body(h, mock)
            // Nothing this test made the process write may carry a configured secret.
            #expect(!h.logs.captured.contains(TestSecrets.client))
            #expect(!h.logs.captured.contains(TestSecrets.provider))
        }
    }

    @Test func plainCompletionPassesThroughWithModelReplaced() async throws {
        try await withGateway { h, mock in
            let r = try await h.chat(
                #"{"model":"smart","messages":[{"role":"user","content":"hi"}],"x_vendor_field":{"keep":[1,2]},"seed":12345678901234567}"#,
                headers: [HeaderField("x-request-id", "req-test-1")])
            #expect(r.head.status == 200)
            #expect(r.json?["choices"]?.arrayValue?.first?["message"]?["content"] == "Hello from the mock: hi")
            #expect(r.header("x-switchyard-provider") == "openai")
            #expect(r.header("x-switchyard-model") == "gpt-4o-mini")
            #expect(r.header("x-switchyard-attempts") == "1")
            #expect(r.header("x-request-id") == "req-test-1")
            let sent = try #require(mock.requests.last)
            let body = try JSON.parse(sent.body)
            #expect(body["model"] == "gpt-4o-mini")
            #expect(body["x_vendor_field"] == ["keep": [1, 2]])
            #expect(body["seed"] == .number("12345678901234567"))
            #expect(sent.headers.value(for: "authorization") == "Bearer \(TestSecrets.provider)")
        }
    }

    @Test func streamingPassesEventsThroughAndEndsWithDone() async throws {
        try await withGateway { h, mock in
            let r = try await h.chat(
                #"{"model":"smart","stream":true,"messages":[{"role":"user","content":"one two three"}]}"#)
            #expect(r.head.status == 200)
            #expect(r.header("content-type") == "text/event-stream")
            let events = r.text.components(separatedBy: "\n\n").filter { !$0.isEmpty }
            #expect(events.last == "data: [DONE]")
            var text = ""
            for e in events.dropLast() {
                let chunk = try JSON.parse(String(e.dropFirst("data: ".count)))
                text += chunk["choices"]?.arrayValue?.first?["delta"]?["content"]?.stringValue ?? ""
                // The client did not ask for usage: the usage-only chunk Switchyard requested upstream is not forwarded.
                #expect(chunk["choices"]?.arrayValue?.isEmpty == false)
            }
            #expect(text == "Hello from the mock: one two three")
            let upstreamBody = try JSON.parse(try #require(mock.requests.last).body)
            #expect(upstreamBody["stream_options"]?["include_usage"] == true)
        }
    }

    @Test func streamingForwardsUsageWhenAsked() async throws {
        try await withGateway { h, _ in
            let r = try await h.chat(
                #"{"model":"smart","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"x"}]}"#
            )
            let events = r.text.components(separatedBy: "\n\n").filter { !$0.isEmpty }
            let usageChunk = try JSON.parse(String(events[events.count - 2].dropFirst("data: ".count)))
            #expect(usageChunk["usage"]?["total_tokens"]?.intValue ?? 0 > 0)
            #expect(usageChunk["choices"] == [])
        }
    }

    @Test func upstreamClientErrorIsPassedThroughWithItsStatus() async throws {
        let mock = try MockHTTPServer { _ in
            .json(
                status: 400,
                ["error": ["message": "bad thing", "type": "invalid_request_error", "param": "foo", "code": "bad_foo"]])
        }
        let h = try await GatewayHarness.start(yaml: yaml(mock: mock, models: Self.models))
        defer {
            h.stop()
            mock.stop()
        }
        let r = try await h.chat(#"{"model":"smart","messages":[{"role":"user","content":"x"}]}"#)
        #expect(r.head.status == 400)
        #expect(r.json?["error"]?["code"] == "bad_foo")
        #expect(r.json?["error"]?["param"] == "foo")
        #expect(mock.requestCount == 1)
    }

    struct ErrorCase: Sendable, CustomTestStringConvertible {
        var name: String
        var method = "POST"
        var path = "/v1/chat/completions"
        var body = ""
        var key: String? = TestSecrets.client
        var status: Int
        var code: String?
        var param: String?
        var testDescription: String { name }
    }

    static let errorCases: [ErrorCase] = [
        ErrorCase(name: "malformed JSON", body: "{nope", status: 400, code: "invalid_json"),
        ErrorCase(
            name: "missing model", body: #"{"messages":[{"role":"user","content":"x"}]}"#, status: 400, param: "model"),
        ErrorCase(name: "missing messages", body: #"{"model":"smart"}"#, status: 400, param: "messages"),
        ErrorCase(
            name: "unknown model", body: #"{"model":"nope","messages":[{"role":"user","content":"x"}]}"#, status: 404,
            code: "model_not_found"),
        ErrorCase(
            name: "no key", body: #"{"model":"smart","messages":[]}"#, key: nil, status: 401, code: "invalid_api_key"),
        ErrorCase(
            name: "wrong key", body: #"{"model":"smart","messages":[]}"#, key: "sk-wrong", status: 401,
            code: "invalid_api_key"),
        ErrorCase(name: "wrong method", method: "GET", status: 405, code: "method_not_allowed"),
        ErrorCase(name: "unknown path", method: "GET", path: "/v2/whatever", status: 404),
        ErrorCase(name: "unknown v1 path", method: "GET", path: "/v1/embeddings", status: 404),
        ErrorCase(
            name: "oversized body", body: "{\"model\":\"" + String(repeating: "x", count: 70_000) + "\"}", status: 413),
    ]

    @Test(arguments: errorCases)
    func errorsAreOpenAIShaped(_ c: ErrorCase) async throws {
        try await withGateway { h, mock in
            let r = try await h.request(c.method, c.path, body: c.body, key: c.key)
            #expect(r.head.status == c.status)
            let error = try #require(r.json?["error"]?.objectValue, "body: \(r.text)")
            #expect(error.keys.sorted() == ["code", "message", "param", "type"])
            if let code = c.code { #expect(error["code"] == .string(code)) }
            if let param = c.param { #expect(error["param"] == .string(param)) }
            #expect(mock.requestCount == 0)
        }
    }

    @Test func healthAndReadinessNeedNoKey() async throws {
        try await withGateway { h, _ in
            #expect(try await h.request("GET", "/healthz", key: nil).head.status == 200)
            #expect(try await h.request("GET", "/readyz", key: nil).head.status == 200)
            let metrics = try await h.request("GET", "/metrics", key: nil)
            #expect(metrics.head.status == 200)
        }
    }

    @Test func modelsListAndShow() async throws {
        try await withGateway { h, _ in
            let list = try await h.request("GET", "/v1/models")
            let ids = list.json?["data"]?.arrayValue?.compactMap { $0["id"]?.stringValue }
            #expect(ids == ["smart", "openai/gpt-4o-mini"])
            let one = try await h.request("GET", "/v1/models/openai/gpt-4o-mini")
            #expect(one.json?["id"] == "openai/gpt-4o-mini")
            #expect(one.json?["object"] == "model")
            #expect(try await h.request("GET", "/v1/models/ghost").head.status == 404)
        }
    }

    @Test func providerSlashModelReachesOneProviderDirectly() async throws {
        try await withGateway { h, mock in
            let r = try await h.chat(#"{"model":"openai/gpt-4.1","messages":[{"role":"user","content":"x"}]}"#)
            #expect(r.head.status == 200)
            #expect(try JSON.parse(try #require(mock.requests.last).body)["model"] == "gpt-4.1")
        }
    }

    @Test func clientDisconnectMidStreamAbortsTheUpstreamTransfer() async throws {
        let gate = MockGate()
        let mock = try MockHTTPServer { _ in
            .sse(
                events: [
                    #"data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"a"},"finish_reason":null}]}"#
                ],
                then: [.waitFor(gate), .stall])
        }
        let h = try await GatewayHarness.start(yaml: yaml(mock: mock, models: Self.models))
        defer {
            gate.open()
            h.stop()
            mock.stop()
        }
        let client = h.client
        let base = h.base
        let firstSeen = MockGate()
        let task = Task {
            let stream = try await client.stream(
                UpstreamRequest(
                    url: base + "/v1/chat/completions",
                    headers: [
                        HeaderField("Authorization", "Bearer \(TestSecrets.client)"),
                        HeaderField("Content-Type", "application/json"),
                    ],
                    body: Array(#"{"model":"smart","stream":true,"messages":[{"role":"user","content":"x"}]}"#.utf8)))
            var it = stream.body.makeAsyncIterator()
            _ = try await it.next()
            firstSeen.open()
            while try await it.next() != nil {}
        }
        await firstSeen.wait()
        // The client goes away; the gateway must abort its upstream transfer (the mock sees the close).
        task.cancel()
        await mock.waitForClosedConnections(1)
        #expect(mock.closedConnections >= 1)
    }
}
