import FoundationEssentials
import SwitchyardCore
import SwitchyardTestSupport
import Testing

/// Continuation on OpenAI-compatible servers: an OpenAI stream broken mid-answer is finished by
/// an `openai`-kind target in its declared dialect, and the client sees one whole answer.
extension RecoveryTests {
    struct Dialect: Sendable, CustomTestStringConvertible {
        var config: String
        var server: MockContinuation
        var testDescription: String { config }
    }

    static let dialects = [
        Dialect(config: "prefill", server: .trailingMessage),
        Dialect(config: "continue_final_message", server: .continueFinalMessage),
        Dialect(config: "prefix", server: .prefixFlag(echo: false)),
        Dialect(config: "prefix", server: .prefixFlag(echo: true)),
    ]

    /// `openai` (gpt-x) breaks after "Hello from the "; `compat` (local-x, same mock, another
    /// provider) continues in `continuation`.
    func compatModels(_ continuation: String, buffered: Bool = false) -> String {
        let mode = buffered ? "stream_mode: buffered, " : ""
        return
            "  - {name: m, \(mode)targets: [{provider: openai, model: gpt-x, priority: 1}, {provider: compat, model: local-x, priority: 2, continuation: \(continuation)}]}"
    }

    func compatProvider(port: Int) -> String {
        "  - {name: compat, kind: openai, base_url: \"http://127.0.0.1:\(port)/v1\", api_key_env: TEST_PROVIDER_KEY}"
    }

    static func model(_ r: RecordedRequest) -> String? { (try? JSON.parse(r.body))?["model"]?.stringValue }

    @Test(arguments: dialects)
    func anOpenAICompatibleTargetContinuesInItsDialect(_ d: Dialect) async throws {
        let broken = MockLLM()
        let compat = {
            var llm = MockLLM()
            llm.openAIContinuation = d.server
            return llm
        }()
        try await withGateway(
            models: compatModels(d.config), extraProviders: compatProvider(port:),
            script: { _, r in Self.model(r) == "gpt-x" ? broken.respond(r, breakingAfter: 4, .cut) : compat.respond(r) }
        ) { h, mock in
            let s = ClientStream(try await h.chat(streamBody()).text)
            s.expectWholeAnswer(Self.answer)
            #expect(Set(s.ids) == ["chatcmpl-mock"])
            #expect(s.models.last == "local-x")
            let requests = mock.requests
            #expect(requests.map(Self.model) == ["gpt-x", "local-x"])
            let body = try JSON.parse(requests[1].body)
            let last = body["messages"]?.arrayValue?.last
            #expect(last?["role"] == "assistant")
            #expect(last?["content"] == "Hello from the")  // the trailing space held back
            #expect((body["continue_final_message"] == true) == (d.config == "continue_final_message"))
            #expect((body["add_generation_prompt"] == false) == (d.config == "continue_final_message"))
            #expect((last?["prefix"] == true) == (d.config == "prefix"))
            let metrics = try await h.request("GET", "/metrics", key: nil)
            #expect(metrics.text.contains(#"switchyard_continuations_total{from="openai",to="compat",outcome="ok"} 1"#))
        }
    }

    /// An OpenAI-compatible target that answers the continuation with a 400 is remembered as
    /// unable to continue, and the client gets the original failure, as for Anthropic.
    @Test func aCompatibleTargetRefusingTheContinuationIsRemembered() async throws {
        let llm = MockLLM()
        try await withGateway(
            models: compatModels("prefix"), extraProviders: compatProvider(port:),
            script: { _, r in
                if Self.model(r) == "gpt-x" { return llm.respond(r, breakingAfter: 4, .cut) }
                return .json(
                    status: 400,
                    [
                        "error": [
                            "message": "prefix is not supported", "type": "invalid_request_error", "param": nil,
                            "code": nil,
                        ]
                    ])
            }
        ) { h, mock in
            let s = ClientStream(try await h.chat(streamBody()).text)
            #expect(s.error?["code"] == "upstream_stream_truncated")
            #expect(s.text == "Hello from the ")
            #expect(!s.containsDone)
            #expect(mock.requests.map(Self.model) == ["gpt-x", "local-x"])
            let again = ClientStream(try await h.chat(streamBody()).text)
            #expect(again.error?["code"] == "upstream_stream_truncated")
            #expect(mock.requests.map(Self.model) == ["gpt-x", "local-x", "gpt-x"])
            let metrics = try await h.request("GET", "/metrics", key: nil)
            #expect(
                metrics.text.contains(
                    #"switchyard_continuations_total{from="openai",to="compat",outcome="rejected"} 1"#))
        }
    }

    /// Without a declared dialect an OpenAI-compatible target is not asked to continue: it would
    /// answer the final assistant message with a whole new turn.
    @Test func anUndeclaredOpenAITargetIsNotAskedToContinue() async throws {
        let llm = MockLLM()
        try await withGateway(
            models: compatModels("none"), extraProviders: compatProvider(port:),
            script: { _, r in Self.model(r) == "gpt-x" ? llm.respond(r, breakingAfter: 4, .cut) : llm.respond(r) }
        ) { h, mock in
            let s = ClientStream(try await h.chat(streamBody()).text)
            #expect(s.error?["code"] == "upstream_stream_truncated")
            #expect(s.text == "Hello from the ")
            #expect(mock.requests.map(Self.model) == ["gpt-x"])
        }
    }
}
