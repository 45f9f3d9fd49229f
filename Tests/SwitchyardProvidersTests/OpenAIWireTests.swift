import SwitchyardCore
import SwitchyardProviders
import Testing

/// The OpenAI codec forwards the client's body only to its native API (the passthrough rule of
/// `ProviderCodec`): a Chat Completions request to `/chat/completions`, a Responses request to
/// `/responses` in native mode; anything else is written from the typed fields, with no raw bytes
/// handed back.
@Suite struct OpenAIWireTests {
    static let native = TargetContext(providerName: "openai", upstreamModel: "gpt-4o-mini")
    static let chatMode = TargetContext(providerName: "compat", upstreamModel: "llama", responsesMode: .chat)

    static func responses(_ text: String) throws -> ChatRequest {
        let o = try #require(try JSON.parse(text).objectValue)
        var r = ChatRequest(
            model: o["model"]?.stringValue ?? "", messages: [ChatMessage(role: .user, content: .text("hi"))], raw: o,
            origin: .responses)
        r.stream = o["stream"]?.boolValue ?? false
        return r
    }

    @Test func chatRequestIsForwardedWithOnlyTheModelReplaced() throws {
        let body = #"{"model":"smart","messages":[{"role":"user","content":"hi"}],"x_future":[1,2]}"#
        let request = try ChatRequest.parse(body: Array(body.utf8))
        for target in [Self.native, Self.chatMode] {
            let encoded = try OpenAICodec().encode(request, for: target)
            #expect(encoded.path == "/chat/completions")
            var want = try #require(try JSON.parse(body).objectValue)
            want["model"] = .string(target.upstreamModel)
            #expect(try JSON.parse(encoded.body) == .object(want))
        }
    }

