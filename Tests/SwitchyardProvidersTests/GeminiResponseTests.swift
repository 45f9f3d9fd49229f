import SwitchyardCore
import SwitchyardProviders
import Testing

extension GeminiTests {
    /// Gemini `generateContent` answers → `chat.completion` golden files (docs/translation.md §5, §6).
    @Suite struct GeminiResponseTests {
        let codec = GeminiCodec()
        let request = ChatRequest(model: "sy-gemini", messages: [ChatMessage(role: .user, content: .text("Hi"))])

        func decode(_ body: [UInt8], target: TargetContext = GeminiFixture.target) throws(ProviderError) -> ChatResponse
        {
            try codec.decodeResponse(
                body, request: request, target: target, id: "chatcmpl-test", created: 1_700_000_000
            ).response
        }

        @Test(arguments: [
            "reference_example", "text", "thoughts", "native_ids", "multiple_candidates", "safety_block",
            "prompt_blocked",
            "malformed_function_call", "logprobs",
        ])
        func golden(_ name: String) throws {
            let response = try decode(try GeminiFixture.bytes("responses/\(name).gemini.json"))
            expectJSON(response.json, try GeminiFixture.json("responses/\(name).expected.json"))
        }

        @Test func promptBlockedIsNeverAnEmptyChoiceList() throws {
            let response = try decode(try GeminiFixture.bytes("responses/prompt_blocked.gemini.json"))
            #expect(response.choices.count == 1)
            #expect(response.choices[0].content == nil)
            #expect(response.choices[0].finishReason == .contentFilter)
        }

        @Test func syntheticIDsDependOnSeed() throws {
            let body = try GeminiFixture.bytes("responses/multiple_candidates.gemini.json")
            let a = try decode(body).choices[2].toolCalls.map(\.id)
            let b = try decode(body).choices[2].toolCalls.map(\.id)
            let other = TargetContext(providerName: "gemini", upstreamModel: "gemini-2.5-flash", idSeed: "seed-2")
            let c = try decode(body, target: other).choices[2].toolCalls.map(\.id)
            #expect(a == b)
            #expect(a != c)
            #expect(Set(a).count == 2)
            for id in a + c {
                #expect(id.hasPrefix("call_sy"))
                #expect(id.count == "call_sy".count + 24)
                #expect(
                    id.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 | 0x20 >= 97 && $0 | 0x20 <= 122) || $0 == 95 })
            }
        }

        /// A synthetic id with a signature goes back to Gemini as the signature alone (no `id`).
        @Test func idsRoundTripToGemini() throws {
            let response = try decode(try GeminiFixture.bytes("responses/reference_example.gemini.json"))
            let call = try #require(response.choices.first?.toolCalls.first)
            var next = ChatRequest(
                model: "m",
                messages: [
                    ChatMessage(role: .user, content: .text("Weather?")),
                    ChatMessage(role: .assistant, content: .text("Let me check."), toolCalls: [call]),
                    ChatMessage(role: .tool, content: .text("18 C"), toolCallID: call.id),
                ])
            next.tools = [ToolDefinition(name: "get_weather")]
            let body = try JSON.parse(try codec.encode(next, for: GeminiFixture.target).body)
            let expected: JSON = [
                "contents": [
                    ["role": "user", "parts": [["text": "Weather?"]]],
                    [
                        "role": "model",
                        "parts": [
                            ["text": "Let me check."],
                            [
                                "functionCall": ["name": "get_weather", "args": ["city": "Paris"]],
                                "thoughtSignature": "CiUBcsjafB...",
                            ],
                        ],
                    ],
                    [
                        "role": "user",
                        "parts": [["functionResponse": ["name": "get_weather", "response": ["output": "18 C"]]]],
                    ],
                ],
                "tools": [["functionDeclarations": [["name": "get_weather"]]]],
            ]
            expectJSON(body, expected)
        }

        @Test func modelFallsBackToUpstreamModel() throws {
            let response = try decode(
                Array(#"{"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":"STOP"}]}"#.utf8))
            #expect(response.model == "gemini-2.5-flash")
            #expect(response.usage == nil)
            #expect(response.id == "chatcmpl-test")
            #expect(response.created == 1_700_000_000)
        }

        @Test(arguments: ["not json", #"{"candidates":[]}"#, #"{"usageMetadata":{"promptTokenCount":1}}"#])
        func malformedBodies(_ body: String) {
            let error = #expect(throws: ProviderError.self) { try decode(Array(body.utf8)) }
            #expect(error?.kind == .malformedResponse)
        }

        @Test func errorInsideA200() {
            let body = #"[{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}]"#
            let error = #expect(throws: ProviderError.self) { try decode(Array(body.utf8)) }
            #expect(error?.kind == .overloaded)
        }

        /// The finishReason table of docs/translation.md §6.1, with and without a function call in the candidate.
        @Test(arguments: [
            ("STOP", FinishReason.stop), ("MAX_TOKENS", .length), ("SAFETY", .contentFilter),
            ("RECITATION", .contentFilter),
            ("LANGUAGE", .contentFilter), ("BLOCKLIST", .contentFilter), ("PROHIBITED_CONTENT", .contentFilter),
            ("SPII", .contentFilter), ("IMAGE_SAFETY", .contentFilter), ("IMAGE_PROHIBITED_CONTENT", .contentFilter),
            ("IMAGE_RECITATION", .contentFilter), ("IMAGE_OTHER", .contentFilter), ("NO_IMAGE", .contentFilter),
            ("OTHER", .contentFilter), ("MALFORMED_FUNCTION_CALL", .stop), ("UNEXPECTED_TOOL_CALL", .stop),
            ("TOO_MANY_TOOL_CALLS", .stop), ("FINISH_REASON_UNSPECIFIED", .stop), ("SOMETHING_NEW", .stop),
        ])
        func finishReasons(_ raw: String, _ expected: FinishReason) throws {
            let text = try decode(
                Array(#"{"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":"\#(raw)"}]}"#.utf8))
            #expect(text.choices[0].finishReason == expected)
            let call = try decode(
                Array(
                    #"{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f"}}]},"finishReason":"\#(raw)"}]}"#
                        .utf8))
            #expect(call.choices[0].finishReason == .toolCalls)
        }
    }
}
