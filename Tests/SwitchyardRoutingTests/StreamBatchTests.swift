import SwitchyardCore
import SwitchyardProviders
import SwitchyardRouting
import Testing

/// Several events in one read go through the judge and the routed stream as one batch; these pin
/// that a batch means exactly what its events fed one read at a time mean.
@Suite struct StreamBatchTests {
    static let usageChunk = bytes(
        #"data: {"id":"x","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#
            + "\n\n")
    static let errorChunk = bytes(
        #"data: {"error":{"message":"overloaded","type":"server_error","param":null,"code":null}}"# + "\n\n")

    /// Every event and the verdict of `body` fed to a fresh judge in the given pieces.
    static func judged(_ pieces: [[UInt8]]) -> (events: [StreamEvent], verdict: StreamJudge.Verdict?) {
        var judge = StreamJudge(decoder: OpenAIStreamDecoder())
        var events: [StreamEvent] = []
        for piece in pieces {
            let step = judge.feed(piece)
            events += step.events
            if let verdict = step.verdict { return (events, verdict) }
        }
        let end = judge.end()
        return (events + end.events, end.verdict)
    }

    static func oneByteAtATime(_ body: [UInt8]) -> [[UInt8]] { body.map { [$0] } }

    @Test func aReadOfSeveralEventsEndingInDoneIsTheSameAsTheEventsOneByOne() {
        let body = chunk("Hel") + chunk("lo") + chunk(finish: "stop") + Self.usageChunk + doneChunk
        let whole = Self.judged([body])
        #expect(whole == Self.judged(Self.oneByteAtATime(body)))
        #expect(whole.verdict == .completed)
        #expect(text(whole.events) == "Hello")
        #expect(whole.events.count == 5)
        #expect(whole.events.last == .done)
        guard case .usage(let usage, _) = whole.events[3] else {
            Issue.record("expected the usage event before the end: \(whole.events)")
            return
        }
        #expect(usage.totalTokens == 5)
    }

    @Test func anEventSplitAcrossTwoReadsAnywhereDecodesTheSame() {
        let body = chunk("Hi") + chunk(finish: "stop") + doneChunk
        let whole = Self.judged([body])
        for cut in 1..<body.count {
            #expect(Self.judged([Array(body[..<cut]), Array(body[cut...])]) == whole, "cut at \(cut)")
        }
    }

    @Test func anErrorInTheMiddleOfAReadEndsTheStreamThere() {
        let body = chunk("a") + Self.errorChunk + chunk("b") + chunk(finish: "stop") + doneChunk
        let whole = Self.judged([body])
        #expect(whole == Self.judged(Self.oneByteAtATime(body)))
        #expect(text(whole.events) == "a")
        #expect(whole.events.count == 1)
        guard case .error(let e)? = whole.verdict else {
            Issue.record("expected an error verdict, got \(String(describing: whole.verdict))")
            return
        }
        #expect(e.message == "overloaded")
    }

    /// The routed stream holds the usage chunk back and sends it just before `[DONE]`, also when
    /// the whole answer came in the read that handed the stream over.
    @Test func aWholeAnswerInOneReadReachesTheClientInOrderWithItsUsage() async throws {
        let body = chunk("Hel") + Self.usageChunk + chunk("lo") + chunk(finish: "stop") + doneChunk
        let h = Harness(["a": [.stream(200, [], [body])]])
        let stream = try #require(await h.stream().success)
        let items = await drain(stream)
        #expect(failure(items) == nil)
        let e = events(items)
        #expect(text(e) == "Hello")
        #expect(e.count == 5)
        #expect(e.last == .done)
        guard case .usage(let usage, let raw?) = e[3] else {
            Issue.record("expected the upstream's usage chunk before [DONE]: \(e)")
            return
        }
        #expect(usage.totalTokens == 5)
        #expect(Array(raw.bytes) == Array(Self.usageChunk.dropFirst(6).dropLast(2)))
        #expect(stream.usage?.totalTokens == 5)
    }
}
