import SwitchyardCore
import SwitchyardTestSupport
import SwitchyardUpstream
import Testing

@Suite("CurlUpstream failures")
struct CurlUpstreamFailureTests {
    @Test func truncatedChunkedBodyIsTransport() async throws {
        try await withUpstream(handler: { _ in .chunked([.text("part"), .close]) }) { server, upstream in
            let f = await failure { () async throws(UpstreamFailure) in try await upstream.perform(request(server)) }
            #expect(f?.kind == "transport")

            let streaming = try await upstream.stream(request(server))
            var it = streaming.body.makeAsyncIterator()
            #expect(try await it.next()?.text == "part")
            let g = await failure { () async throws(UpstreamFailure) in try await it.next() }
            #expect(g?.kind == "transport")
        }
    }

    @Test func resetMidBodyIsTransport() async throws {
        try await withUpstream(handler: { _ in .chunked([.text("part"), .reset]) }) { server, upstream in
            let f = await failure { () async throws(UpstreamFailure) in try await upstream.perform(request(server)) }
            #expect(f?.kind == "transport")
        }
    }

    @Test func resetOnAcceptIsConnectOrTransport() async throws {
        try await withUpstream(handler: { _ in .text("never") }) { server, upstream in
            server.acceptBehaviour = .resetImmediately
            let f = await failure { () async throws(UpstreamFailure) in try await upstream.perform(request(server)) }
            // If the RST lands before curl has confirmed the connect, curl reports "couldn't
            // connect" (nothing was sent: `.connect`); otherwise the send or receive fails.
            #expect(f?.kind == "transport" || f?.kind == "connect")
            #expect(server.requestCount == 0)
        }
    }

    @Test func resetAfterTheRequestIsTransport() async throws {
        try await withUpstream(handler: { _ in MockResponse(beforeHead: [.reset]) }) { server, upstream in
            let f = await failure { () async throws(UpstreamFailure) in try await upstream.perform(request(server)) }
            #expect(f?.kind == "transport")
            let g = await failure { () async throws(UpstreamFailure) in try await upstream.stream(request(server)) }
            #expect(g?.kind == "transport")
        }
    }

    @Test func refusedPortIsConnect() async throws {
        try await withUpstream(handler: { _ in .text("never") }) { server, upstream in
            server.refuseConnections()
            // The port stays taken while the test runs: a server another test starts meanwhile
            // cannot get it and answer the requests meant to be refused.
            #expect(throws: (any Error).self) { try MockHTTPServer(port: server.port) { _ in .text("other") } }
            let f = await failure { () async throws(UpstreamFailure) in try await upstream.perform(request(server)) }
            #expect(f?.kind == "connect")
            let g = await failure { () async throws(UpstreamFailure) in try await upstream.stream(request(server)) }
            #expect(g?.kind == "connect")
        }
    }

    @Test func unresolvableHostIsConnect() async throws {
        let upstream = try CurlUpstream()
        defer { upstream.shutdown() }
        let req = UpstreamRequest(url: "http://no-such-host.invalid/", headers: [], body: [])
        let f = await failure { () async throws(UpstreamFailure) in try await upstream.perform(req) }
        #expect(f?.kind == "connect")
    }

    @Test func headersThenSilenceIsFirstByteTimeout() async throws {
        try await withUpstream(handler: { _ in .headersThenSilence() }) { server, upstream in
            let started = ContinuousClock.now
            // The head itself must arrive within the limit, so it is generous for a loaded CI machine
            // (a 150 ms limit once timed out before the mock's head arrived).
            let streaming = try await upstream.stream(request(server, firstByte: .seconds(2)))
            #expect(streaming.head.status == 200)
            let f = await failure { () async throws(UpstreamFailure) in try await streaming.body.collect() }
            #expect(f == .timeout(.firstByte))
            #expect(ContinuousClock.now - started >= .seconds(2))

            let g = await failure { () async throws(UpstreamFailure) in
                try await upstream.perform(request(server, firstByte: .milliseconds(100)))
            }
            #expect(g == .timeout(.firstByte))
            #expect(upstream.activeTransfers == 0)
        }
    }

    @Test func stallMidStreamIsIdleTimeout() async throws {
        try await withUpstream(handler: { _ in .sse(events: ["data: 1"], then: [.stall]) }) { server, upstream in
            let req = request(server, firstByte: .seconds(5), idle: .milliseconds(150))
            let streaming = try await upstream.stream(req)
            var it = streaming.body.makeAsyncIterator()
            #expect(try await it.next()?.text == "data: 1\n\n")
            let f = await failure { () async throws(UpstreamFailure) in try await it.next() }
            #expect(f == .timeout(.idle))
        }
    }

