import SwitchyardProviders
import SwitchyardRouting
import Testing

@Suite struct StreamJudgeOverflowTests {
    /// The stream judge ends a stream whose event overflows the decoder as truncated, keeping
    /// what came before it (so the router recovers or reports it like a cut stream).
    @Test func theJudgeEndsAnOverflowingStreamAsTruncated() {
        var decoder = OpenAIStreamDecoder(keepRaw: false)
        decoder.sse.maxEventBytes = 2048
        var judge = StreamJudge(decoder: decoder)
        let first =
            #"data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","#
            + #""choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}"# + "\n\n"
        let step = judge.feed(Array(first.utf8))
        #expect(step.verdict == nil && !step.events.isEmpty)
        let huge = judge.feed(Array(("data: {\"x\":\"" + String(repeating: "x", count: 4000)).utf8))
        #expect(huge.verdict == .truncated)
        #expect(huge.events.isEmpty)
    }
}
