import SwitchyardCore
import SwitchyardInbound
import SwitchyardProviders
import Testing

/// Routed stream events → the Responses API's typed events (`ResponsesStreamEncoder`), over golden
/// upstream streams: Chat Completions chunks a translating target sends (`streams/chat_*.sse` →
/// `.expected`), and a native Responses stream, forwarded byte for byte. Every upstream stream is
/// decoded whole and byte by byte (docs/architecture.md, "Decisions and effects") before it is encoded.
@Suite struct ResponsesStreamTests {
    static let context = AnswerContext(
        request: ChatRequest(model: "smart", messages: [], raw: ["model": "smart", "input": "hi"], origin: .responses),
        id: "resp_test", created: 1_700_000_001, model: "gpt-4o-mini")

    static func decode(_ bytes: [UInt8], _ make: () -> any StreamDecoder) -> [StreamEvent] {
        var whole = make()
        let a = whole.feed(bytes) + whole.finish()
        var split = make()
        var b: [StreamEvent] = []
        for byte in bytes { b += split.feed([byte]) }
        b += split.finish()
        #expect(a == b, "fed whole and byte by byte")
        return a
    }

    /// The events of an SSE body: (type from `event:`, the `data` object).
    static func events(_ bytes: [UInt8]) -> [(String, JSONObject)] {
        var parser = SSEParser()
        return (parser.feed(bytes) + parser.finish()).compactMap { m in
            guard case .object(let o)? = try? JSON.parse(m.data) else { return nil }
            return (m.event ?? "", o)
        }
    }

    static func checkSequence(_ out: [UInt8], from start: Int = 0) {
        let events = Self.events(out)
        #expect(events.map(\.1["sequence_number"]?.intValue) == Array(start..<(start + events.count)).map { $0 })
        #expect(events.allSatisfy { $0.0 == $0.1["type"]?.stringValue }, "event: names the data's type")
    }

    @Test(arguments: ["chat_text", "chat_tools", "chat_length", "chat_refusal"])
    func translatedStreamBecomesTypedEvents(_ name: String) throws {
        let upstream = Self.decode(try InboundFixtures.bytes("streams/\(name).sse")) {
            OpenAIStreamDecoder(keepRaw: false)
        }
        #expect(upstream.allSatisfy { if case .choices(_, let raw) = $0 { raw == nil } else { true } })
        var encoder = ResponsesStreamEncoder(context: Self.context)
        let out = encoder.encode(upstream, model: "gpt-4o-mini")
        InboundFixtures.expectGolden(String(decoding: out, as: UTF8.self), "streams/\(name).expected")
        Self.checkSequence(out)
        let last = try #require(Self.events(out).last)
        #expect(["response.completed", "response.incomplete"].contains(last.0))
        #expect(try JSON.parse(#require(encoder.finalBody)) == last.1["response"])
        #expect(encoder.failure == nil)
    }

    @Test func nativeStreamIsForwardedByteForByte() throws {
        let sse = try InboundFixtures.bytes("streams/native_text.sse")
        let upstream = Self.decode(sse) { OpenAIResponsesStreamDecoder() }
        #expect(upstream.last == .done)
        var encoder = ResponsesStreamEncoder(context: Self.context)
        let out = encoder.encode(upstream, model: "gpt-5")
        #expect(out == sse)
        let completed = try #require(Self.events(sse).last?.1["response"])
        #expect(try JSON.parse(#require(encoder.finalBody)) == completed)
        #expect(encoder.usage == Usage(promptTokens: 20, completionTokens: 9, cachedTokens: 0, reasoningTokens: 4))
    }

