import SwitchyardCore
import SwitchyardProviders
import Testing

extension AnthropicTests {
    /// OpenAI request → Anthropic body, against golden files `requests/<case>.openai.json` →
    /// `requests/<case>.anthropic.json` (docs/translation.md §1–§5), and every reject rule (§9.1).
    @Suite struct RequestTests {
        struct Case: Sendable, CustomTestStringConvertible {
            var name: String
            var target: TargetContext = AnthropicFixtures.target()
            var testDescription: String { name }
        }

        static let cases: [Case] = [
            Case(name: "worked_example"),
            Case(name: "parameters"),
            Case(name: "defaults", target: AnthropicFixtures.target(defaultMaxTokens: 1000)),
            Case(name: "temperature_clamped", target: AnthropicFixtures.target(clampTemperature: true)),
            Case(name: "system_hoisting"),
            Case(name: "tool_loop"),
            Case(name: "assistant_first"),
            Case(name: "prefill_trailing_whitespace"),
            Case(name: "prefill_whitespace_only"),
            Case(name: "tool_history_without_tools"),
            Case(name: "content_parts"),
            Case(name: "tool_choice_required"),
            Case(name: "tool_choice_auto"),
            Case(name: "tool_choice_none"),
            Case(name: "tool_choice_function"),
            Case(name: "parallel_false_no_choice"),
            Case(name: "allowed_tools_required"),
            Case(name: "allowed_tools_auto"),
            Case(name: "structured_outputs", target: AnthropicFixtures.target(structuredOutputs: true)),
            Case(name: "json_object"),
            Case(name: "json_schema_forced_tool"),
        ]

        @Test(arguments: cases)
        func encodesGoldenRequest(_ c: Case) throws {
            let request = try ChatRequest.parse(body: try AnthropicFixtures.bytes("requests/\(c.name).openai.json"))
            let encoded = try AnthropicCodec().encode(request, for: c.target)
            let expected = try AnthropicFixtures.json("requests/\(c.name).anthropic.json")
            let actual = try JSON.parse(encoded.body)
            #expect(
                AnthropicFixtures.canonical(actual) == AnthropicFixtures.canonical(expected),
                "\(c.name):\n got  \(actual)\n want \(expected)")
            #expect(encoded.path == "/v1/messages")
            #expect(encoded.query == "")
            #expect(encoded.headers == [HeaderField("Content-Type", "application/json")])
        }

        @Test func workedExampleKeepsDocumentedKeyOrder() throws {
            let request = try ChatRequest.parse(
                body: try AnthropicFixtures.bytes("requests/worked_example.openai.json"))
            let body = try JSON.parse(try AnthropicCodec().encode(request, for: AnthropicFixtures.target()).body)
            #expect(body.objectValue?.keys == ["model", "max_tokens", "system", "messages", "tools"])
        }

