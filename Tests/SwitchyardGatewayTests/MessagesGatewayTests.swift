import Foundation
import SwitchyardCore
import SwitchyardGateway
import SwitchyardInbound
import SwitchyardTestSupport
import SwitchyardUpstream
import Synchronization
import Testing

/// `/v1/messages` and `/v1/messages/count_tokens` through the real gateway over loopback, in front
/// of mock upstreams that validate their requests like the real APIs.
@Suite struct MessagesGatewayTests {
    static let everyKind = """
          - {name: via-openai, targets: [{provider: openai, model: gpt-4o-mini}]}
          - {name: via-anthropic, targets: [{provider: anthropic, model: claude-sonnet-4-5}]}
          - {name: via-gemini, targets: [{provider: gemini, model: gemini-2.0-flash}]}
        """

    static func body(
        _ model: String, _ text: String, stream: Bool = false, extra: String = "", maxTokens: Int = 256
    ) -> String {
        #"{"model":"\#(model)","max_tokens":\#(maxTokens)\#(stream ? #","stream":true"# : ""),"messages":[{"role":"user","content":"\#(text)"}]\#(extra)}"#
    }

    static func events(_ r: UpstreamResponse) -> [(String, JSON)] { ResponsesGatewayTests.events(r.body) }

    static func text(_ events: [(String, JSON)]) -> String {
        events.filter { $0.0 == "content_block_delta" }.compactMap { $0.1["delta"]?["text"]?.stringValue }.joined()
    }

    func withGateway(
        models: String = Self.everyKind, extraProviders: (Int) -> String = { _ in "" }, retry: String = "",
        script: @escaping @Sendable (Int, RecordedRequest) -> MockResponse = { _, r in MockLLM().respond(r) },
        _ body: (GatewayHarness, MockHTTPServer) async throws -> Void
    ) async throws {
        try await GatewayHarness.withScriptedUpstream(
            yaml: { yaml(mock: $0, models: models, extraProviders: extraProviders($0.port), retry: retry) },
            script: script, body)
    }