    @Test func slowButSteadyBodyIsNotIdle() async throws {
        let steps: [MockChunk] = (0..<4).flatMap { i in [.text("\(i)"), .pause(.milliseconds(40))] }
        try await withUpstream(handler: { _ in .chunked(steps) }) { server, upstream in
            let response = try await upstream.perform(request(server, firstByte: .seconds(2), idle: .milliseconds(400)))
            #expect(response.body.text == "0123")
        }
    }

    @Test func totalTimeoutCutsASteadyStream() async throws {
        let steps: [MockChunk] = (0..<50).flatMap { _ in [.text("x"), .pause(.milliseconds(20))] }
        try await withUpstream(handler: { _ in .chunked(steps) }) { server, upstream in
            let req = request(server, timeout: .milliseconds(200), firstByte: .seconds(5), idle: .seconds(5))
            let f = await failure { () async throws(UpstreamFailure) in try await upstream.perform(req) }
            #expect(f == .timeout(.total))

            let streaming = try await upstream.stream(req)
            let g = await failure { () async throws(UpstreamFailure) in try await streaming.body.collect() }
            #expect(g == .timeout(.total))
        }
    }

    /// The first-event limit counts from the request, is not met by body bytes (an SSE comment),
    /// and is over once the consumer reports an event: the loop enforces it, no timer task needed.
    @Test func commentThenSilenceIsFirstEventTimeoutUnlessAnEventArrived() async throws {
        try await withUpstream(handler: { _ in .sse(events: [": keep-alive"], then: [.stall]) }) { server, upstream in
            #expect(upstream.enforcesFirstEventTimeout)
            var req = request(server, firstByte: .seconds(5), idle: .seconds(5))
            req.firstEventTimeout = .milliseconds(150)
            let started = ContinuousClock.now
            // On a loaded machine the limit may pass before the response head: then `stream` throws it.
            let f = await failure { () async throws(UpstreamFailure) in
                let streaming = try await upstream.stream(req)
                var it = streaming.body.makeAsyncIterator()
                while try await it.next() != nil {}
            }
            #expect(f == .timeout(.firstEvent))
            #expect(ContinuousClock.now - started >= .milliseconds(150))
        }
        // An event disarms the limit: a chunk held upstream until the limit has surely passed is
        // still delivered. The limit counts from the request, so the head and the first chunk must
        // come within it; on a loaded machine (every suite at once on two cores) they sometimes took
        // over 2 s. Such a run proves nothing and is repeated with a limit twice as long.
        var limit = Duration.seconds(2)
        while try await !eventDisarmsTheFirstEventLimit(limit) {
            limit *= 2
            try #require(limit <= .seconds(32), "the first event never came within the limit")
        }
    }

    /// One try of the disarming case with a first-event limit of `limit`: false when the event
    /// could not be reported within the limit (the try proves nothing), true when it was and the
    /// next chunk, sent only once the limit has passed, arrived; a timeout after a timely event
    /// fails the test.
    private func eventDisarmsTheFirstEventLimit(_ limit: Duration) async throws -> Bool {
        let gate = MockGate()
        defer { gate.open() }
        let steps: [MockChunk] = [.text("data: 1\n\n"), .waitFor(gate), .text("data: 2\n\n")]
        return try await withUpstream(handler: { _ in .chunked(steps) }) { server, upstream in
            var req = request(server, firstByte: .seconds(120), idle: .seconds(120))
            req.firstEventTimeout = limit
            let started = ContinuousClock.now  // before the transfer's clock starts
            let streaming: UpstreamStreamingResponse
            var it: UpstreamBodyStream.AsyncIterator
            do {
                streaming = try await upstream.stream(req)
                it = streaming.body.makeAsyncIterator()
                #expect(try await it.next()?.text == "data: 1\n\n")
            } catch UpstreamFailure.timeout(.firstEvent) where ContinuousClock.now - started >= limit {
                return false
            }
            streaming.body.eventArrived()
            // Reported before `started + limit`, hence before the transfer's own deadline.
            guard ContinuousClock.now - started < limit else { return false }
            // The transfer started before `stream` returned: its deadline is behind us after this.
            try await Task.sleep(for: limit + .milliseconds(500))
            gate.open()
            #expect(try await it.next()?.text == "data: 2\n\n", "past the first-event limit, still delivered")
            return true
        }
    }
}
