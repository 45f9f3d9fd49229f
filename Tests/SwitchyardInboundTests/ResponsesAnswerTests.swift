import SwitchyardCore
import SwitchyardInbound
import SwitchyardProviders
import Testing

/// Non-streaming answers and stored conversations.
@Suite struct ResponsesAnswerTests {
    static func context(_ body: String, id: String = "resp_abc") throws -> AnswerContext {
        let request = try ResponsesRequest.parse(body: Array(body.utf8))
        return AnswerContext(request: request, id: id, created: 1_700_000_002, model: "claude-3-5-haiku-latest")
    }

    /// A translated answer: envelope, the request's parameters echoed with OpenAI's defaults,
    /// a message then one function_call per tool call, usage with its detail objects.
    @Test func translatedAnswerIsAResponseObject() throws {
        let ctx = try Self.context(
            #"{"model":"smart","input":"hi","instructions":"Be brief.","temperature":0.2,"metadata":{"k":"v"},"tools":[{"type":"function","name":"f"}],"store":false}"#
        )
        let answer = ChatResponse(
            id: "ignored", created: 1, model: "claude-3-5-haiku-latest",
            choices: [
                ChatChoice(
                    index: 0, content: "Let me look.", toolCalls: [ToolCall(id: "toolu_1", name: "f", arguments: "{}")],
                    finishReason: .toolCalls)
            ], usage: Usage(promptTokens: 10, completionTokens: 5, cachedTokens: 2))
        let body = ResponsesFormat().encodeResponse(answer, passthrough: nil, context: ctx)
        InboundFixtures.expectGolden(String(decoding: body, as: UTF8.self) + "\n", "answers/translated.json")
    }

    @Test func lengthStopIsIncompleteWithItsReason() throws {
        let ctx = try Self.context(#"{"model":"smart","input":"hi"}"#)
        let answer = ChatResponse(
            id: "x", created: 1, model: "m", choices: [ChatChoice(index: 0, content: "Trunc", finishReason: .length)],
            usage: nil)
        let o = ResponsesFormat.object(answer, context: ctx)
        #expect(o["status"] == "incomplete")
        #expect(o["incomplete_details"] == ["reason": "max_output_tokens"])
        #expect(o["completed_at"] == .null)
    }

    @Test func passthroughBytesAreReturnedUnchanged() throws {
        let ctx = try Self.context(#"{"model":"smart","input":"hi"}"#)
        let upstream = Array(#"{"id":"resp_up","object":"response","output":[],"x_new_field":1}"#.utf8)
        let answer = ChatResponse(id: "", created: 0, model: "", choices: [], usage: nil)
        #expect(ResponsesFormat().encodeResponse(answer, passthrough: upstream, context: ctx) == upstream)
    }

    // MARK: Stored conversations

    static let history: [JSON] = [
        [
            "id": "in_1_0", "type": "message", "role": "user", "status": "completed",
            "content": [["type": "input_text", "text": "Weather in Paris?"]],
        ],
        ["id": "rs_1", "type": "reasoning", "summary": [], "encrypted_content": "gAAA"],
        [
            "id": "ws_1", "type": "web_search_call", "status": "completed",
            "action": ["type": "search", "query": "paris"],
        ],
        [
            "id": "fc_1", "type": "function_call", "status": "completed", "call_id": "call_a", "name": "get_weather",
            "arguments": #"{"city":"Paris"}"#,
        ],
        ["id": "in_2_0", "type": "function_call_output", "status": "completed", "call_id": "call_a", "output": "18 C"],
        [
            "id": "msg_2", "type": "message", "role": "assistant", "status": "completed",
            "content": [["type": "output_text", "text": "It is 18 C.", "annotations": []]],
        ],
    ]

    /// A continuation's typed messages (for a translating target: reasoning and built-in tool items
    /// left out) and its body (for a native one: the history as input, ids and statuses dropped, an
    /// assistant turn in the plain form, `previous_response_id` gone, this turn's input last).
    @Test func historyIsFoldedIntoTheNextRequest() throws {
        let request = try ResponsesRequest.parse(
            body: Array(
                #"{"model":"smart","instructions":"Be brief.","previous_response_id":"resp_2","input":"And Rome?"}"#
                    .utf8))
        let expanded = try ResponsesConversation.expand(request, history: Self.history)
        #expect(expanded.untranslatable.isEmpty, "history items a target cannot take are left out, not refused")
        #expect(expanded.raw["previous_response_id"] == nil)
        let chat = OpenAIChatEncoder.body(expanded, model: "m")
        InboundFixtures.expectGolden(
            InboundFixtures.line(chat["messages"] ?? .null) + InboundFixtures.line(expanded.raw["input"] ?? .null),
            "answers/expanded_history.txt")
    }

    @Test func storedInputIsNormalisedWithIds() throws {
        let request = try ResponsesRequest.parse(
            body: Array(
                #"{"model":"m","input":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"},{"type":"function_call_output","call_id":"c","output":"x"}]}"#
                    .utf8))
        let items = ResponsesConversation.storedInput(of: request, responseID: "resp_9")
        #expect(
            items == [
                [
                    "id": "msg_in_9_0", "type": "message", "role": "user",
                    "content": [["type": "input_text", "text": "hi"]],
                    "status": "completed",
                ],
                [
                    "id": "msg_in_9_1", "type": "message", "role": "assistant",
                    "content": [["type": "output_text", "text": "hello", "annotations": [], "logprobs": []]],
                    "status": "completed",
                ],
                [
                    "id": "item_in_9_2", "type": "function_call_output", "call_id": "c", "output": "x",
                    "status": "completed",
                ],
            ])
    }
}
