import SwitchyardCore
import SwitchyardTestSupport
import SwitchyardUpstream
import Testing

@Suite("CurlUpstream.stream")
struct CurlUpstreamStreamTests {
    @Test func chunksArriveIncrementally() async throws {
        let gate = MockGate()
        let response = MockResponse.chunked([.text("first"), .waitFor(gate), .text("second")])
        try await withUpstream(handler: { _ in response }) { server, upstream in
            let streaming = try await upstream.stream(request(server))
            #expect(streaming.head.status == 200)
            #expect(streaming.head.headers.value(for: "transfer-encoding") == "chunked")
            var it = streaming.body.makeAsyncIterator()
            // The second chunk is held back by the gate, so this one cannot have been buffered.
            #expect(try await it.next()?.text == "first")
            #expect(!gate.isOpen)
            gate.open()
            #expect(try await it.next()?.text == "second")
            #expect(try await it.next() == nil)
        }
    }

    @Test func headArrivesBeforeAnyBody() async throws {
        let gate = MockGate()
        try await withUpstream(handler: { _ in .chunked(status: 202, [.waitFor(gate), .text("late")]) }) {
            server, upstream in
            let streaming = try await upstream.stream(request(server))
            #expect(streaming.head.status == 202)
            gate.open()
            #expect(try await streaming.body.collect().text == "late")
        }
    }

    @Test func interimContinueResponseIsSkipped() async throws {
        let interim: [MockChunk] = [.text("HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n")]
        try await withUpstream(handler: { _ in .text(status: 200, "final", headers: [HeaderField("X-Final", "1")]) }) {
            server, upstream in
            server.setHandler { _ in
                var r = MockResponse.text("final", headers: [HeaderField("X-Final", "1")])
                r.beforeHead = interim
                return r
            }
            let streaming = try await upstream.stream(request(server))
            #expect(streaming.head.status == 200)
            #expect(streaming.head.headers.value(for: "x-final") == "1")
            #expect(streaming.head.headers.value(for: "x-interim") == nil)
            #expect(try await streaming.body.collect().text == "final")
            let buffered = try await upstream.perform(request(server))
            #expect(buffered.head.status == 200)
            #expect(buffered.head.headers.value(for: "x-interim") == nil)
        }
    }

    @Test func sseEventsAreFramedOnePerChunk() async throws {
        let events = [#"data: {"n":1}"#, "event: ping\ndata: 2", "data: [DONE]\n\n"]
        try await withUpstream(handler: { _ in .sse(events: events) }) { server, upstream in
            let streaming = try await upstream.stream(request(server))
            #expect(streaming.head.headers.value(for: "content-type") == "text/event-stream")
            let body = try await streaming.body.collect().text
            #expect(body == "data: {\"n\":1}\n\nevent: ping\ndata: 2\n\ndata: [DONE]\n\n")
        }
    }

    @Test func contentLengthBodyStreamsToo() async throws {
        try await withUpstream(handler: { _ in .json(["a": 1]) }) { server, upstream in
            let streaming = try await upstream.stream(request(server))
            #expect(try await streaming.body.collect().text == #"{"a":1}"#)
            #expect(upstream.activeTransfers == 0)
        }
    }

    @Test func errorStatusStillStreams() async throws {
        try await withUpstream(handler: { _ in .json(status: 429, ["error": "slow down"]) }) { server, upstream in
            let streaming = try await upstream.stream(request(server))
            #expect(streaming.head.status == 429)
            #expect(try await streaming.body.collect().text == #"{"error":"slow down"}"#)
        }
    }
}
