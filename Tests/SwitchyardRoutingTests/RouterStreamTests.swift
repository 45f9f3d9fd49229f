import SwitchyardCore
import SwitchyardRouting
import Testing

/// Reads a routed stream to its end (bounded, so a bug cannot hang the suite).
func drain(_ stream: RoutedStream) async -> [RoutedStreamItem] {
    var items: [RoutedStreamItem] = []
    for _ in 0..<100 {
        guard let item = await stream.next() else { break }
        items.append(item)
    }
    return items
}

func events(_ items: [RoutedStreamItem]) -> [StreamEvent] {
    items.flatMap { item -> [StreamEvent] in
        if case .events(let e) = item { return e }
        return []
    }
}

func failure(_ items: [RoutedStreamItem]) -> APIError? {
    for case .failed(let e) in items { return e }
    return nil
}

func text(_ events: [StreamEvent]) -> String {
    events.map { e in
        if case .choices(let d, _) = e { return d.compactMap(\.content).joined() }
        return ""
    }.joined()
}

@Suite struct RouterStreamTests {
    @Test func finishReasonWithoutDoneSucceeds() async throws {
        let h = Harness(["a": [.stream(200, [], [chunk("Hel"), chunk("lo"), chunk(finish: "stop")])]])
        let stream = try #require(await h.stream().success)
        let items = await drain(stream)
        #expect(failure(items) == nil)
        let e = events(items)
        #expect(text(e) == "Hello")
        #expect(e.last == .done)
        #expect(e.filter { $0 == .done }.count == 1)
        #expect(stream.target.key == "a/m")
        #expect(stream.upstreamCalls == 1)
    }

    @Test func firstCallReturnsTheEventsDecodedBeforeHandOff() async throws {
        let h = Harness(["a": [.stream(200, [], [chunk("Hi") + chunk(" there"), chunk(finish: "stop") + doneChunk])]])
        let stream = try #require(await h.stream().success)
        let first = try #require(await stream.next())
        #expect(text(events([first])) == "Hi there")
        let rest = await drain(stream)
        #expect(events(rest).last == .done)
        #expect(await stream.next() == nil)
    }

