import FoundationEssentials
import SwitchyardCore
import SwitchyardGateway
import SwitchyardTestSupport
import SwitchyardUpstream
import Synchronization
import Testing

/// Mid-stream recovery end to end: a real gateway, mock upstreams that break their streams,
/// and an Anthropic mock that continues a prefilled assistant turn.
@Suite struct RecoveryTests {
    static let answer = "Hello from the mock: one two three four five"
    static let question = #"{"role":"user","content":"one two three four five"}"#

    /// Runs `body` against a gateway whose mock upstream answers request n with `script(n, r)`.
    func withGateway(
        models: String, extraProviders: (Int) -> String = { _ in "" },
        script: @escaping @Sendable (Int, RecordedRequest) -> MockResponse,
        _ body: (GatewayHarness, MockHTTPServer) async throws -> Void
    ) async throws {
        try await GatewayHarness.withScriptedUpstream(
            yaml: { yaml(mock: $0, models: models, extraProviders: extraProviders($0.port)) }, script: script, body)
    }

    func streamBody(usage: Bool = true, extra: String = "") -> String {
        let u = usage ? #","stream_options":{"include_usage":true}"# : ""
        return #"{"model":"m","stream":true\#(u),"messages":[\#(Self.question)]\#(extra)}"#
    }

    @Test(arguments: [MockLLM.StreamBreak.cut, .stall])
    func brokenAnthropicStreamIsContinuedToTheCompleteAnswer(_ kind: MockLLM.StreamBreak) async throws {
        let llm = MockLLM()
        // Events: message_start, content_block_start, ping, "Hello ", "from " — then the break.
        try await withGateway(
            models: "  - {name: m, targets: [{provider: claude, model: claude-x}]}",
            extraProviders: fastAnthropic(port:),
            script: { n, r in n == 1 ? llm.respond(r, breakingAfter: 5, kind) : llm.respond(r) }
        ) { h, mock in
            let r = try await h.chat(streamBody())
            #expect(r.head.status == 200)
            let s = ClientStream(r.text)
            s.expectWholeAnswer(Self.answer)
            #expect(Set(s.ids).count == 1)
            // Usage counts both upstream calls: the broken one (from its message_start) and the continuation.
            let requests = mock.requests
            #expect(requests.count == 2)
            let prompts = requests.map { max(1, ((try? JSON.parse($0.body))?.serialized().count ?? 0) / 4) }
            #expect(s.usage?["prompt_tokens"]?.intValue == prompts.reduce(0, +))
            // The continuation carried the delivered text as a prefill, trailing space held back.
            let messages = try JSON.parse(requests[1].body)["messages"]?.arrayValue ?? []
            #expect(messages.last?["role"] == "assistant")
            let prefill = messages.last?["content"]
            #expect(
                prefill?.stringValue ?? prefill?.arrayValue?.compactMap { $0["text"]?.stringValue }.joined()
                    == "Hello from")
            let metrics = try await h.request("GET", "/metrics", key: nil)
            #expect(metrics.text.contains(#"switchyard_continuations_total{from="claude",to="claude",outcome="ok"} 1"#))
            #expect(h.logs.captured.contains("continuations"))
        }
    }

    @Test func prefillRejectionEndsWithTheOriginalFailure() async throws {
        let llm = MockLLM()
        try await withGateway(
            models: "  - {name: m, targets: [{provider: anthropic, model: claude-x}]}",
            script: { n, r in
                if MockLLM.hasPrefill(r) { return MockLLM.prefillRejected }
                return llm.respond(r, breakingAfter: 6, .cut)
            }
        ) { h, mock in
            let r = try await h.chat(streamBody())
            let s = ClientStream(r.text)
            #expect(s.error?["code"] == "upstream_stream_truncated")
            #expect(Self.answer.hasPrefix(s.text))
            #expect(s.text == "Hello from the ")
            #expect(!s.containsDone)
            #expect(mock.requests.count == 2)
            // The target is now known not to continue: the next broken stream makes no second call.
            let again = ClientStream(try await h.chat(streamBody()).text)
            #expect(again.error?["code"] == "upstream_stream_truncated")
            #expect(mock.requests.count == 3)
            let metrics = try await h.request("GET", "/metrics", key: nil)
            #expect(metrics.text.contains(#"outcome="rejected""#))
            #expect(metrics.text.contains(#"outcome="unavailable""#))
        }
    }

    @Test func toolCallInProgressIsNotContinued() async throws {
        let llm = MockLLM()
        let tools = #","tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}]"#
        try await withGateway(
            models: "  - {name: m, targets: [{provider: anthropic, model: claude-x}]}",
            script: { _, r in llm.respond(r, breakingAfter: 3, .cut) }
        ) { h, mock in
            let s = ClientStream(try await h.chat(streamBody(extra: tools)).text)
            #expect(s.error?["code"] == "upstream_stream_truncated")
            #expect(s.toolCallChunks > 0)
            #expect(mock.requests.count == 1)
        }
    }

    @Test func openAIPassthroughIsContinuedOnAnthropicInTheOriginalEnvelope() async throws {
        let llm = MockLLM()
        try await withGateway(
            models:
                "  - {name: m, targets: [{provider: openai, model: gpt-x, priority: 1}, {provider: anthropic, model: claude-x, priority: 2}]}",
            script: { _, r in
                MockProviderKind(path: r.path) == .openai ? llm.respond(r, breakingAfter: 3, .cut) : llm.respond(r)
            }
        ) { h, _ in
            let s = ClientStream(try await h.chat(streamBody()).text)
            #expect(s.error == nil)
            #expect(s.text == Self.answer)
            #expect(s.containsDone)
            #expect(Set(s.ids) == ["chatcmpl-mock"])
            #expect(Set(s.created).count == 1)
            #expect(s.models.first == "gpt-x")
            #expect(s.models.last == "claude-x")
            #expect(s.finishReasons == ["stop"])
            #expect(s.usage != nil)
        }
    }

    @Test func bufferedStreamRestartsOnTheNextTargetWithoutPartialText() async throws {
        let llm = MockLLM()
        try await withGateway(
            models:
                "  - {name: m, stream_mode: buffered, targets: [{provider: openai, model: gpt-x, priority: 1}, {provider: gemini, model: gemini-x, priority: 2}]}",
            script: { _, r in
                MockProviderKind(path: r.path) == .openai ? llm.respond(r, breakingAfter: 4, .cut) : llm.respond(r)
            }
        ) { h, mock in
            let r = try await h.chat(streamBody())
            #expect(r.head.status == 200)
            let s = ClientStream(r.text)
            s.expectWholeAnswer(Self.answer)
            #expect(Set(s.models) == ["gemini-x"])
            #expect(mock.requests.map { MockProviderKind(path: $0.path) } == [.openai, .gemini])
        }
    }

    /// A buffered model whose stream is cut mid-answer, with one fallback that refuses a prefill:
    /// nothing reached the client, so the request restarts there as it was (no prefill), and the
    /// client sees one whole answer.
    @Test(arguments: [4, 7])
    func bufferedStreamIsRescuedWhenTheOnlyFallbackCannotContinue(cutAfter: Int) async throws {
        let llm = MockLLM()
        try await withGateway(
            models:
                "  - {name: m, stream_mode: buffered, targets: [{provider: openai, model: gpt-x, priority: 1}, {provider: anthropic, model: claude-x, priority: 2}]}",
            script: { _, r in
                if MockProviderKind(path: r.path) == .openai { return llm.respond(r, breakingAfter: cutAfter, .cut) }
                return MockLLM.hasPrefill(r) ? MockLLM.prefillRejected : llm.respond(r)
            }
        ) { h, mock in
            let r = try await h.chat(streamBody())
            #expect(r.head.status == 200)
            let s = ClientStream(r.text)
            s.expectWholeAnswer(Self.answer)
            #expect(s.endsWithDone)
            #expect(Set(s.models) == ["claude-x"])
            #expect(s.usage != nil)
            #expect(mock.requests.map { MockProviderKind(path: $0.path) } == [.openai, .anthropic])
            #expect(!MockLLM.hasPrefill(mock.requests[1]))
            let metrics = try await h.request("GET", "/metrics", key: nil)
            #expect(
                metrics.text.contains(
                    #"switchyard_continuations_total{from="openai",to="anthropic",outcome="restart_ok"} 1"#))
        }
    }

    func fastAnthropic(port: Int) -> String {
        "  - {name: claude, kind: anthropic, base_url: \"http://127.0.0.1:\(port)\", api_key_env: TEST_PROVIDER_KEY, idle_timeout_ms: 300}"
    }
}

