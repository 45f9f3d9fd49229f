import SwitchyardCore
import SwitchyardProviders
import Testing

extension GeminiTests {
    /// Every reject rule of docs/translation.md for Gemini: a 400 naming the parameter, before any upstream call.
    @Suite struct GeminiRejectTests {
        struct Case: CustomTestStringConvertible, Sendable {
            var name: String
            var messages: String
            var extra: String = ""
            var param: String
            var code: String
            var testDescription: String { name }
        }

        static let weatherTool = #""tools":[{"type":"function","function":{"name":"get_weather"}}]"#
        static let call =
            #"{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{}"}}]}"#
        static let user = #"{"role":"user","content":"Hi"}"#

        static let cases: [Case] = [
            Case(
                name: "logit_bias", messages: user, extra: #""logit_bias":{"50256":-100}"#, param: "logit_bias",
                code: "unsupported_parameter"),
            Case(
                name: "deprecated functions", messages: user, extra: #""functions":[{"name":"f"}]"#, param: "functions",
                code: "unsupported_parameter"),
            Case(
                name: "unknown tool_call_id",
                messages: "\(user),\(call),{\"role\":\"tool\",\"tool_call_id\":\"call_9\",\"content\":\"x\"}",
                param: "messages[2].tool_call_id", code: "invalid_value"),
            Case(
                name: "tool message without any assistant call",
                messages: "\(user),{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"x\"}",
                param: "messages[1].tool_call_id", code: "invalid_value"),
            Case(
                name: "tool call answered twice",
                messages:
                    "\(user),\(call),{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"x\"},{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"y\"}",
                param: "messages[3].tool_call_id", code: "invalid_value"),
            Case(
                name: "tool call unanswered before next user message", messages: "\(user),\(call),\(user)",
                param: "messages[1].tool_calls", code: "invalid_value"),
            Case(
                name: "tool call unanswered at the end", messages: "\(user),\(call)", param: "messages[1].tool_calls",
                code: "invalid_value"),
            Case(
                name: "invalid arguments JSON",
                messages:
                    #"{"role":"user","content":"Hi"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"a\":"}}]}"#,
                param: "messages[1].tool_calls[0].function.arguments", code: "invalid_value"),
            Case(
                name: "non-object arguments",
                messages:
                    #"{"role":"user","content":"Hi"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"[1]"}}]}"#,
                param: "messages[1].tool_calls[0].function.arguments", code: "invalid_value"),
            Case(
                name: "only system messages", messages: #"{"role":"system","content":"Be brief."}"#, param: "messages",
                code: "invalid_value"),
            Case(
                name: "only empty messages", messages: #"{"role":"user","content":""}"#, param: "messages",
                code: "invalid_value"),
            Case(
                name: "remote image URL",
                messages:
                    #"{"role":"user","content":[{"type":"text","text":"What?"},{"type":"image_url","image_url":{"url":"https://example.com/cat.png"}}]}"#,
                param: "messages[0].content[1].image_url.url", code: "unsupported_value"),
            Case(
                name: "data URL not base64",
                messages:
                    #"{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,iVBOR"}}]}"#,
                param: "messages[0].content[0].image_url.url", code: "invalid_value"),
            Case(
                name: "data URL without comma",
                messages:
                    #"{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64"}}]}"#,
                param: "messages[0].content[0].image_url.url", code: "invalid_value"),
            Case(
                name: "data URL without mime",
                messages: #"{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:;base64,iVBOR"}}]}"#,
                param: "messages[0].content[0].image_url.url", code: "invalid_value"),
            Case(
                name: "other URL scheme",
                messages: #"{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x/y.png"}}]}"#,
                param: "messages[0].content[0].image_url.url", code: "invalid_value"),
            Case(
                name: "audio format",
                messages:
                    #"{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AAAA","format":"flac"}}]}"#,
                param: "messages[0].content[0].input_audio.format", code: "invalid_value"),
            Case(
                name: "file_id",
                messages: #"{"role":"user","content":[{"type":"file","file":{"file_id":"file-abc"}}]}"#,
                param: "messages[0].content[0].file.file_id", code: "unsupported_parameter"),
            Case(
                name: "non-PDF file",
                messages:
                    #"{"role":"user","content":[{"type":"file","file":{"file_data":"data:text/plain;base64,aGk=","filename":"a.txt"}}]}"#,
                param: "messages[0].content[0].file.file_data", code: "unsupported_value"),
            Case(
                name: "bare base64 file that is not a PDF",
                messages:
                    #"{"role":"user","content":[{"type":"file","file":{"file_data":"aGk=","filename":"a.txt"}}]}"#,
                param: "messages[0].content[0].file.file_data", code: "unsupported_value"),
            Case(
                name: "deprecated function role",
                messages: #"{"role":"user","content":"Hi"},{"role":"function","name":"f","content":"x"}"#,
                param: "messages[1].role", code: "unsupported_value"),
            Case(
                name: "tool name starting with a digit", messages: user,
                extra: #""tools":[{"type":"function","function":{"name":"9lives"}}]"#, param: "tools[0].function.name",
                code: "invalid_value"),
            Case(
                name: "tool name starting with a dash", messages: user,
                extra:
                    #""tools":[{"type":"function","function":{"name":"ok"}},{"type":"function","function":{"name":"-x"}}]"#,
                param: "tools[1].function.name", code: "invalid_value"),
            Case(
                name: "custom tool", messages: user,
                extra: #""tools":[{"type":"custom","custom":{"name":"grammar"}}]"#, param: "tools[0].type",
                code: "unsupported_parameter"),
            Case(
                name: "custom tool_choice", messages: user,
                extra: weatherTool + #","tool_choice":{"type":"custom","custom":{"name":"g"}}"#, param: "tool_choice",
                code: "unsupported_parameter"),
            Case(
                name: "tool_choice naming an unknown function", messages: user,
                extra: weatherTool + #","tool_choice":{"type":"function","function":{"name":"nope"}}"#,
                param: "tool_choice.function.name", code: "invalid_value"),
            Case(
                name: "allowed_tools naming an unknown function", messages: user,
                extra: weatherTool
                    + #","tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[{"type":"function","function":{"name":"nope"}}]}}"#,
                param: "tool_choice.allowed_tools.tools", code: "invalid_value"),
            Case(
                name: "recursive schema", messages: user,
                extra:
                    ##""tools":[{"type":"function","function":{"name":"tree","parameters":{"type":"object","properties":{"root":{"$ref":"#/$defs/Node"}},"$defs":{"Node":{"type":"object","properties":{"children":{"type":"array","items":{"$ref":"#/$defs/Node"}}}}}}}}]"##,
                param: "tools[0].function.parameters", code: "unsupported_value"),
            Case(
                name: "unresolvable $ref", messages: user,
                extra:
                    #""tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"a":{"$ref":"https://example.com/s.json"}}}}}]"#,
                param: "tools[0].function.parameters", code: "invalid_value"),
        ]

