import SwitchyardCore
import SwitchyardInbound
import Testing

/// `ChatStreamEncoder`'s answer id: given, or made from the request id (`streamIDSource`) only
/// when a chunk is written by the gateway (a forwarded chunk keeps its upstream's own).
@Suite struct ChatStreamEncoderTests {
    static let request: ChatRequest = {
        var r = ChatRequest(model: "m", messages: [])
        r.includeUsage = true
        return r
    }()

    static let written: [StreamEvent] = [
        .choices([ChoiceDelta(role: true, content: "Hi")], raw: nil),
        .choices([ChoiceDelta(finishReason: .stop)], raw: nil),
        .usage(Usage(promptTokens: 3, completionTokens: 1), raw: nil), .done,
    ]

    static func context(id: String, source: String?, keepsFinalAnswer: Bool) -> AnswerContext {
        var c = AnswerContext(
            request: request, id: id, created: 1_700_000_000, model: "up", keepsFinalAnswer: keepsFinalAnswer)
        c.streamIDSource = source
        return c
    }

    /// The `id` of every chunk in SSE bytes (`[DONE]` has none).
    static func ids(_ bytes: [UInt8]) -> [String] {
        String(decoding: bytes, as: UTF8.self).split(separator: "\n\n").compactMap { block in
            guard block.hasPrefix("data: {") else { return nil }
            return (try? JSON.parse(Array(block.utf8.dropFirst(6))))?["id"]?.stringValue
        }
    }

    @Test(arguments: [false, true])
    func writtenChunksCarryTheIdMadeFromTheRequestID(keepsFinalAnswer: Bool) throws {
        var encoder = ChatStreamEncoder(
            context: Self.context(id: "", source: "abc-DEF.123", keepsFinalAnswer: keepsFinalAnswer))
        let out = encoder.encode(Self.written, model: "up")
        // Two delta chunks and the usage chunk, all in the same envelope.
        #expect(Self.ids(out) == Array(repeating: "chatcmpl-abcDEF123", count: 3))
        if keepsFinalAnswer {
            let final = try JSON.parse(try #require(encoder.finalBody))
            #expect(final["id"] == "chatcmpl-abcDEF123")
        } else {
            #expect(encoder.finalBody == nil)
        }
    }

    @Test func aGivenIdIsKept() {
        var encoder = ChatStreamEncoder(
            context: Self.context(id: "chatcmpl-given", source: "abc", keepsFinalAnswer: false))
        #expect(Self.ids(encoder.encode(Self.written, model: "up")) == Array(repeating: "chatcmpl-given", count: 3))
    }

    /// Forwarded chunks go out as they came, and a chunk written after them (a continuation's)
    /// still gets the made id.
    @Test func forwardedChunksKeepTheirOwnId() {
        var encoder = ChatStreamEncoder(context: Self.context(id: "", source: "r-1", keepsFinalAnswer: false))
        let raw = RawChunk(bytes: Array(#"{"id":"chatcmpl-up","choices":[]}"#.utf8))
        let first = encoder.encode([.choices([ChoiceDelta(content: "a")], raw: raw)], model: "up")
        #expect(first == Array("data: {\"id\":\"chatcmpl-up\",\"choices\":[]}\n\n".utf8))
        let next = encoder.encode([.choices([ChoiceDelta(content: "b")], raw: nil)], model: "up")
        #expect(Self.ids(next) == ["chatcmpl-r1"])
    }
}
