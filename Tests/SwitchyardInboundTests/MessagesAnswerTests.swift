import SwitchyardCore
import SwitchyardInbound
import Testing

/// Non-streaming answers and errors of `/v1/messages`.
@Suite struct MessagesAnswerTests {
    static let context = AnswerContext(
        request: ChatRequest(model: "smart", messages: [], origin: .anthropicMessages), id: "msg_test",
        created: 1_700_000_001, model: "gpt-4o-mini")

    @Test func translatedAnswerIsAMessageObject() {
        let response = ChatResponse(
            id: "chatcmpl-up", created: 1, model: "gpt-4o-mini-2024-07-18",
            choices: [
                ChatChoice(
                    index: 0, content: "Checking.",
                    toolCalls: [
                        ToolCall(id: "call_a", name: "get_weather", arguments: #"{"city":"Paris"}"#),
                        ToolCall(id: "call_b", name: "get_weather", arguments: #"{"city":"Ro"#),
                    ], finishReason: .toolCalls)
            ],
            usage: Usage(promptTokens: 120, completionTokens: 30, cachedTokens: 100))
        let body = MessagesFormat().encodeResponse(response, passthrough: nil, context: Self.context)
        InboundFixtures.expectGolden(
            String(decoding: body, as: UTF8.self) + "\n", "answers/translated.json", root: "messages")
    }

    @Test(arguments: [
        (FinishReason.stop, "end_turn"), (.length, "max_tokens"), (.toolCalls, "tool_use"),
        (.contentFilter, "refusal"),
    ])
    func stopReasons(_ reason: FinishReason, _ expected: String) {
        #expect(MessagesOutput.stopReason(reason) == expected)
    }

    @Test func passthroughIsReturnedAsSent() {
        let upstream = Array(#"{"id":"msg_up","type":"message","content":[],"future":{"a":1.0}}"#.utf8)
        let response = ChatResponse(id: "x", created: 0, model: "m", choices: [], usage: nil)
        #expect(MessagesFormat().encodeResponse(response, passthrough: upstream, context: Self.context) == upstream)
    }

    /// Statuses and types as the `anthropic` SDK maps them to its exception classes.
    @Test(arguments: [
        (APIError.invalidRequest("bad", param: "messages"), 400, "invalid_request_error"),
        (APIError.invalidAPIKey, 401, "authentication_error"),
        (APIError.modelNotFound("x"), 404, "not_found_error"),
        (
            APIError(status: 413, type: "invalid_request_error", code: "request_too_large", message: "big"), 413,
            "request_too_large"
        ),
        (
            APIError(status: 429, type: "rate_limit_error", code: "rate_limit_exceeded", message: "slow"), 429,
            "rate_limit_error"
        ),
        (
            APIError(status: 503, type: "server_error", code: "upstream_overloaded", message: "busy"), 529,
            "overloaded_error"
        ),
        (APIError(status: 503, type: "server_error", code: "upstream_unavailable", message: "down"), 503, "api_error"),
        (APIError(status: 504, type: "server_error", code: "upstream_timeout", message: "slow"), 504, "timeout_error"),
        (
            APIError(status: 502, type: "upstream_error", code: "upstream_auth_failed", message: "creds"), 502,
            "api_error"
        ),
    ])
    func errorsInAnthropicsShape(_ error: APIError, _ status: Int, _ type: String) throws {
        let format = MessagesFormat()
        #expect(format.errorStatus(error) == status)
        let body = try JSON.parse(format.encodeError(error))
        #expect(body["type"] == "error")
        #expect(body["error"]?["type"]?.stringValue == type)
        #expect(body["error"]?["message"]?.stringValue?.contains(error.message) == true)
        #expect(body["error"]?.objectValue?.keys == ["type", "message"])
        #expect(body.objectValue?.keys == ["type", "error"])
        let answered = try JSON.parse(format.encodeError(error, requestID: "req_0a1b"))
        #expect(answered.objectValue?.keys == ["type", "error", "request_id"])
        #expect(answered["request_id"] == "req_0a1b" && answered["error"] == body["error"])
    }

    @Test func answerIDsAndHeaders() {
        let format = MessagesFormat()
        #expect(format.answerID(requestID: "req_0a1b") == "msg_req0a1b")
        #expect(format.responseHeaders(requestID: "req_0a1b").map(\.0) == ["request-id"])
        #expect(format.forwardedHeaderNames == ["anthropic-version", "anthropic-beta"])
    }
}