    @Test func doneMarkerEndsOnceAfterCompletion() async throws {
        let h = Harness(["a": [.stream(200, [], [chunk("a"), chunk(finish: "stop"), doneChunk])]])
        let items = await drain(try #require(await h.stream().success))
        #expect(events(items).filter { $0 == .done }.count == 1)
        #expect(failure(items) == nil)
    }

    @Test func malformedEventIsSkippedAndCounted() async throws {
        let h = Harness([
            "a": [.stream(200, [], [chunk("a"), bytes("data: {not json\n\n"), chunk("b"), chunk(finish: "stop")])]
        ])
        let stream = try #require(await h.stream().success)
        let items = await drain(stream)
        #expect(failure(items) == nil)
        #expect(text(events(items)) == "ab")
        #expect(stream.malformedEvents == 1)
        #expect(h.observer.events.contains("malformed a/m 1"))
    }

    @Test(arguments: [
        ("head then reset", Reply.stream(200, [], [], then: .transport("reset")), 2),
        ("first-byte timeout", Reply.fail(.timeout(.firstByte)), 1),
        ("503 head", Reply.http(503, [], errorBody()), 2),
        ("empty body", Reply.stream(200, [], []), 2),
        ("DONE before any event", Reply.stream(200, [], [doneChunk]), 2),
        (
            "error event first",
            Reply.stream(200, [], [bytes(#"data: {"error":{"message":"x","type":"server_error"}}"# + "\n\n")]), 2
        ),
        ("401", Reply.http(401, [], errorBody(code: "invalid_api_key")), 1),
    ])
    func failureBeforeFirstEventFallsBack(name: String, reply: Reply, callsOnPrimary: Int) async throws {
        let h = Harness(["a": [reply, reply], "b": [.stream(200, [], [chunk("ok"), chunk(finish: "stop")])]])
        let stream = try #require(await h.stream().success)
        #expect(stream.target.key == "b/m")
        #expect(h.upstream.hosts == Array(repeating: "a", count: callsOnPrimary) + ["b"])
        #expect(stream.upstreamCalls == callsOnPrimary + 1)
        #expect(text(events(await drain(stream))) == "ok")
    }

    @Test func midStreamDropFailsWithTruncated() async throws {
        let h = Harness(["a": [.stream(200, [], [chunk("a")], then: .transport("reset"))], "b": [ok]])
        let stream = try #require(await h.stream().success)
        let items = await drain(stream)
        #expect(text(events(items)) == "a")
        #expect(failure(items)?.code == "upstream_stream_truncated")
        #expect(failure(items)?.type == "server_error")
        if case .failed = items.last {} else { Issue.record("failure must be last") }
        #expect(h.upstream.hosts == ["a"])
    }

    @Test func stallFailsWithUpstreamTimeout() async throws {
        let h = Harness(["a": [.stream(200, [], [chunk("a")], then: .timeout(.idle))]])
        let items = await drain(try #require(await h.stream().success))
        #expect(failure(items)?.code == "upstream_timeout")
    }

    @Test(arguments: [
        ("body ends before finish", [chunk("a"), chunk("b")]),
        ("DONE before finish", [chunk("a"), doneChunk]),
    ])
    func truncationBeforeFinishFails(name: String, chunks: [[UInt8]]) async throws {
        let h = Harness(["a": [.stream(200, [], chunks)]])
        let items = await drain(try #require(await h.stream().success))
        #expect(failure(items)?.code == "upstream_stream_truncated")
        #expect(!events(items).contains(.done))
    }

    @Test func errorEventAfterHandOffEndsWithItsMappedError() async throws {
        let err = bytes(
            #"data: {"error":{"message":"slow down","type":"rate_limit_error","code":"rate_limit_exceeded"}}"# + "\n\n")
        let h = Harness(["a": [.stream(200, [], [chunk("a"), err, chunk("never")])]])
        let items = await drain(try #require(await h.stream().success))
        #expect(text(events(items)) == "a")
        let e = try #require(failure(items))
        #expect(e.status == 429)
        #expect(e.type == "rate_limit_error")
        #expect(e.code == "rate_limit_exceeded")
    }

    @Test func errorInTheFirstChunkAfterContentIsReplayedAfterIt() async throws {
        let err = bytes(#"data: {"error":{"message":"boom","type":"server_error"}}"# + "\n\n")
        let h = Harness(["a": [.stream(200, [], [chunk("a") + err])], "b": [ok]])
        let stream = try #require(await h.stream().success)
        let items = await drain(stream)
        #expect(text(events(items)) == "a")
        #expect(failure(items)?.code == "upstream_error")
        #expect(h.upstream.hosts == ["a"])
    }

    @Test func streamTimeoutsMapToTheUpstreamRequest() async throws {
        let t = TargetTimeouts(connect: .seconds(3), firstEvent: .seconds(7), idle: .seconds(20))
        let h = Harness(["a": [.stream(200, [], [chunk("a"), chunk(finish: "stop")])]])
        _ = await drain(try #require(await h.stream([target("a", timeouts: t)]).success))
        let req = h.upstream.calls[0].request
        #expect(req.connectTimeout == .seconds(3))
        #expect(req.firstByteTimeout == .seconds(7))
        #expect(req.idleTimeout == .seconds(20))
        #expect(req.timeout == nil)
        #expect(String(decoding: req.body, as: UTF8.self).contains("include_usage"))
    }

    @Test func streamDeadlineBoundsTheWholeStream() async throws {
        let h = Harness(
            policy: RoutingPolicy(streamDeadline: .seconds(300)),
            ["a": [.stream(200, [], [chunk("a"), chunk(finish: "stop")])]])
        _ = await drain(try #require(await h.stream().success))
        #expect(h.upstream.calls[0].request.timeout == .seconds(300))
    }

    @Test func midStreamFailuresCountForTheBreaker() async throws {
        let policy = RoutingPolicy(breakerFailureThreshold: 2)
        let drop = Reply.stream(200, [], [chunk("a")], then: .transport("reset"))
        let h = Harness(policy: policy, ["a": [drop, drop]])
        for i in 0..<2 { _ = await drain(try #require(await h.stream([target("a")], id: "r\(i)").success)) }
        #expect(h.router.breakerSnapshot()["a/m"] == .open)
    }

    @Test func cancellingTheConsumerStopsTheStream() async throws {
        let h = Harness(["a": [.stream(200, [], [chunk("a")], then: .cancelled)]])
        let stream = try #require(await h.stream().success)
        #expect(await stream.next() != nil)
        let reader = Task { await stream.next() }
        reader.cancel()
        #expect(await reader.value == nil)
        #expect(await stream.next() == nil)
        #expect(h.router.breakerSnapshot()["a/m"] == .closed)
    }

    @Test func cancellationBeforeFirstEventStopsAllWork() async throws {
        let h = Harness(["a": [.hang], "b": [.stream(200, [], [chunk("a"), chunk(finish: "stop")])]])
        let task = Task { await h.stream() }
        while h.upstream.calls.isEmpty { await Task.yield() }
        task.cancel()
        let failure = try #require(await task.value.failure)
        #expect(failure.error.code == "client_cancelled")
        #expect(h.upstream.hosts == ["a"])
    }

    @Test func cancellationWhileWaitingForTheFirstEvent() async throws {
        let h = Harness([
            "a": [.stream(200, [], [], then: .cancelled)],
            "b": [.stream(200, [], [chunk("a"), chunk(finish: "stop")])],
        ])
        let task = Task { await h.stream() }
        while h.upstream.calls.isEmpty { await Task.yield() }
        task.cancel()
        let failure = try #require(await task.value.failure)
        #expect(failure.error.code == "client_cancelled")
        #expect(h.upstream.hosts == ["a"])
    }
}

@Suite struct StreamBreakerTests {
    @Test func aCompletedProbeStreamClosesTheBreaker() async throws {
        let policy = RoutingPolicy(attemptsPerTarget: 1, breakerFailureThreshold: 1)
        let good = Reply.stream(200, [], [chunk("a"), chunk(finish: "stop")])
        let h = Harness(policy: policy, ["a": [.http(503, [], errorBody()), good], "b": [good]])
        _ = await drain(try #require(await h.stream(id: "trip").success))
        #expect(h.router.breakerSnapshot()["a/m"] == .open)
        h.clock.advance(.seconds(15))
        let probe = try #require(await h.stream(id: "probe").success)
        #expect(probe.target.key == "a/m")
        // Half-open until the probe stream has completed.
        #expect(h.router.breakerSnapshot()["a/m"] == .halfOpen)
        _ = await drain(probe)
        #expect(h.router.breakerSnapshot()["a/m"] == .closed)
    }

    @Test func droppingAProbeStreamReleasesTheProbe() async throws {
        let policy = RoutingPolicy(attemptsPerTarget: 1, breakerFailureThreshold: 1)
        let open = Reply.stream(200, [], [chunk("a")], then: .cancelled)
        let h = Harness(
            policy: policy,
            [
                "a": [.http(503, [], errorBody()), open, open],
                "b": [.stream(200, [], [chunk("b"), chunk(finish: "stop")])],
            ])
        _ = await drain(try #require(await h.stream(id: "trip").success))
        h.clock.advance(.seconds(15))
        do {
            let probe = try #require(await h.stream(id: "probe").success)
            #expect(probe.target.key == "a/m")
        }
        // The dropped probe settled as abandoned: the next request may probe again.
        let next = try #require(await h.stream(id: "next").success)
        #expect(next.target.key == "a/m")
    }
}