@Suite struct ConfigRecoveryTests {
    func load(_ models: String) -> Result<SwitchyardConfig, any Error> {
        Result {
            try ConfigLoader.parse(
                yaml: """
                    providers:
                      - {name: o, kind: openai, api_key_env: K}
                      - {name: az, kind: openai, base_url: "https://team.openai.azure.com/openai", api_key_env: K}
                      - {name: local, kind: openai, base_url: "http://127.0.0.1:8000/v1", api_key_env: K}
                      - {name: a, kind: anthropic, api_key_env: K}
                      - {name: g, kind: gemini, api_key_env: K}
                    models:
                    \(models)
                    """)
        }
    }

    @Test func keysDecodeWithDefaults() throws {
        let c = try load(
            """
              - {name: x, stream_mode: buffered, targets: [{provider: a, model: m, continuation: none}, {provider: g, model: m, continuation: prefill}]}
              - {name: y, targets: [{provider: o, model: m}]}
              - {name: z, targets: [{provider: local, model: m, continuation: prefill}, {provider: local, model: n, continuation: continue_final_message}, {provider: local, model: o, continuation: prefix}]}
            """
        ).get()
        #expect(c.models[0].streamMode == .buffered)
        #expect(c.models[0].targets.map(\.continuation) == [.unsupported, .prefill])
        #expect(c.models[1].streamMode == .incremental)
        #expect(c.models[1].targets[0].continuation == nil)
        #expect(c.models[2].targets.map(\.continuation) == [.prefill, .continueFinalMessage, .prefix])
    }