        @Test func authHeaders() {
            #expect(
                AnthropicCodec().authHeaders(apiKey: "sk-ant-x")
                    == [HeaderField("x-api-key", "sk-ant-x"), HeaderField("anthropic-version", "2023-06-01")])
            #expect(AnthropicCodec().kind == .anthropic)
        }

        @Test func temperatureInRangeKeepsItsLiteral() throws {
            let request = try AnthropicFixtures.request(
                #"{"model":"m","temperature":0.30,"messages":[{"role":"user","content":"x"}]}"#)
            let body = try JSON.parse(try AnthropicCodec().encode(request, for: AnthropicFixtures.target()).body)
            #expect(body["temperature"] == .number("0.30"))
        }

        // MARK: Rejections

        struct Reject: Sendable, CustomTestStringConvertible {
            var name: String
            var body: String
            var param: String
            var code: String
            var target: TargetContext = AnthropicFixtures.target()
            var testDescription: String { name }
        }

        static let user = #"{"role":"user","content":"Hi"}"#
        static let weatherTool =
            #"{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{}}}}"#
        static func call(_ id: String, _ args: String = #""{}""#) -> String {
            #"{"role":"assistant","content":null,"tool_calls":[{"id":"\#(id)","type":"function","function":{"name":"get_weather","arguments":\#(args)}}]}"#
        }
        static func tool(_ id: String) -> String { #"{"role":"tool","tool_call_id":"\#(id)","content":"ok"}"# }
        static func messages(_ m: String...) -> String { #"{"model":"m","messages":[\#(m.joined(separator: ","))]}"# }
        static func withUser(_ extra: String) -> String { #"{"model":"m","messages":[\#(user)],\#(extra)}"# }
        static func userParts(_ parts: String) -> String { messages(#"{"role":"user","content":[\#(parts)]}"#) }

        static let rejectCases: [Reject] = [
            Reject(
                name: "temperature above 1", body: withUser(#""temperature":1.5"#), param: "temperature",
                code: "unsupported_value"),
            Reject(name: "n > 1", body: withUser(#""n":2"#), param: "n", code: "unsupported_parameter"),
            Reject(
                name: "logprobs", body: withUser(#""logprobs":true"#), param: "logprobs", code: "unsupported_parameter"),
            Reject(
                name: "top_logprobs", body: withUser(#""top_logprobs":3"#), param: "top_logprobs",
                code: "unsupported_parameter"),
            Reject(
                name: "logit_bias", body: withUser(#""logit_bias":{"50256":-100}"#), param: "logit_bias",
                code: "unsupported_parameter"),
            Reject(
                name: "deprecated functions", body: withUser(#""functions":[{"name":"f"}]"#), param: "functions",
                code: "unsupported_parameter"),
            Reject(
                name: "only system messages", body: messages(#"{"role":"system","content":"x"}"#), param: "messages",
                code: "invalid_value"),
            Reject(
                name: "arguments not JSON", body: messages(user, call("c1", #""{\"city\":""#), tool("c1")),
                param: "messages[1].tool_calls[0].function.arguments", code: "invalid_value"),
            Reject(
                name: "arguments not an object", body: messages(user, call("c1", #""[1,2]""#), tool("c1")),
                param: "messages[1].tool_calls[0].function.arguments", code: "invalid_value"),
            Reject(
                name: "tool call unanswered before user", body: messages(user, call("c1"), user),
                param: "messages[1].tool_calls[0].id", code: "invalid_value"),
            Reject(
                name: "tool call unanswered at end", body: messages(user, call("c1")),
                param: "messages[1].tool_calls[0].id", code: "invalid_value"),
            Reject(
                name: "tool result for unknown id", body: messages(user, call("c1"), tool("c2")),
                param: "messages[2].tool_call_id", code: "invalid_value"),
            Reject(
                name: "tool result answered twice", body: messages(user, call("c1"), tool("c1"), tool("c1")),
                param: "messages[3].tool_call_id", code: "invalid_value"),
            Reject(
                name: "tool result without a call", body: messages(user, tool("c1")), param: "messages[1].tool_call_id",
                code: "invalid_value"),
            Reject(
                name: "image media type",
                body: userParts(#"{"type":"image_url","image_url":{"url":"data:image/bmp;base64,Qk0="}}"#),
                param: "messages[0].content[0].image_url.url", code: "unsupported_value"),
            Reject(
                name: "data URL not base64",
                body: userParts(#"{"type":"image_url","image_url":{"url":"data:image/png,rawbytes"}}"#),
                param: "messages[0].content[0].image_url.url", code: "invalid_value"),
            Reject(
                name: "data URL without data",
                body: userParts(#"{"type":"image_url","image_url":{"url":"data:image/png;base64,"}}"#),
                param: "messages[0].content[0].image_url.url", code: "invalid_value"),
            Reject(
                name: "image URL scheme",
                body: userParts(#"{"type":"image_url","image_url":{"url":"ftp://example.com/a.png"}}"#),
                param: "messages[0].content[0].image_url.url", code: "invalid_value"),
            Reject(
                name: "audio input",
                body: userParts(
                    #"{"type":"text","text":"hi"},{"type":"input_audio","input_audio":{"data":"UklG","format":"wav"}}"#),
                param: "messages[0].content[1]", code: "unsupported_parameter"),
            Reject(
                name: "file by id", body: userParts(#"{"type":"file","file":{"file_id":"file-abc"}}"#),
                param: "messages[0].content[0].file.file_id", code: "unsupported_parameter"),
            Reject(
                name: "non-PDF file",
                body: userParts(
                    #"{"type":"file","file":{"file_data":"data:text/plain;base64,aGk=","filename":"a.txt"}}"#),
                param: "messages[0].content[0].file.file_data", code: "unsupported_value"),
            Reject(
                name: "bare base64 file that is not a PDF",
                body: userParts(#"{"type":"file","file":{"file_data":"aGk=","filename":"a.txt"}}"#),
                param: "messages[0].content[0].file.file_data", code: "unsupported_value"),
            Reject(
                name: "image in system message",
                body: messages(
                    #"{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}"#, user),
                param: "messages[0].content[0].type", code: "invalid_value"),
            Reject(
                name: "function role message", body: messages(user, #"{"role":"function","name":"f","content":"x"}"#),
                param: "messages[1].role", code: "unsupported_value"),
            Reject(
                name: "custom tool", body: withUser(#""tools":[{"type":"custom","custom":{"name":"grammar"}}]"#),
                param: "tools[0]",
                code: "unsupported_parameter"),
            Reject(
                name: "custom tool_choice",
                body: withUser(#""tools":[\#(weatherTool)],"tool_choice":{"type":"custom","custom":{"name":"g"}}"#),
                param: "tool_choice", code: "unsupported_parameter"),
            Reject(
                name: "non-object input schema",
                body: withUser(#""tools":[{"type":"function","function":{"name":"f","parameters":{"type":"array"}}}]"#),
                param: "tools[0].function.parameters", code: "unsupported_value"),
            Reject(
                name: "tool_choice names unknown tool",
                body: withUser(
                    #""tools":[\#(weatherTool)],"tool_choice":{"type":"function","function":{"name":"nope"}}"#),
                param: "tool_choice.function.name", code: "invalid_value"),
            Reject(
                name: "allowed_tools names unknown tool",
                body: withUser(
                    #""tools":[\#(weatherTool)],"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[{"type":"function","function":{"name":"nope"}}]}}"#
                ), param: "tool_choice.allowed_tools.tools[0]", code: "invalid_value"),
            Reject(
                name: "json_object with tools",
                body: withUser(#""tools":[\#(weatherTool)],"response_format":{"type":"json_object"}"#),
                param: "response_format", code: "unsupported_value"),
            Reject(
                name: "json_object with tools, structured outputs",
                body: withUser(#""tools":[\#(weatherTool)],"response_format":{"type":"json_object"}"#),
                param: "response_format",
                code: "unsupported_value", target: AnthropicFixtures.target(structuredOutputs: true)),
            Reject(
                name: "json_schema with tools, no structured outputs",
                body: withUser(
                    #""tools":[\#(weatherTool)],"response_format":{"type":"json_schema","json_schema":{"name":"a","schema":{"type":"object"}}}"#
                ), param: "response_format", code: "unsupported_value"),
            Reject(
                name: "json_schema not an object",
                body: withUser(
                    #""response_format":{"type":"json_schema","json_schema":{"name":"a","schema":{"type":"array"}}}"#),
                param: "response_format.json_schema.schema", code: "unsupported_value"),
        ]

        @Test(arguments: rejectCases)
        func rejectsBeforeCallingUpstream(_ r: Reject) throws {
            let request = try AnthropicFixtures.request(r.body)
            #expect {
                _ = try AnthropicCodec().encode(request, for: r.target)
            } throws: { error in
                guard let e = error as? APIError else { return false }
                return e.status == 400 && e.type == "invalid_request_error" && e.param == r.param && e.code == r.code
                    && !e.message.isEmpty
            }
        }

        @Test func temperatureMessageNamesTheLimit() throws {
            let request = try AnthropicFixtures.request(RequestTests.withUser(#""temperature":1.5"#))
            do {
                _ = try AnthropicCodec().encode(request, for: AnthropicFixtures.target())
                Issue.record("expected a rejection")
            } catch {
                #expect(error.message == "temperature 1.5 is above 1.0, the maximum for anthropic models")
            }
        }
    }
}
