import SwitchyardCore
import SwitchyardProviders
import SwitchyardRouting
import Testing

/// A target that may continue prefilled turns (OpenAI wire here, so the scripted chunks stay short).
func continuing(_ name: String, priority: Int = 0) -> RouteTarget {
    var t = target(name, priority: priority)
    t.continuation = .prefill
    return t
}

func lastMessage(_ call: ScriptedUpstream.Call) -> JSON? {
    (try? JSON.parse(call.request.body))?["messages"]?.arrayValue?.last
}

@Suite struct StreamSpliceTests {
    func run(delivered: String, continuation: [String]) -> String {
        var d = DeliveredText()
        d.record([.choices([ChoiceDelta(role: true, content: delivered)], raw: nil)])
        let (_, held) = d.prefill
        var splice = StreamSplice(held: held, envelope: nil, model: "m2")
        let out = splice.rewrite(continuation.map { .choices([ChoiceDelta(content: $0)], raw: nil) })
        return d.text
            + out.map { e in
                if case .choices(let ds, _) = e { return ds.compactMap(\.content).joined() }
                return ""
            }.joined()
    }

    @Test(arguments: [
        ("Hello ", [" world"], "Hello world"),  // the model repeats the held space
        ("Hello ", ["world"], "Hello world"),  // it does not: the delivered space stays
        ("Hello\n\n", ["\n", "\nNext"], "Hello\n\nNext"),  // repeated across deltas
        ("Hello\n\n", ["\nNext"], "Hello\n\nNext"),  // partly repeated
        ("Hello", [" world"], "Hello world"),  // nothing held
        ("a  ", ["", " ", " b"], "a  b"),
    ])
    func heldWhitespaceIsNeitherDuplicatedNorLost(delivered: String, continuation: [String], expected: String) {
        #expect(run(delivered: delivered, continuation: continuation) == expected)
    }

    func run(delivered: String, echoing continuation: [StreamEvent]) -> String {
        var d = DeliveredText()
        d.record([.choices([ChoiceDelta(role: true, content: delivered)], raw: nil)])
        let (prefix, held) = d.prefill
        var splice = StreamSplice(held: held, envelope: nil, model: "m2", echo: prefix)
        return d.text
            + splice.rewrite(continuation).map { e in
                if case .choices(let ds, _) = e { return ds.compactMap(\.content).joined() }
                return ""
            }.joined()
    }

    static func text(_ parts: [String], finish: Bool = true) -> [StreamEvent] {
        parts.map { .choices([ChoiceDelta(content: $0)], raw: nil) }
            + (finish ? [.choices([ChoiceDelta(finishReason: .stop)], raw: nil), .done] : [.done])
    }

    @Test(arguments: [
        ("Hello from the ", ["Hello ", "from ", "the ", "mock"], "Hello from the mock"),  // repeated, split
        ("Hello from the ", ["Hello from the mock"], "Hello from the mock"),  // repeated in one delta
        ("Hello from the ", [" mock"], "Hello from the mock"),  // not repeated
        ("Hello from the ", ["Hel", "p is near"], "Hello from the Help is near"),  // starts alike, differs
        ("Hello from the ", ["Hel"], "Hello from the Hel"),  // starts alike, then the answer ends
    ])
    func aRepeatedPrefixIsDroppedOnlyWhenWhole(delivered: String, continuation: [String], expected: String) {
        #expect(run(delivered: delivered, echoing: Self.text(continuation)) == expected)
        #expect(run(delivered: delivered, echoing: Self.text(continuation, finish: false)) == expected)
    }

    @Test func prefillHoldsBackTrailingWhitespace() {
        var d = DeliveredText()
        d.record([.choices([ChoiceDelta(role: true, content: "Hi there \n")], raw: nil)])
        #expect(d.prefill.prefix == "Hi there")
        #expect(d.prefill.held == " \n")
        #expect(d.plainText)
        d.record([.choices([ChoiceDelta(toolCalls: [ToolCallDelta(index: 0, id: "c", name: "f")])], raw: nil)])
        #expect(!d.plainText)
    }

