import SwitchyardCore
import SwitchyardInbound
import Testing

/// A translated Chat Completions answer is written without an `AnswerContext`
/// (`InboundFormat.encodeResponse(_:)`): the same bytes as with any context; the APIs whose
/// answers need one (Messages, Responses) have no context-free form.
@Suite struct ContextFreeAnswerTests {
    static let responses = [
        ChatResponse(
            id: "chatcmpl-req_1", created: 1_732_550_400, model: "claude-3-5-haiku-latest",
            choices: [ChatChoice(index: 0, content: "benchmark reply", finishReason: .stop)],
            usage: Usage(promptTokens: 32, completionTokens: 2)),
        ChatResponse(
            id: "chatcmpl-req_2", created: 0, model: "gemini-2.0-flash",
            choices: [
                ChatChoice(
                    index: 0, content: nil, toolCalls: [ToolCall(id: "c1", name: "f", arguments: #"{"a":"\n"}"#)],
                    refusal: "no", finishReason: .toolCalls)
            ],
            usage: nil, systemFingerprint: "fp"),
    ]

    @Test func chatCompletionsAnswersWithoutAContextAsWithAny() {
        let contexts = [
            AnswerContext(request: ChatRequest(model: "m", messages: []), id: "other", created: 7, model: "x"),
            AnswerContext(request: ChatRequest(model: "n", messages: []), id: "", created: 0, model: ""),
        ]
        for response in Self.responses {
            let free = ChatCompletionsFormat().encodeResponse(response)
            #expect(free == response.serialized())
            for context in contexts {
                #expect(free == ChatCompletionsFormat().encodeResponse(response, passthrough: nil, context: context))
            }
            #expect(MessagesFormat().encodeResponse(response) == nil)
            #expect(ResponsesFormat().encodeResponse(response) == nil)
        }
    }
}
