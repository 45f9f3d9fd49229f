import SwitchyardCore
import SwitchyardProviders
import Testing

extension GeminiTests {
    /// OpenAI request → Gemini body golden files (docs/translation.md §1–§5).
    @Suite struct GeminiRequestTests {
        let codec = GeminiCodec()

        @Test(arguments: [
            "worked_example", "parameters", "stop_string_n1", "system_developer", "merge_turns", "tool_loop_parallel",
            "thought_signatures", "tool_history_without_tools", "content_parts", "schema_clean", "allowed_tools_auto",
            "response_format_json_schema", "response_format_json_object",
        ])
        func golden(_ name: String) throws {
            let request = try GeminiFixture.request("requests/\(name).openai.json")
            let encoded = try codec.encode(request, for: GeminiFixture.target)
            expectJSON(try JSON.parse(encoded.body), try GeminiFixture.json("requests/\(name).gemini.json"))
        }

        /// The worked example of docs/translation.md §2.2, byte for byte (key order included).
        @Test func workedExampleExactBytes() throws {
            let request = try GeminiFixture.request("requests/worked_example.openai.json")
            let encoded = try codec.encode(request, for: GeminiFixture.target)
            let expected = try GeminiFixture.json("requests/worked_example.gemini.json").serializedString()
            #expect(String(decoding: encoded.body, as: UTF8.self) == expected)
        }

        @Test func nonStreamingEndpoint() throws {
            let request = try GeminiFixture.request("requests/worked_example.openai.json")
            let encoded = try codec.encode(request, for: GeminiFixture.target)
            #expect(encoded.path == "/v1beta/models/gemini-2.5-flash:generateContent")
            #expect(encoded.query == "")
            #expect(encoded.headers == [HeaderField("Content-Type", "application/json")])
        }

        @Test func streamingEndpoint() throws {
            let request = try ChatRequest.parse(
                body: Array(#"{"model":"m","stream":true,"messages":[{"role":"user","content":"Hi"}]}"#.utf8))
            let target = TargetContext(providerName: "gemini", upstreamModel: "models/gemini-2.0-flash")
            let encoded = try codec.encode(request, for: target)
            #expect(encoded.path == "/v1beta/models/gemini-2.0-flash:streamGenerateContent")
            #expect(encoded.query == "alt=sse")
        }

        @Test func authAndHealth() {
            #expect(codec.authHeaders(apiKey: "k-123") == [HeaderField("x-goog-api-key", "k-123")])
            #expect(codec.healthPath == "/v1beta/models")
            #expect(codec.kind == .gemini)
        }

        @Test func droppedParametersAreReported() throws {
            let request = try GeminiFixture.request("requests/parameters.openai.json")
            #expect(
                GeminiCodec.droppedParameters(request) == [
                    "user", "safety_identifier", "parallel_tool_calls", "reasoning_effort", "metadata", "store",
                    "service_tier",
                ])
        }

        /// The tool_choice table of docs/translation.md §3.
        @Test(arguments: [
            (#""auto""#, #"{"functionCallingConfig":{"mode":"AUTO"}}"#, ["a", "b"]),
            (#""none""#, #"{"functionCallingConfig":{"mode":"NONE"}}"#, ["a", "b"]),
            (#""required""#, #"{"functionCallingConfig":{"mode":"ANY"}}"#, ["a", "b"]),
            (
                #"{"type":"function","function":{"name":"b"}}"#,
                #"{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["b"]}}"#, ["a", "b"]
            ),
            (
                #"{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[{"type":"function","function":{"name":"b"}}]}}"#,
                #"{"functionCallingConfig":{"mode":"AUTO"}}"#, ["b"]
            ),
            (
                #"{"type":"allowed_tools","allowed_tools":{"mode":"required","tools":[{"type":"function","function":{"name":"a"}}]}}"#,
                #"{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["a"]}}"#, ["a", "b"]
            ),
        ])
        func toolChoice(_ choice: String, _ expected: String, _ declared: [String]) throws {
            let body =
                #"{"model":"m","messages":[{"role":"user","content":"Hi"}],"#
                + #""tools":[{"type":"function","function":{"name":"a"}},{"type":"function","function":{"name":"b"}}],"#
                + #""tool_choice":\#(choice)}"#
            let encoded = try codec.encode(try ChatRequest.parse(body: Array(body.utf8)), for: GeminiFixture.target)
            let json = try JSON.parse(encoded.body)
            expectJSON(try #require(json["toolConfig"]), try JSON.parse(expected))
            let names = json["tools"]?[0]?["functionDeclarations"]?.arrayValue?.compactMap { $0["name"]?.stringValue }
            #expect(names == declared)
        }

        @Test func noToolChoiceNoToolConfig() throws {
            let body =
                #"{"model":"m","messages":[{"role":"user","content":"Hi"}],"tools":[{"type":"function","function":{"name":"a"}}]}"#
            let json = try JSON.parse(
                try codec.encode(try ChatRequest.parse(body: Array(body.utf8)), for: GeminiFixture.target).body)
            #expect(json["toolConfig"] == nil)
            #expect(json["tools"] != nil)
        }
    }
}

extension JSON {
    fileprivate subscript(index: Int) -> JSON? {
        guard let a = arrayValue, index < a.count else { return nil }
        return a[index]
    }
}