    /// The envelope is read from a forwarded chunk's text (last of a repeated key, escapes
    /// decoded) as from its parsed object; a typed first chunk (a Responses event) keeps none.
    @Test func theEnvelopeIsReadFromTheFirstForwardedChunk() throws {
        let text = #"{"id":"x","\u0069d":"chatcmpl-9","object":"chat.completion.chunk","created":7,"choices":[]}"#
        for raw in [RawChunk(bytes: Array(text.utf8)), RawChunk(try #require(try JSON.parse(text).objectValue))] {
            var d = DeliveredText()
            d.record([.choices([ChoiceDelta(role: true, content: "")], raw: raw)])
            #expect(d.envelope == ["id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 7])
            d.record([.choices([ChoiceDelta(content: "a")], raw: ["id": "other", "created": 8])])
            #expect(d.envelope?["id"] == "chatcmpl-9")
        }
        var typed = DeliveredText()
        typed.record([.choices([ChoiceDelta(content: "a")], raw: RawChunk(bytes: Array(#"{"type":"t","id":1}"#.utf8)))])
        typed.record([.choices([ChoiceDelta(content: "b")], raw: ["id": "chatcmpl-2"])])
        #expect(typed.envelope == nil)
        #expect(typed.text == "ab")
        var missing = DeliveredText()
        missing.record([.choices([ChoiceDelta(content: "a")], raw: RawChunk(bytes: Array(#"{"choices":[]}"#.utf8)))])
        #expect(missing.envelope == [:])
    }

    @Test func splicedChunksKeepTheOriginalEnvelopeAndDropTheSecondRole() {
        var d = DeliveredText()
        d.record([
            .choices(
                [ChoiceDelta(role: true, content: "")],
                raw: ["id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 7, "model": "m1"])
        ])
        var splice = StreamSplice(held: "", envelope: d.envelope, model: "m2")
        let out = splice.rewrite([
            .choices([ChoiceDelta(role: true, content: "")], raw: nil), .choices([ChoiceDelta(content: "x")], raw: nil),
        ])
        #expect(out.count == 1)
        guard case .choices(let ds, let raw?)? = out.first else {
            Issue.record("expected one raw chunk")
            return
        }
        #expect(ds == [ChoiceDelta(content: "x")])
        #expect(raw["id"] == "chatcmpl-1")
        #expect(raw["created"] == 7)
        #expect(raw["model"] == "m2")
        guard case .usage(_, let usageRaw?) = splice.usageEvent(Usage(promptTokens: 1, completionTokens: 2)) else {
            Issue.record("expected a raw usage chunk")
            return
        }
        #expect(usageRaw["id"] == "chatcmpl-1")
        #expect(usageRaw["usage"]?["total_tokens"] == 3)
    }
}

@Suite struct RouterRecoveryTests {
    @Test func brokenStreamIsContinuedOnTheSameTargetAfterABackoff() async throws {
        let h = Harness([
            "a": [
                .stream(200, [], [chunk("Hel"), chunk("lo ")], then: .transport("reset")),
                .stream(200, [], [chunk(""), chunk(" world"), chunk(finish: "stop")]),
            ]
        ])
        let stream = try #require(await h.stream([continuing("a")]).success)
        let items = await drain(stream)
        #expect(failure(items) == nil)
        #expect(text(events(items)) == "Hello world")
        #expect(events(items).filter { $0 == .done }.count == 1)
        #expect(h.upstream.hosts == ["a", "a"])
        #expect(h.sleeper.sleeps.count == 1)
        let prefill = try #require(lastMessage(h.upstream.calls[1]))
        #expect(prefill["role"] == "assistant")
        #expect(prefill["content"] == "Hello")
        #expect(stream.upstreamCalls == 2)
        #expect(stream.continuations == [ContinuationRecord(from: "a/m", to: "a/m", outcome: .ok)])
        #expect(h.observer.events.contains("continuation a/m->a/m ok"))
    }

    /// The session keeps what the client got only while the stream can still break: text that
    /// arrives in the same read as the end that breaks it (here `[DONE]` before a finish reason)
    /// is still part of the prefill.
    @Test func textInTheReadThatBreaksTheStreamIsContinued() async throws {
        let h = Harness([
            "a": [
                .stream(200, [], [chunk("Hel") + chunk("lo") + bytes("data: [DONE]\n\n")]),
                .stream(200, [], [chunk(" world"), chunk(finish: "stop")]),
            ]
        ])
        let stream = try #require(await h.stream([continuing("a")]).success)
        let items = await drain(stream)
        #expect(failure(items) == nil)
        #expect(text(events(items)) == "Hello world")
        let prefill = try #require(lastMessage(h.upstream.calls[1]))
        #expect(prefill["role"] == "assistant")
        #expect(prefill["content"] == "Hello")
    }

    @Test func aRejectedPrefillMovesOnAndIsRemembered() async throws {
        let broken = Reply.stream(200, [], [chunk("Hi")], then: .transport("reset"))
        let h = Harness([
            "a": [broken, .http(400, [], errorBody(type: "invalid_request_error")), broken],
            "b": [.stream(200, [], [chunk("!"), chunk(finish: "stop")])],
        ])
        let targets = [continuing("a"), target("b", priority: 1)]
        // b cannot continue (OpenAI default): a's rejection leaves nobody, and the original failure is reported.
        let first = await drain(try #require(await h.stream(targets, id: "r1").success))
        #expect(text(events(first)) == "Hi")
        #expect(failure(first)?.code == "upstream_stream_truncated")
        #expect(h.upstream.hosts == ["a", "a"])
        #expect(h.observer.events.contains("continuation a/m->a/m rejected"))
        // Remembered: the next broken stream makes no continuation call.
        let second = await drain(try #require(await h.stream([continuing("a")], id: "r2").success))
        #expect(failure(second)?.code == "upstream_stream_truncated")
        #expect(h.upstream.hosts == ["a", "a", "a"])
        #expect(h.observer.events.contains("continuation a/m->none unavailable"))
    }

    @Test func rejectionFallsThroughToTheNextCapableTarget() async throws {
        let h = Harness([
            "a": [
                .stream(200, [], [chunk("Hi")], then: .timeout(.idle)),
                .http(400, [], errorBody(type: "invalid_request_error")),
            ],
            "b": [.stream(200, [], [chunk(" there"), chunk(finish: "stop")])],
        ])
        let stream = try #require(await h.stream([continuing("a"), continuing("b", priority: 1)]).success)
        // The first target answers until a recovery installs another.
        #expect(stream.answeringTarget.key == "a/m")
        #expect(stream.answeringNames == ("a", "m"))
        let items = await drain(stream)
        #expect(failure(items) == nil)
        #expect(text(events(items)) == "Hi there")
        #expect(h.upstream.hosts == ["a", "a", "b"])
        #expect(stream.answeringTarget.key == "b/m")
        #expect(stream.answeringNames == ("b", "m"))
        #expect(stream.targetNames == ("a", "m"))
    }

    @Test func aToolCallInProgressIsNotContinued() async throws {
        let call = bytes(
            #"data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"f","arguments":""}}]},"finish_reason":null}]}"#
                + "\n\n")
        let h = Harness(["a": [.stream(200, [], [call], then: .transport("reset")), .stream(200, [], [chunk("x")])]])
        let items = await drain(try #require(await h.stream([continuing("a")]).success))
        #expect(failure(items)?.code == "upstream_stream_truncated")
        #expect(h.upstream.hosts == ["a"])
    }

    @Test func aFailingContinuationReportsTheOriginalFailure() async throws {
        let h = Harness(
            policy: RoutingPolicy(attemptsPerTarget: 1),
            [
                "a": [
                    .stream(200, [], [chunk("Hi")], then: .timeout(.idle)),
                    .stream(200, [], [chunk(" the")], then: .transport("reset")),
                    .stream(200, [], [chunk("re")], then: .transport("reset")),
                    .stream(200, [], [chunk("never")]),
                ]
            ])
        let stream = try #require(await h.stream([continuing("a")]).success)
        let items = await drain(stream)
        // Stall first: the client hears about the stall, after two continuations also broke.
        #expect(failure(items)?.code == "upstream_timeout")
        #expect(text(events(items)) == "Hi there")
        #expect(h.upstream.hosts == ["a", "a", "a"])
        #expect(stream.continuations.map(\.outcome) == [.failed, .failed])
    }

    @Test func bufferedStreamRestartsOnTheNextTargetAndSendsOneAnswer() async throws {
        let h = Harness([
            "a": [.stream(200, [], [chunk("par"), chunk("tial")], then: .transport("reset"))],
            "b": [.stream(200, [], [chunk("Who"), chunk("le"), chunk(finish: "stop")])],
        ])
        let stream = try #require(
            await h.router.stream(
                chatRequest(stream: true), targets: [target("a"), target("b", priority: 1)], requestID: "r",
                mode: .buffered
            ).success)
        let items = await drain(stream)
        #expect(items.count == 1)
        #expect(failure(items) == nil)
        #expect(text(events(items)) == "Whole")
        #expect(events(items).last == .done)
        #expect(h.upstream.hosts == ["a", "b"])
        #expect(stream.continuations == [ContinuationRecord(from: "a/m", to: "b/m", outcome: .restartOK)])
    }
}
