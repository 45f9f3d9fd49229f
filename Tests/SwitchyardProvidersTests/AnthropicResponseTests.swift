import SwitchyardCore
import SwitchyardProviders
import Testing

extension AnthropicTests {
    /// Anthropic `message` → OpenAI `chat.completion` (docs/translation.md §6), against golden files
    /// `responses/<case>.anthropic.json` → `responses/<case>.openai.json`.
    @Suite struct ResponseTests {
        static let plainRequest = #"{"model":"sy-claude","messages":[{"role":"user","content":"Hi"}]}"#
        static let jsonRequest =
            #"{"model":"sy-claude","messages":[{"role":"user","content":"Hi"}],"response_format":{"type":"json_object"}}"#

        static let cases: [(name: String, request: String)] = [
            ("tool_use", plainRequest),
            ("tool_only", plainRequest),
            ("cached_text", plainRequest),
            ("empty_max_tokens", plainRequest),
            ("thinking", plainRequest),
            ("forced_json", jsonRequest),
            ("refusal", plainRequest),
        ]

        @Test(arguments: cases)
        func decodesGoldenResponse(_ name: String, _ requestBody: String) throws {
            let request = try AnthropicFixtures.request(requestBody)
            let decoded = try AnthropicCodec().decodeResponse(
                try AnthropicFixtures.bytes("responses/\(name).anthropic.json"), request: request,
                target: AnthropicFixtures.target(), id: "chatcmpl-test", created: 1_700_000_000)
            #expect(decoded.passthroughBody == nil)
            let actual = decoded.response.json
            let expected = try AnthropicFixtures.json("responses/\(name).openai.json")
            #expect(
                AnthropicFixtures.canonical(actual) == AnthropicFixtures.canonical(expected),
                "\(name):\n got  \(actual)\n want \(expected)")
        }

        static let finishReasons: [(String?, Bool, FinishReason)] = [
            ("end_turn", false, .stop), ("stop_sequence", false, .stop), ("max_tokens", false, .length),
            ("tool_use", false, .toolCalls), ("tool_use", true, .stop),
            ("model_context_window_exceeded", false, .length),
            ("refusal", false, .contentFilter), ("pause_turn", false, .stop), (nil, false, .stop),
            ("brand_new", false, .stop),
        ]

        @Test(arguments: finishReasons)
        func mapsStopReason(_ stopReason: String?, _ forcedJSON: Bool, _ expected: FinishReason) throws {
            var message: JSONObject = ["type": "message", "content": [["type": "text", "text": "x"]]]
            message["stop_reason"] = stopReason.map(JSON.string) ?? .null
            let request = try AnthropicFixtures.request(forcedJSON ? Self.jsonRequest : Self.plainRequest)
            let response = try AnthropicCodec().decodeResponse(
                JSON.object(message).serialized(), request: request, target: AnthropicFixtures.target(), id: "i",
                created: 1
            ).response
            #expect(response.choices.first?.finishReason == expected)
        }

        @Test func missingModelFallsBackToTarget() throws {
            let body = Array(#"{"type":"message","content":[],"stop_reason":"end_turn"}"#.utf8)
            let response = try AnthropicCodec().decodeResponse(
                body, request: try AnthropicFixtures.request(Self.plainRequest), target: AnthropicFixtures.target(),
                id: "i", created: 1
            ).response
            #expect(response.model == AnthropicFixtures.model)
            #expect(response.usage == Usage(promptTokens: 0, completionTokens: 0))
        }

        @Test(arguments: ["not json", #"{"type":"message"}"#, #"[1]"#, ""])
        func malformedBodyIsAnError(_ body: String) throws {
            let request = try AnthropicFixtures.request(Self.plainRequest)
            #expect {
                _ = try AnthropicCodec().decodeResponse(
                    Array(body.utf8), request: request, target: AnthropicFixtures.target(), id: "i", created: 1)
            } throws: { error in
                (error as? ProviderError)?.kind == .malformedResponse && (error as? ProviderError)?.status == 200
            }
        }
    }
}
