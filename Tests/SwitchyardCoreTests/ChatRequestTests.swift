import Testing

@testable import SwitchyardCore

@Suite struct ChatRequestTests {
    func parse(_ text: String) throws(APIError) -> ChatRequest { try ChatRequest.parse(body: Array(text.utf8)) }

    func expectError(_ text: String, status: Int = 400, param: String?, code: String? = nil) {
        do {
            _ = try parse(text)
            Issue.record("expected an error for \(text)")
        } catch {
            #expect(error.status == status)
            #expect(error.param == param)
            if let code { #expect(error.code == code) }
            #expect(error.type == "invalid_request_error")
        }
    }

    @Test func parsesTypedFieldsAndKeepsRaw() throws {
        let r = try parse(
            #"{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":5,"max_completion_tokens":9,"temperature":0.5,"stop":"END","stream":true,"stream_options":{"include_usage":true},"x_unknown":{"k":1}}"#
        )
        #expect(r.model == "m")
        #expect(r.maxTokens == 9)
        #expect(r.temperature == 0.5)
        #expect(r.stop == ["END"])
        #expect(r.stream && r.includeUsage)
        #expect(r.raw["x_unknown"] == ["k": 1])
        #expect(r.messages[0].content == .text("hi"))
    }

    @Test func parsesToolsPartsAndCalls() throws {
        let r = try parse(
            #"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AA","detail":"low"}}]},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c1","content":"r"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":{"type":"function","function":{"name":"f"}},"response_format":{"type":"json_object"}}"#
        )
        #expect(
            r.messages[0].content == .parts([.text("a"), .imageURL(url: "data:image/png;base64,AA", detail: "low")]))
        #expect(r.messages[1].toolCalls == [ToolCall(id: "c1", name: "f", arguments: "{}")])
        #expect(r.messages[2].toolCallID == "c1")
        #expect(r.tools.first?.name == "f")
        #expect(r.toolChoice == .function("f"))
        #expect(r.responseFormat == .jsonObject)
    }

    @Test func malformedJSON() { expectError("{not json", param: nil, code: "invalid_json") }
    @Test func notAnObject() { expectError("[]", param: nil, code: "invalid_json") }
    @Test func missingModel() { expectError(#"{"messages":[{"role":"user","content":"x"}]}"#, param: "model") }
    @Test func missingMessages() { expectError(#"{"model":"m"}"#, param: "messages") }
    @Test func emptyMessages() { expectError(#"{"model":"m","messages":[]}"#, param: "messages") }
    @Test func badRole() {
        expectError(#"{"model":"m","messages":[{"role":"robot","content":"x"}]}"#, param: "messages[0].role")
        // The message names every role the parser accepts.
        do {
            _ = try parse(#"{"model":"m","messages":[{"role":"robot","content":"x"}]}"#)
        } catch {
            for role in ChatRole.allCases { #expect(error.message.contains(role.rawValue), "\(role)") }
        }
    }
    @Test func toolWithoutID() {
        expectError(#"{"model":"m","messages":[{"role":"tool","content":"x"}]}"#, param: "messages[0].tool_call_id")
    }
    @Test func temperatureOutOfRange() {
        expectError(#"{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":3}"#, param: "temperature")
    }
    @Test func wrongTypeNamesPath() {
        expectError(
            #"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":5}]}]}"#,
            param: "messages[0].content[0].text", code: "invalid_type")
    }
    /// A later message's path (built from its index only where an error names it).
    @Test func pathNamesTheMessageIndex() {
        let ok = #"{"role":"user","content":"x"},"#
        expectError(
            #"{"model":"m","messages":["# + String(repeating: ok, count: 12) + #"{"role":"user","content":5}]}"#,
            param: "messages[12].content", code: "invalid_type")
        expectError(
            #"{"model":"m","messages":["# + String(repeating: ok, count: 3)
                + #"{"role":"user","content":[{"type":"x"}]}]}"#,
            param: "messages[3].content[0].type", code: "invalid_value")
    }

    @Test func tooManyStops() {
        expectError(
            #"{"model":"m","messages":[{"role":"user","content":"x"}],"stop":["a","b","c","d","e"]}"#, param: "stop")
    }
    @Test func toolChoiceWithoutTools() {
        expectError(
            #"{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"auto"}"#, param: "tool_choice")
    }
    @Test func badToolName() {
        expectError(
            #"{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"a b"}}]}"#,
            param: "tools[0].function.name")
    }

    @Test func errorEnvelopeHasAllFourKeys() throws {
        let body = APIError.modelNotFound("x").body
        let v = try JSON.parse(body)
        #expect(v["error"]?.objectValue?.keys == ["message", "type", "param", "code"])
        #expect(v["error"]?["code"] == "model_not_found")
    }

    /// `ChatRole(rawValue:)` is written out (most frequent names first): every case's name and
    /// only those, in their exact spelling.
    @Test func everyRoleIsReadByItsNameAndNothingElse() {
        for role in ChatRole.allCases { #expect(ChatRole(rawValue: role.rawValue) == role) }
        for other in ["", "User", "users", "use", "robot", "assistant ", "functio"] {
            #expect(ChatRole(rawValue: other) == nil, "\(other)")
        }
    }

    /// A message's path is written only when an error names it: the error still names the
    /// message, its field and the list index.
    @Test func aMessagesErrorNamesItsPathInFull() {
        let body = #"{"model":"m","messages":[{"role":"user","content":"a"},{"role":"user","name":7,"content":"b"}]}"#
        do {
            _ = try parse(body)
            Issue.record("expected an error")
        } catch {
            #expect(error.param == "messages[1].name")
            #expect(error.message == "Invalid type for 'messages[1].name': expected string, but got number.")
        }
        expectError(#"{"model":"m","messages":["hi"]}"#, param: "messages[0]", code: "invalid_type")
        expectError(#"{"model":"m","messages":[{"content":"x"}]}"#, param: "messages[0].role")
        expectError(
            #"{"model":"m","messages":[{"role":"assistant"}]}"#, param: "messages[0].content",
            code: "missing_required_parameter")
    }
}
