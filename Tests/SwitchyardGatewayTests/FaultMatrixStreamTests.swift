import SwitchyardCore
import SwitchyardTestSupport
import SwitchyardUpstream
import Testing

/// Stream faults through the real gateway: before the first event they fall back; after it the
/// client stream ends with an in-band error event and no `[DONE]` (docs/translation.md §9.3).
@Suite struct FaultMatrixStreamTests {
    static let head = Wire.chunk("", role: true)
    static let words = ["one ", "two ", "three"]

    @Test func finishReasonWithoutDoneStillEndsWithDone() async throws {
        let events = [Self.head] + Self.words.map { Wire.chunk($0) } + [Wire.chunk(nil, finish: "stop")]
        try await FaultRig.run(primary: { _ in .sse(events: events) }) { rig in
            let r = try await rig.chat(stream: true)
            #expect(r.head.status == 200)
            #expect(r.header("x-switchyard-provider") == "primary")
            #expect(r.header("x-switchyard-attempts") == "1")
            let s = ClientStream(r.text)
            #expect(s.text == "one two three")
            #expect(s.endsWithDone)
            #expect(s.payloads.filter { $0 == "[DONE]" }.count == 1)
            #expect(s.error == nil)
        }
    }

    @Test func oneMalformedEventIsSkipped() async throws {
        let events =
            [Self.head, Wire.chunk("one "), #"data: {"id":"chatcmpl-x","choices":[{"index":0,"delta":{"content":"#]
            + [Wire.chunk("two "), Wire.chunk("three"), Wire.chunk(nil, finish: "stop"), "data: [DONE]"]
        try await FaultRig.run(primary: { _ in .sse(events: events) }) { rig in
            let r = try await rig.chat(stream: true)
            #expect(r.head.status == 200)
            #expect(r.header("x-switchyard-provider") == "primary")
            let s = ClientStream(r.text)
            #expect(s.text == "one two three")
            #expect(s.endsWithDone)
            #expect(s.error == nil)
            #expect(rig.fallback.requestCount == 0)
            let m = try await rig.metrics()
            #expect(metricValue(m, "switchyard_stream_malformed_events_total", ["provider": "primary"]) == 1)
        }
    }

    /// Headers then silence: abandoned at `first_event_timeout_ms`, and the fallback answers.
    @Test func headersThenSilenceFallsBackAtFirstEventTimeout() async throws {
        let silent = MockResponse.headersThenSilence(headers: [HeaderField("Content-Type", "text/event-stream")])
        try await FaultRig.run(FaultRig.Options(primaryLimits: "first_event_timeout_ms: 250"), primary: { _ in silent })
        { rig in
            let started = ContinuousClock.now
            let r = try await rig.chat(stream: true)
            let took = ContinuousClock.now - started
            #expect(r.head.status == 200)
            #expect(r.header("x-switchyard-provider") == "fallback")
            #expect(r.header("x-switchyard-attempts") == "2")
            let s = ClientStream(r.text)
            #expect(s.text == FaultRig.fallbackReply)
            #expect(s.endsWithDone)
            #expect(rig.primary.requestCount == 1)
            // Abandoned by `first_event_timeout_ms` and not before it. The outcome says which limit
            // fired (an upper bound on `took` would only measure how busy the machine is): the
            // router's first-event timer, or the transport's first-byte timer armed with the same
            // limit, which wins when a loaded machine delays even the mock's response head.
            #expect(took >= .milliseconds(250))
            let metrics = try await rig.metrics()
            let byLimit = ["timeout_first_event", "timeout_first_byte"].map {
                metricValue(metrics, "switchyard_upstream_attempts_total", ["provider": "primary", "outcome": $0])
            }
            #expect(byLimit.reduce(0, +) == 1)
        }
    }

    /// An SSE comment (or a ping) then silence is not a first event: the attempt is abandoned at
    /// `first_event_timeout_ms`, not at the idle timeout (set far above the client's own timeout
    /// here, so the old first-byte behaviour would fail this test).
    @Test(arguments: [": keep-alive", "event: ping\ndata: {\"type\": \"ping\"}"])
    func commentThenSilenceFallsBackAtFirstEventTimeout(_ opener: String) async throws {
        let silent = MockResponse.sse(events: [opener], then: [.stall])
        try await FaultRig.run(
            FaultRig.Options(
                primaryKind: "anthropic", primaryLimits: "first_event_timeout_ms: 250, idle_timeout_ms: 120000"),
            primary: { _ in silent }
        ) { rig in
            let r = try await rig.chat(stream: true)
            #expect(r.head.status == 200)
            #expect(r.header("x-switchyard-provider") == "fallback")
            #expect(ClientStream(r.text).text == FaultRig.fallbackReply)
            #expect(rig.primary.requestCount == 1)
            // The first-event limit fired (the transport's first-byte timer shares it and wins when a
            // loaded machine delays the mock's response head past it), not the idle timeout.
            let metrics = try await rig.metrics()
            let byLimit = ["timeout_first_event", "timeout_first_byte"].map {
                metricValue(metrics, "switchyard_upstream_attempts_total", ["provider": "primary", "outcome": $0])
            }
            #expect(byLimit.reduce(0, +) == 1)
        }
    }

    struct MidStreamFault: Sendable, CustomTestStringConvertible {
        var name: String
        var limits = ""
        /// What follows the first events; `gate` is opened once the client has seen them.
        var tail: @Sendable (MockGate) -> [MockChunk]
        var code: String
        var testDescription: String { name }
    }

    static let midStream: [MidStreamFault] = [
        MidStreamFault(
            name: "reset after the first bytes", tail: { [.waitFor($0), .reset] }, code: "upstream_stream_truncated"),
        MidStreamFault(
            name: "close after the first bytes", tail: { [.waitFor($0), .close] }, code: "upstream_stream_truncated"),
        MidStreamFault(
            name: "stall past idle_timeout_ms", limits: "idle_timeout_ms: 250", tail: { [.waitFor($0), .stall] },
            code: "upstream_timeout"),
        MidStreamFault(
            name: "body ends before the finish reason", tail: { [.waitFor($0)] }, code: "upstream_stream_truncated"),
    ]

    /// After the hand-off a failure ends the client stream in-band: the text so far once, an
    /// error event, no `[DONE]`, no fallback.
    @Test(arguments: midStream)
    func midStreamFailureEndsWithAnInBandError(_ row: MidStreamFault) async throws {
        let gate = MockGate()
        let events = [Self.head, Wire.chunk("one "), Wire.chunk("two ")]
        let response = MockResponse.sse(events: events, then: row.tail(gate))
        try await FaultRig.run(FaultRig.Options(primaryLimits: row.limits), primary: { _ in response }) { rig in
            defer { gate.open() }
            let (head, text) = try await rig.streamChat(opening: gate, after: "two ")
            #expect(head.status == 200)
            #expect(head.headers.value(for: "x-switchyard-provider") == "primary")
            let s = ClientStream(text)
            #expect(s.text == "one two ")
            #expect(!s.containsDone)
            let error = try #require(s.error, "stream: \(text)")
            #expect(error["code"] == .string(row.code))
            #expect(error["type"] == "server_error")
            #expect(s.payloads.last.flatMap { try? JSON.parse($0) }?["error"] != nil)
            #expect(rig.primary.requestCount == 1)
            #expect(rig.fallback.requestCount == 0)
        }
    }

    /// An upstream error event after content reached the client: in-band error mapped per
    /// docs/translation.md §8 (Anthropic `overloaded_error` → `upstream_overloaded`), no retry, no `[DONE]`.
    @Test func anthropicErrorEventAfterContentEndsInBand() async throws {
        func ev(_ name: String, _ data: String) -> String { "event: \(name)\ndata: \(data)" }
        let events = [
            ev(
                "message_start",
                #"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"p-model","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":1}}}"#
            ),
            ev(
                "content_block_start",
                #"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#),
            ev(
                "content_block_delta",
                #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"one "}}"#),
            ev("error", #"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#),
        ]
        try await FaultRig.run(FaultRig.Options(primaryKind: "anthropic"), primary: { _ in .sse(events: events) }) {
            rig in
            let r = try await rig.chat(stream: true)
            #expect(r.head.status == 200)
            #expect(r.header("x-switchyard-provider") == "primary")
            let s = ClientStream(r.text)
            #expect(s.text == "one ")
            #expect(!s.containsDone)
            #expect(s.error?["code"] == "upstream_overloaded")
            #expect(s.error?["type"] == "server_error")
            #expect(rig.primary.requestCount == 1)
            #expect(rig.fallback.requestCount == 0)
        }
    }

    @Test func openAIErrorEventAfterContentEndsInBand() async throws {
        let events = [
            Self.head, Wire.chunk("one "),
            #"data: {"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}"#,
        ]
        try await FaultRig.run(primary: { _ in .sse(events: events) }) { rig in
            let r = try await rig.chat(stream: true)
            #expect(r.head.status == 200)
            let s = ClientStream(r.text)
            #expect(s.text == "one ")
            #expect(!s.containsDone)
            #expect(s.error?["type"] == "server_error")
            #expect(s.error?["code"] == "upstream_error")
            #expect(rig.fallback.requestCount == 0)
        }
    }
}