        @Test(arguments: cases)
        func rejects(_ c: Case) throws {
            var body = #"{"model":"sy-gemini","messages":["# + c.messages + "]"
            if !c.extra.isEmpty { body += "," + c.extra }
            body += "}"
            let request = try ChatRequest.parse(body: Array(body.utf8))
            let error = #expect(throws: APIError.self) { try GeminiCodec().encode(request, for: GeminiFixture.target) }
            #expect(error?.status == 400)
            #expect(error?.type == "invalid_request_error")
            #expect(error?.param == c.param)
            #expect(error?.code == c.code)
            #expect(error?.message.isEmpty == false)
        }

        @Test func remoteImageMessageExplainsWhy() throws {
            let body =
                #"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"http://x/cat.png"}}]}]}"#
            let request = try ChatRequest.parse(body: Array(body.utf8))
            let error = #expect(throws: APIError.self) { try GeminiCodec().encode(request, for: GeminiFixture.target) }
            #expect(error?.message.contains("remote fetch is not enabled") == true)
        }

        /// `ChatRequest.parse` already refuses this; a programmatically built request must be refused too.
        @Test func toolChoiceWithoutTools() {
            var request = ChatRequest(model: "m", messages: [ChatMessage(role: .user, content: .text("Hi"))])
            request.toolChoice = .required
            let error = #expect(throws: APIError.self) { try GeminiCodec().encode(request, for: GeminiFixture.target) }
            #expect(error?.param == "tool_choice")
            #expect(error?.status == 400)
        }

        @Test func deepButFiniteRefsAreInlined() throws {
            // A chain of 3 distinct definitions is fine; only self-reference is refused.
            let body =
                ##"{"model":"m","messages":[{"role":"user","content":"Hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"a":{"$ref":"#/$defs/A"}},"$defs":{"A":{"$ref":"#/$defs/B"},"B":{"$ref":"#/$defs/C"},"C":{"type":"string","const":"x"}}}}}]}"##
            let encoded = try GeminiCodec().encode(
                try ChatRequest.parse(body: Array(body.utf8)), for: GeminiFixture.target)
            let json = try JSON.parse(encoded.body)
            let a = json["tools"]?.arrayValue?.first?["functionDeclarations"]?.arrayValue?.first?["parameters"]?[
                "properties"]?["a"]
            expectJSON(try #require(a), ["type": "string", "enum": ["x"]])
        }
    }
}