    @Test func nativeResponsesRequestGoesToResponsesUnchanged() throws {
        let body = #"{"model":"smart","input":"hi","stream":true,"tools":[{"type":"web_search"}],"x_future":true}"#
        let request = try Self.responses(body)
        let encoded = try OpenAICodec().encode(request, for: Self.native)
        #expect(encoded.path == "/responses")
        var want = try #require(try JSON.parse(body).objectValue)
        want["model"] = "gpt-4o-mini"
        #expect(
            try JSON.parse(encoded.body) == .object(want), "no stream_options added: Responses streams report usage")
    }

    @Test func responsesRequestForAChatModeTargetIsTranslated() throws {
        let request = try Self.responses(#"{"model":"smart","input":"hi","stream":true,"x_future":true}"#)
        let encoded = try OpenAICodec().encode(request, for: Self.chatMode)
        #expect(encoded.path == "/chat/completions")
        #expect(
            try JSON.parse(encoded.body)
                == [
                    "model": "llama", "messages": [["role": "user", "content": "hi"]], "stream": true,
                    "stream_options": ["include_usage": true],
                ])
    }

    @Test func anthropicMessagesOriginIsAlwaysTranslated() throws {
        var request = ChatRequest(
            model: "m", messages: [ChatMessage(role: .user, content: .text("hi"))],
            raw: ["model": "m", "max_tokens": 5, "messages": [], "system": "x"], origin: .anthropicMessages)
        request.maxTokens = 5
        let encoded = try OpenAICodec().encode(request, for: Self.native)
        #expect(encoded.path == "/chat/completions")
        #expect(try JSON.parse(encoded.body)["max_completion_tokens"] == 5)
        #expect(try JSON.parse(encoded.body)["system"] == nil)
    }

    @Test func onlyANativeWireHandsBackUpstreamBytes() throws {
        let chatAnswer = Array(
            #"{"id":"c1","object":"chat.completion","created":1,"model":"llama","choices":[{"index":0,"message":{"role":"assistant","content":"yo","refusal":"no"},"finish_reason":"stop"}]}"#
                .utf8)
        let chat = try ChatRequest.parse(
            body: Array(#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#.utf8))
        let codec = OpenAICodec()
        #expect(
            try codec.decodeResponse(chatAnswer, request: chat, target: Self.native, id: "x", created: 1)
                .passthroughBody == chatAnswer)
        let translated = try codec.decodeResponse(
            chatAnswer, request: try Self.responses(#"{"model":"m","input":"hi"}"#), target: Self.chatMode, id: "x",
            created: 1)
        #expect(translated.passthroughBody == nil)
        #expect(translated.response.choices.first?.content == "yo")
        #expect(translated.response.choices.first?.refusal == "no")
    }

    @Test func nativeResponseObjectIsReadForBookkeeping() throws {
        let body = Array(
            #"{"id":"resp_1","object":"response","created_at":7,"status":"completed","model":"gpt-5","output":[{"type":"reasoning","id":"rs_1","summary":[]},{"type":"message","id":"m","role":"assistant","content":[{"type":"output_text","text":"Hel","annotations":[]},{"type":"output_text","text":"lo","annotations":[]}]},{"type":"function_call","id":"fc","call_id":"call_1","name":"f","arguments":"{}"}],"usage":{"input_tokens":5,"input_tokens_details":{"cached_tokens":1},"output_tokens":7,"output_tokens_details":{"reasoning_tokens":3},"total_tokens":12}}"#
                .utf8)
        let request = try Self.responses(#"{"model":"m","input":"hi"}"#)
        let decoded = try OpenAICodec().decodeResponse(body, request: request, target: Self.native, id: "x", created: 1)
        #expect(decoded.passthroughBody == body)
        let r = decoded.response
        #expect(r.id == "resp_1" && r.created == 7 && r.model == "gpt-5")
        #expect(r.choices.first?.content == "Hello")
        #expect(r.choices.first?.toolCalls == [ToolCall(id: "call_1", name: "f", arguments: "{}")])
        #expect(r.choices.first?.finishReason == .toolCalls)
        #expect(
            r.usage == Usage(promptTokens: 5, completionTokens: 7, totalTokens: 12, cachedTokens: 1, reasoningTokens: 3)
        )
    }

    @Test func aFailedOrForeignNativeAnswerIsAProviderError() throws {
        let request = try Self.responses(#"{"model":"m","input":"hi"}"#)
        for body in [
            #"{"id":"r","object":"response","status":"failed","output":[],"error":{"code":"server_error","message":"boom"}}"#,
            #"{"choices":[]}"#, "not json",
        ] {
            #expect(throws: ProviderError.self) {
                try OpenAICodec().decodeResponse(
                    Array(body.utf8), request: request, target: Self.native, id: "x", created: 1)
            }
        }
    }

    /// A Responses stream: text and function-call deltas as unified deltas, `response.completed`
    /// as the finish reason, then usage and the end; `response.failed` and `error` as stream errors.
    @Test func nativeStreamEventsAreDecodedForBookkeeping() {
        func event(_ o: JSON) -> [UInt8] {
            Array("event: \(o["type"]?.stringValue ?? "")\ndata: \(o.serializedString())\n\n".utf8)
        }
        var d = OpenAIResponsesStreamDecoder()
        var events = d.feed(event(["type": "response.created", "response": ["id": "r"], "sequence_number": 0]))
        events += d.feed(event(["type": "response.output_text.delta", "delta": "Hi", "output_index": 0]))
        events += d.feed(
            event([
                "type": "response.output_item.added", "output_index": 1,
                "item": ["type": "function_call", "call_id": "c1", "name": "f", "arguments": ""],
            ]))
        events += d.feed(event(["type": "response.function_call_arguments.delta", "delta": "{}", "output_index": 1]))
        #expect(!d.isComplete)
        events += d.feed(
            event([
                "type": "response.completed",
                "response": [
                    "status": "completed", "usage": ["input_tokens": 3, "output_tokens": 2, "total_tokens": 5],
                ],
            ]))
        #expect(d.isComplete)
        let deltas = events.compactMap { e -> [ChoiceDelta]? in if case .choices(let ds, _) = e { ds } else { nil } }
        #expect(deltas.flatMap { $0 }.compactMap(\.content) == ["Hi"])
        #expect(
            deltas.flatMap { $0 }.flatMap(\.toolCalls) == [
                ToolCallDelta(index: 0, id: "c1", name: "f"), ToolCallDelta(index: 0, arguments: "{}"),
            ])
        #expect(deltas.flatMap { $0 }.compactMap(\.finishReason) == [.toolCalls])
        #expect(events.suffix(2) == [.usage(Usage(promptTokens: 3, completionTokens: 2), raw: nil), .done])

        var failing = OpenAIResponsesStreamDecoder()
        let failed = failing.feed(
            event([
                "type": "response.failed", "response": ["error": ["code": "rate_limit_exceeded", "message": "slow"]],
            ]))
        guard case .error(let e)? = failed.first else {
            Issue.record("expected an error event")
            return
        }
        #expect(e.kind == .rateLimited && e.message == "slow")
        #expect(failing.feed(Array("data: {nope\n\n".utf8)).isEmpty && failing.malformedEvents == 1)
    }
}