    @Test(arguments: [
        ("via-openai", "/v1/chat/completions"), ("via-anthropic", "/v1/messages"), ("via-gemini", ":generateContent"),
    ])
    func eachTargetKindAnswersInAnthropicsShape(_ model: String, _ upstreamPath: String) async throws {
        try await withGateway { h, mock in
            let r = try await h.request("POST", "/v1/messages", body: Self.body(model, "hi there"))
            #expect(r.head.status == 200, "\(r.text)")
            let o = try #require(r.json)
            #expect(o["type"] == "message" && o["role"] == "assistant" && o["stop_reason"] == "end_turn")
            #expect(o["content"] == [["type": "text", "text": "Hello from the mock: hi there"]])
            #expect(
                (o["usage"]?["input_tokens"]?.intValue ?? 0) > 0 && (o["usage"]?["output_tokens"]?.intValue ?? 0) > 0)
            #expect(r.header("request-id") == r.header("x-request-id") && r.header("request-id") != nil)
            #expect(mock.requests.first?.path.contains(upstreamPath) == true)

            let s = try await h.request("POST", "/v1/messages", body: Self.body(model, "stream me", stream: true))
            #expect(s.header("content-type") == "text/event-stream" && s.header("request-id") != nil)
            let events = Self.events(s)
            #expect(events.first?.0 == "message_start" && events.last?.0 == "message_stop")
            #expect(events.allSatisfy { $0.0 == $0.1["type"]?.stringValue })
            #expect(Self.text(events) == "Hello from the mock: stream me")
            let metrics = try await h.request("GET", "/metrics", key: nil)
            #expect(metrics.text.contains(#"api="messages",model="\#(model)""#))
        }
    }

    /// An Anthropic target receives the client's body with only `model` replaced, byte for byte,
    /// and the client's `anthropic-version` and `anthropic-beta` (joined with the provider's).
    @Test func anthropicTargetReceivesTheClientsBodyAndHeaders() async throws {
        let extra =
            #","system":[{"type":"text","text":"Terse.","cache_control":{"type":"ephemeral"}}],"thinking":{"type":"enabled","budget_tokens":1024},"future_field":[1.50,{"k":"v"}]"#
        let body = Self.body("via-anthropic", "hi there", extra: extra, maxTokens: 2048)
        try await withGateway(
            models: Self.everyKind + "\n  - {name: beta, targets: [{provider: claude-beta, model: claude-x}]}",
            extraProviders: { port in
                "  - {name: claude-beta, kind: anthropic, base_url: \"http://127.0.0.1:\(port)\", api_key_env: TEST_PROVIDER_KEY, headers: {anthropic-beta: configured-1}}"
            }
        ) { h, mock in
            let r = try await h.request(
                "POST", "/v1/messages", body: body,
                headers: [HeaderField("anthropic-version", "2023-06-01"), HeaderField("anthropic-beta", "client-2")])
            #expect(r.head.status == 200)
            let sent = try #require(mock.requests.last)
            #expect(
                sent.bodyText
                    == body.replacingOccurrences(of: #""model":"via-anthropic""#, with: #""model":"claude-sonnet-4-5""#)
            )
            #expect(sent.headers.value(for: "anthropic-version") == "2023-06-01")
            #expect(sent.headers.value(for: "anthropic-beta") == "client-2")
            _ = try await h.request(
                "POST", "/v1/messages", body: Self.body("beta", "hi"),
                headers: [HeaderField("anthropic-beta", "client-2")])
            #expect(
                mock.requests.last?.headers.filter { $0.name.lowercased() == "anthropic-beta" }.map(\.value) == [
                    "configured-1,client-2"
                ])
        }
    }

    /// The acceptance case: the Anthropic primary answers 529 `overloaded_error`; the client gets a
    /// normal message from Gemini, plain and streamed.
    @Test func overloadedAnthropicFailsOverToGemini() async throws {
        let models = """
              - name: claude-then-gemini
                targets:
                  - {provider: anthropic, model: claude-sonnet-4-5, priority: 1}
                  - {provider: gemini, model: gemini-2.0-flash, priority: 2}
              - {name: claude-only, targets: [{provider: anthropic, model: claude-sonnet-4-5}]}
            """
        try await withGateway(
            models: models,
            script: { _, r in
                MockProviderKind(path: r.path) == .anthropic ? MockLLM.overloaded(.anthropic) : MockLLM().respond(r)
            }
        ) { h, mock in
            let r = try await h.request("POST", "/v1/messages", body: Self.body("claude-then-gemini", "hi there"))
            #expect(r.head.status == 200 && r.header("x-switchyard-provider") == "gemini")
            #expect(r.json?["content"] == [["type": "text", "text": "Hello from the mock: hi there"]])
            let s = try await h.request(
                "POST", "/v1/messages", body: Self.body("claude-then-gemini", "hi there", stream: true))
            #expect(s.header("x-switchyard-provider") == "gemini")
            #expect(Self.text(Self.events(s)) == "Hello from the mock: hi there")
            // With no fallback, the client gets Anthropic's own 529 in Anthropic's shape.
            let o = try await h.request("POST", "/v1/messages", body: Self.body("claude-only", "hi"))
            #expect(o.head.status == 529)
            #expect(o.json?["type"] == "error" && o.json?["error"]?["type"] == "overloaded_error")
            #expect(o.header("request-id") != nil && o.header("retry-after") != nil)
            #expect(mock.requests.contains { $0.path.contains(":generateContent") })
        }
    }

    /// A native stream cut mid-answer is finished by a prefilled continuation: one message, the
    /// text whole, one `message_start`, the same block continued, usage summed over both calls.
    @Test func cutNativeStreamIsContinuedAsOneMessage() async throws {
        let llm = MockLLM()
        try await withGateway(
            models: "  - {name: m, targets: [{provider: anthropic, model: claude-x}]}",
            script: { n, r in n == 1 ? llm.respond(r, breakingAfter: 5, .cut) : llm.respond(r) }
        ) { h, mock in
            let s = try await h.request(
                "POST", "/v1/messages", body: Self.body("m", "one two three four five", stream: true))
            let events = Self.events(s)
            #expect(events.filter { $0.0 == "message_start" }.count == 1 && events.last?.0 == "message_stop")
            #expect(Self.text(events) == RecoveryTests.answer)
            #expect(events.filter { $0.0 == "content_block_start" }.count == 1)
            #expect(events.allSatisfy { $0.1["index"] == nil || $0.1["index"] == 0 })
            let requests = mock.requests
            #expect(requests.count == 2)
            let prompts = requests.map { max(1, ((try? JSON.parse($0.body))?.serialized().count ?? 0) / 4) }
            let delta = try #require(events.first { $0.0 == "message_delta" }?.1)
            #expect(delta["usage"]?["input_tokens"]?.intValue == prompts.reduce(0, +))
            let messages = try JSON.parse(requests[1].body)["messages"]?.arrayValue ?? []
            #expect(messages.last == ["role": "assistant", "content": "Hello from"])
            let metrics = try await h.request("GET", "/metrics", key: nil)
            #expect(
                metrics.text.contains(
                    #"switchyard_continuations_total{from="anthropic",to="anthropic",outcome="ok"} 1"#))
        }
    }

    /// With extended thinking on, a cut stream is not continued: Anthropic would refuse a
    /// prefill without the signed thinking block (and the refusal would bar the target from
    /// continuing other streams for a while); the client gets the original failure.
    @Test func cutThinkingStreamIsNotContinued() async throws {
        let llm = MockLLM()
        try await withGateway(
            models: "  - {name: m, targets: [{provider: anthropic, model: claude-x}]}",
            script: { n, r in n == 1 ? llm.respond(r, breakingAfter: 5, .cut) : llm.respond(r) }
        ) { h, mock in
            let thinking = #","thinking":{"type":"enabled","budget_tokens":1024}"#
            let s = try await h.request(
                "POST", "/v1/messages",
                body: Self.body("m", "one two three four five", stream: true, extra: thinking, maxTokens: 2048))
            let events = Self.events(s)
            #expect(events.last?.0 == "error" && events.last?.1["error"]?["type"] == "api_error")
            #expect(mock.requests.count == 1)
            let metrics = try await h.request("GET", "/metrics", key: nil)
            #expect(!metrics.text.contains(#"outcome="rejected""#))
        }
    }

    @Test func countTokensIsExactOnAnthropicAndEstimatedElsewhere() async throws {
        try await withGateway { h, mock in
            let body =
                #"{"model":"via-anthropic","messages":[{"role":"user","content":"count me"}],"system":"Be brief."}"#
            let exact = try await h.request("POST", "/v1/messages/count_tokens", body: body)
            #expect(exact.head.status == 200 && exact.header("x-switchyard-token-count") == "exact")
            let sent = try #require(mock.requests.last)
            #expect(sent.path == "/v1/messages/count_tokens")
            #expect(exact.json?["input_tokens"]?.intValue == sent.body.count / 4)
            let estimate = try await h.request(
                "POST", "/v1/messages/count_tokens",
                body: body.replacingOccurrences(of: "via-anthropic", with: "via-gemini"))
            #expect(estimate.head.status == 200 && estimate.header("x-switchyard-token-count") == "estimate")
            // Two messages (system, user) of 4 tokens each, "Be brief." 3, "count me" 2.
            #expect(estimate.json?["input_tokens"]?.intValue == 2 * MessagesTokenEstimate.perMessage + 3 + 2)
            #expect(mock.requests.count == 1)
            // A count the upstream refuses is its 400, in Anthropic's shape.
            let bad = try await h.request(
                "POST", "/v1/messages/count_tokens",
                body: #"{"model":"via-anthropic","messages":[{"role":"user","content":[{"type":"text","text":""}]}]}"#)
            #expect(bad.head.status == 400 && bad.json?["error"]?["type"] == "invalid_request_error")
            #expect(h.logs.captured.contains(#""operation":"count_tokens""#))
        }
    }

    /// `x-api-key` (what the Anthropic SDKs send) authenticates like `Authorization: Bearer`;
    /// errors of this route, the edge's own 413 included, are in Anthropic's shape.
    @Test func authAndEdgeErrorsAreAnthropicShaped() async throws {
        try await withGateway { h, _ in
            let ok = try await h.request(
                "POST", "/v1/messages", body: Self.body("via-openai", "hi"),
                headers: [HeaderField("x-api-key", TestSecrets.client)], key: nil)
            #expect(ok.head.status == 200)
            let missing = try await h.request("POST", "/v1/messages", body: Self.body("via-openai", "hi"), key: nil)
            #expect(missing.head.status == 401 && missing.json?["error"]?["type"] == "authentication_error")
            #expect(missing.json?["type"] == "error" && missing.header("request-id") != nil)
            #expect(missing.json?["request_id"]?.stringValue == missing.header("request-id"))
            let chat = try await h.request(
                "POST", "/v1/chat/completions",
                body: #"{"model":"via-openai","messages":[{"role":"user","content":"hi"}]}"#,
                headers: [HeaderField("x-api-key", TestSecrets.client)], key: nil)
            #expect(chat.head.status == 200)

            let big = String(repeating: "x", count: 70_000)
            let tooLarge = try await h.request("POST", "/v1/messages", body: Self.body("via-openai", big))
            #expect(tooLarge.head.status == 413)
            #expect(tooLarge.json?["error"]?["type"] == "request_too_large" && tooLarge.header("request-id") != nil)
            #expect(tooLarge.json?["request_id"]?.stringValue == tooLarge.header("request-id"))
            let chatTooLarge = try await h.request(
                "POST", "/v1/chat/completions",
                body: #"{"model":"via-openai","messages":[{"role":"user","content":"\#(big)"}]}"#)
            #expect(chatTooLarge.head.status == 413 && chatTooLarge.json?["error"]?["code"] == "request_too_large")

            let get = try await h.request("GET", "/v1/messages")
            #expect(get.head.status == 405 && get.json?["error"]?["type"] == "invalid_request_error")
            let unknown = try await h.request("POST", "/v1/messages/batches", body: "{}")
            #expect(unknown.head.status == 404 && unknown.json?["error"]?["type"] == "not_found_error")
            let invalid = try await h.request("POST", "/v1/messages", body: #"{"model":"via-openai","messages":[]}"#)
            #expect(
                invalid.head.status == 400
                    && invalid.json?["error"]?["message"]?.stringValue?.contains("max_tokens") == true)
            let server = try await h.request(
                "POST", "/v1/messages",
                body: Self.body(
                    "via-gemini", "hi", extra: #","tools":[{"type":"web_search_20250305","name":"web_search"}]"#))
            #expect(
                server.head.status == 400
                    && server.json?["error"]?["message"]?.stringValue?.contains("tools[0]") == true)
        }
    }

    /// An upstream's failure reaches a Messages client with the status and `error.type` the
    /// `anthropic` SDK maps to its exception class (it picks the class by status: 400
    /// `BadRequestError`, 429 `RateLimitError`, 5xx `InternalServerError`), from every target
    /// kind: the upstream's 400 keeps its message (secrets redacted), its 401 is the gateway's 502
    /// that the SDK must not retry, its 429 keeps the wait, a failure after the stream started is
    /// an `error` event, never an OpenAI envelope.
    @Test(arguments: ["openai", "anthropic", "gemini"])
    func upstreamFailuresKeepAnthropicsErrorTypes(_ kind: String) async throws {
        let retry =
            "retry: {attempts_per_target: 1, initial_backoff_ms: 1, max_backoff_ms: 5, multiplier: 2}\n"
            + "circuit_breaker: {failure_threshold: 1000}"
        try await withGateway(
            models: Self.everyKind, retry: retry,
            script: { _, r in
                let key =
                    r.headers.value(for: "x-api-key") ?? r.headers.value(for: "x-goog-api-key")
                    ?? String(r.headers.value(for: "authorization")?.dropFirst("Bearer ".count) ?? "")
                // Gemini names a bad key by its `API_KEY_INVALID` reason (its status is a 400).
                if MockProviderKind(path: r.path) == .gemini, r.bodyText.contains("scenario:badkey ") {
                    let info: JSON = ["@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"]
                    return .json(
                        status: 400,
                        [
                            "error": [
                                "code": 400, "message": .string("API key not valid: \(key)"),
                                "status": "INVALID_ARGUMENT", "details": [info],
                            ]
                        ])
                }
                var response = EchoingUpstream.respond(r, key: key)
                if r.bodyText.contains("scenario:429 ") { response.headers.append(HeaderField("Retry-After", "7")) }
                return response
            }
        ) { h, _ in
            func send(_ scenario: String, stream: Bool = false) async throws -> UpstreamResponse {
                try await h.request(
                    "POST", "/v1/messages",
                    body: Self.body("via-\(kind)", "scenario:\(scenario) please", stream: stream))
            }
            func expectError(_ r: UpstreamResponse, _ status: Int, _ type: String) {
                #expect(r.head.status == status, "\(kind): \(r.text)")
                #expect(
                    r.json?["type"] == "error" && r.json?["error"]?["type"]?.stringValue == type, "\(kind): \(r.text)")
                #expect(r.header("request-id") != nil && r.json?["error"]?["code"] == nil)
                #expect(r.json?["request_id"]?.stringValue == r.header("request-id"))
            }
            let bad = try await send("400")
            expectError(bad, 400, "invalid_request_error")
            #expect(bad.json?["error"]?["message"]?.stringValue?.contains("the key you sent is [REDACTED]") == true)
            let key = try await send("badkey")
            expectError(key, 502, "api_error")
            #expect(key.header("x-should-retry") == "false")
            expectError(try await send("500"), 502, "api_error")
            let streamed = try await send("streamerror", stream: true)
            #expect(streamed.head.status == 200)
            let events = Self.events(streamed)
            #expect(events.first?.0 == "message_start" && events.last?.0 == "error", "\(events.map(\.0))")
            #expect(events.last?.1["error"]?["type"] == "api_error")
            #expect(!events.contains { $0.0 == "message_stop" })
            // Last: the wait the 429 names also benches the target for that long.
            let limited = try await send("429")
            expectError(limited, 429, "rate_limit_error")
            #expect(limited.header("retry-after") == "7")
        }
    }

    /// An idempotent streamed request is replayed as Anthropic events that accumulate to the same
    /// message, with no second upstream call.
    @Test func idempotentStreamIsReplayedAsAnthropicEvents() async throws {
        try await withGateway { h, mock in
            let key = [HeaderField("Idempotency-Key", "k-\(UInt64.random(in: 0...UInt64.max))")]
            let body = Self.body("via-anthropic", "once", stream: true)
            let first = try await h.request("POST", "/v1/messages", body: body, headers: key)
            let second = try await h.request("POST", "/v1/messages", body: body, headers: key)
            #expect(second.header("x-switchyard-replayed") == "true" && second.header("request-id") != nil)
            #expect(mock.requests.count == 1)
            #expect(Self.text(Self.events(second)) == Self.text(Self.events(first)))
            #expect(Self.events(second).last?.0 == "message_stop")
            let reused = try await h.request(
                "POST", "/v1/messages", body: Self.body("via-anthropic", "other"), headers: key)
            #expect(reused.head.status == 422 && reused.json?["type"] == "error")
        }
    }
}