    /// A native stream cut after two text deltas and finished by another target (a mid-stream
    /// continuation, whose events are unified deltas): the client sees one response — the
    /// upstream's id, its message item continued, numbering unbroken, one `response.completed`.
    @Test func continuationAfterANativeStreamContinuesItsItems() throws {
        let cut = try InboundFixtures.bytes("streams/native_cut.sse")
        var encoder = ResponsesStreamEncoder(context: Self.context)
        var out = encoder.encode(Self.decode(cut) { OpenAIResponsesStreamDecoder() }, model: "gpt-5")
        #expect(out == cut)
        out += encoder.encode(
            [
                .choices([ChoiceDelta(content: " It is warm.")], raw: nil),
                .choices([ChoiceDelta(finishReason: .stop)], raw: nil),
                .usage(Usage(promptTokens: 30, completionTokens: 4), raw: nil), .done,
            ], model: "claude-3-5-haiku-latest")
        InboundFixtures.expectGolden(String(decoding: out, as: UTF8.self), "streams/native_continued.expected")
        Self.checkSequence(out)
        let final = try JSON.parse(#require(encoder.finalBody))
        #expect(final["id"] == "resp_up1")
        #expect(final["model"] == "claude-3-5-haiku-latest")
        let message = final["output"]?.arrayValue?.last
        #expect(message?["id"] == "msg_up1")
        #expect(message?["content"]?.arrayValue?.first?["text"] == "Sunny in Paris. It is warm.")
        #expect(final["output"]?.arrayValue?.count == 3, "the reasoning and web search items are kept")
    }

    @Test func aFailureEndsWithResponseFailed() throws {
        var encoder = ResponsesStreamEncoder(context: Self.context)
        var out = encoder.encode([.choices([ChoiceDelta(role: true, content: "Par")], raw: nil)], model: "m")
        out += encoder.fail(APIError(status: 502, type: "server_error", code: "upstream_error", message: "cut"))
        Self.checkSequence(out)
        let last = try #require(Self.events(out).last)
        #expect(last.0 == "response.failed")
        #expect(last.1["response"]?["status"] == "failed")
        #expect(last.1["response"]?["error"] == ["code": "server_error", "message": "cut"])
        #expect(last.1["response"]?["output"]?.arrayValue?.first?["content"]?.arrayValue?.first?["text"] == "Par")
        #expect(encoder.finalBody == nil)
    }

    @Test func anUpstreamRateLimitEventFailsWithItsCode() throws {
        var encoder = ResponsesStreamEncoder(context: Self.context)
        let error = ProviderError(kind: .rateLimited, status: 200, message: "slow down")
        let out = encoder.encode([.error(error)], model: "m")
        #expect(encoder.failure?.status == 429)
        #expect(Self.events(out).last?.1["response"]?["error"]?["code"] == "rate_limit_exceeded")
    }

    /// An idempotent replay re-emits a stored response as the events of a live stream; decoded as
    /// an upstream stream they give back the same answer, and the last event carries it whole.
    @Test func replayOfAStoredResponseDecodesToTheSameAnswer() throws {
        let upstream = Self.decode(try InboundFixtures.bytes("streams/chat_tools.sse")) {
            OpenAIStreamDecoder(keepRaw: false)
        }
        var encoder = ResponsesStreamEncoder(context: Self.context)
        let live = encoder.encode(upstream, model: "gpt-4o-mini")
        let stored = try #require(encoder.finalBody)
        guard case .object(let response) = try JSON.parse(stored) else { throw APIError.internalError() }
        let replay = ResponsesReplay.events(response)
        Self.checkSequence(replay)
        let kinds = { (bytes: [UInt8]) in Self.events(bytes).map(\.0).filter { !$0.hasSuffix(".delta") } }
        #expect(kinds(replay) == kinds(live))
        #expect(Self.events(replay).last?.1["response"] == .object(response))
        var text = ""
        var calls: [Int: ToolCall] = [:]
        var finish: FinishReason?
        for case .choices(let deltas, _) in Self.decode(replay, { OpenAIResponsesStreamDecoder() }) {
            for d in deltas {
                text += d.content ?? ""
                for c in d.toolCalls {
                    var call = calls[c.index] ?? ToolCall(id: "", name: "", arguments: "")
                    if let id = c.id { call.id = id }
                    if let n = c.name { call.name = n }
                    call.arguments += c.arguments ?? ""
                    calls[c.index] = call
                }
                finish = d.finishReason ?? finish
            }
        }
        #expect(text == "Checking.")
        #expect(calls[0] == ToolCall(id: "call_a", name: "get_weather", arguments: #"{"city":"Paris"}"#))
        #expect(calls[1] == ToolCall(id: "call_b", name: "get_weather", arguments: #"{"city":"Rome"}"#))
        #expect(finish == .toolCalls)
    }
}
