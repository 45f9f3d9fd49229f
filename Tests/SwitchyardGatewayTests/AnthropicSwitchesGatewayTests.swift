import SwitchyardCore
import SwitchyardTestSupport
import Testing

/// The configuration's Anthropic switches reach the wire: `structured_outputs` on a target,
/// `clamp_temperature` on a provider (README "Configuration"; docs/translation.md §1, §4).
@Suite struct AnthropicSwitchesGatewayTests {
    static let models = """
          - {name: structured, targets: [{provider: anthropic, model: claude-sonnet-4-5, structured_outputs: true}]}
          - {name: plain, targets: [{provider: anthropic, model: claude-3-5-haiku-latest}]}
          - {name: lenient, targets: [{provider: lenient, model: claude-3-5-haiku-latest}]}
        """

    static func withGateway(_ body: (GatewayHarness, MockHTTPServer) async throws -> Void) async throws {
        let llm = MockLLM()
        let mock = try MockHTTPServer { llm.respond($0) }
        let lenient =
            "  - {name: lenient, kind: anthropic, base_url: \"http://127.0.0.1:\(mock.port)\", api_key_env: TEST_PROVIDER_KEY, clamp_temperature: true}"
        let h = try await GatewayHarness.start(yaml: yaml(mock: mock, models: models, extraProviders: lenient))
        defer {
            h.stop()
            mock.stop()
        }
        try await body(h, mock)
    }

    static func schemaRequest(model: String) -> String {
        #"""
        {"model":"\#(model)","messages":[{"role":"user","content":"Weather in Paris?"}],
         "tools":[{"type":"function","function":{"name":"get_weather","strict":true,
           "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}}}],
         "response_format":{"type":"json_schema","json_schema":{"name":"answer",
           "schema":{"type":"object","properties":{"answer":{"type":"string"}},"required":["answer"],"additionalProperties":false}}}}
        """#
    }

    /// A target flagged for structured outputs gets `json_schema` as `output_config` (with the
    /// client's tools, which keep `strict`); an unflagged one cannot take both and says so.
    @Test func aStructuredOutputsTargetGetsTheSchemaAsOutputConfig() async throws {
        try await Self.withGateway { h, mock in
            let r = try await h.chat(Self.schemaRequest(model: "structured"))
            #expect(r.head.status == 200, "\(r.text)")
            let sent = try #require(mock.requests.last.flatMap { try? JSON.parse($0.bodyText) })
            #expect(sent["output_config"]?["format"]?["type"] == "json_schema")
            #expect(sent["output_config"]?["format"]?["schema"]?["required"] == ["answer"])
            let tool = try #require(sent["tools"]?.arrayValue?.first)
            #expect(tool["name"] == "get_weather")
            #expect(tool["strict"] == true)
            #expect(sent["tool_choice"] == nil)

            let calls = mock.requestCount
            let refused = try await h.chat(Self.schemaRequest(model: "plain"))
            #expect(refused.head.status == 400)
            #expect(refused.json?["error"]?["param"] == "response_format")
            #expect(mock.requestCount == calls)
        }
    }

    /// A provider with `clamp_temperature` sends a temperature above 1 as 1; one without rejects it.
    @Test func aClampingProviderSendsTemperatureOne() async throws {
        try await Self.withGateway { h, mock in
            func body(_ model: String) -> String {
                #"{"model":"\#(model)","temperature":1.5,"messages":[{"role":"user","content":"hi"}]}"#
            }
            let r = try await h.chat(body("lenient"))
            #expect(r.head.status == 200, "\(r.text)")
            let sent = try #require(mock.requests.last.flatMap { try? JSON.parse($0.bodyText) })
            #expect(sent["temperature"]?.doubleValue == 1)

            let refused = try await h.chat(body("plain"))
            #expect(refused.head.status == 400)
            #expect(refused.json?["error"]?["param"] == "temperature")
        }
    }
}