    @Test(arguments: [
        (
            "  - {name: x, stream_mode: atomic, targets: [{provider: a, model: m}]}",
            "models[0].stream_mode: unknown value"
        ),
        (
            "  - {name: x, targets: [{provider: a, model: m, continuation: yes}]}",
            "models[0].targets[0].continuation: unknown value"
        ),
        (
            "  - {name: x, targets: [{provider: o, model: m, continuation: prefill}]}",
            "models[0].targets[0].continuation: api.openai.com does not continue a final assistant message; use none"
        ),
        (
            "  - {name: x, targets: [{provider: az, model: m, continuation: prefix}]}",
            "team.openai.azure.com does not continue a final assistant message"
        ),
        (
            "  - {name: x, targets: [{provider: a, model: m, continuation: continue_final_message}]}",
            "continue_final_message is a flag of OpenAI-compatible servers; anthropic targets continue with prefill"
        ),
        (
            "  - {name: x, targets: [{provider: g, model: m, continuation: prefix}]}",
            "prefix is a flag of OpenAI-compatible servers"
        ),
        ("  - {name: x, targets: [{provider: a, model: m, continuaton: none}]}", "unknown key"),
    ])
    func badValuesAreRejectedWithTheirPath(models: String, problem: String) {
        guard case .failure(let e) = load(models) else {
            Issue.record("expected a configuration error")
            return
        }
        #expect("\(e)".contains(problem))
    }
}
