import SwitchyardCore
import SwitchyardTestSupport
import SwitchyardUpstream
import Testing

@Suite("CurlUpstream cancellation and shutdown")
struct CurlUpstreamLifecycleTests {
    @Test func cancellingTheCallerAbortsTheTransfer() async throws {
        try await withUpstream(handler: { _ in .headersThenSilence() }) { server, upstream in
            let task = Task { () async throws(UpstreamFailure) -> UpstreamResponse in
                try await upstream.perform(request(server))
            }
            await server.waitForRequests(1)
            #expect(upstream.activeTransfers == 1)
            task.cancel()
            let result = await task.result
            #expect(throws: UpstreamFailure.cancelled) { try result.get() }
            await server.waitForClosedConnections(1)
            #expect(upstream.activeTransfers == 0)
        }
    }

    @Test func cancellingBeforeTheHeadAbortsAStream() async throws {
        let gate = MockGate()  // never opened: the head never comes
        try await withUpstream(handler: { _ in MockResponse(beforeHead: [.waitFor(gate)]) }) { server, upstream in
            let task = Task { () async throws(UpstreamFailure) -> Int in
                try await upstream.stream(request(server)).head.status
            }
            await server.waitForRequests(1)
            task.cancel()
            let result = await task.result
            #expect(throws: UpstreamFailure.cancelled) { try result.get() }
            await server.waitForClosedConnections(1)
            #expect(upstream.activeTransfers == 0)
        }
    }

    /// A process a test spawns while a transfer is in flight (a helper, a PostgreSQL server) holds
    /// none of its sockets, so cancelling the transfer still closes the connection for the server.
    /// Children inherited them once (they are not close-on-exec), and with `--filter Stream` the
    /// test above waited for ever for a close that the PostgreSQL server started meanwhile
    /// prevented. `sleep` opens no socket of its own: any socket it has is inherited.
    @Test func aChildSpawnedMidTransferHoldsNoneOfItsSockets() async throws {
        let gate = MockGate()  // never opened: the transfer stays in flight
        try await withUpstream(handler: { _ in MockResponse(beforeHead: [.waitFor(gate)]) }) { server, upstream in
            let task = Task { () async throws(UpstreamFailure) -> Int in
                try await upstream.stream(request(server)).head.status
            }
            await server.waitForRequests(1)
            let child = try LifeLine()
            let inherited = ChildProcess.openDescriptorKinds(of: child.pid)
            child.kill()  // before waiting for the close, which an inherited socket would hold up
            #expect(!inherited.contains("socket"), "the child holds \(inherited)")
            task.cancel()
            _ = await task.result
            await server.waitForClosedConnections(1)
            #expect(upstream.activeTransfers == 0)
        }
    }

    @Test func droppingTheBodyStreamAbortsTheTransfer() async throws {
        try await withUpstream(handler: { _ in .sse(events: ["data: 1"], then: [.stall]) }) { server, upstream in
            do {
                let streaming = try await upstream.stream(request(server))
                var it = streaming.body.makeAsyncIterator()
                #expect(try await it.next()?.text == "data: 1\n\n")
            }
            await server.waitForClosedConnections(1)
            #expect(upstream.activeTransfers == 0)
        }
    }

    @Test func cancellingTheConsumerTaskAbortsTheTransfer() async throws {
        try await withUpstream(handler: { _ in .sse(events: ["data: 1"], then: [.stall]) }) { server, upstream in
            let streaming = try await upstream.stream(request(server))
            let consumer = Task {
                var chunks = 0
                for try await _ in streaming.body { chunks += 1 }
                return chunks
            }
            await server.waitForRequests(1)
            consumer.cancel()
            _ = try? await consumer.value
            await server.waitForClosedConnections(1)
            #expect(upstream.activeTransfers == 0)
        }
    }

    @Test func alreadyCancelledTaskNeverStarts() async throws {
        try await withUpstream(handler: { _ in .text("ok") }) { server, upstream in
            let gate = MockGate()
            let task = Task { () async throws(UpstreamFailure) -> UpstreamResponse in
                await gate.wait()
                return try await upstream.perform(request(server))
            }
            task.cancel()
            gate.open()
            let result = await task.result
            #expect(throws: UpstreamFailure.cancelled) { try result.get() }
            #expect(upstream.activeTransfers == 0)
        }
    }

    @Test func shutdownFailsOutstandingTransfers() async throws {
        let server = try MockHTTPServer { _ in .headersThenSilence() }
        defer { server.stop() }
        let upstream = try CurlUpstream()
        let tasks = (0..<3).map { _ in
            Task { () async throws(UpstreamFailure) -> UpstreamResponse in try await upstream.perform(request(server)) }
        }
        let streamTask = Task { () async throws(UpstreamFailure) -> [UInt8] in
            try await upstream.stream(request(server)).body.collect()
        }
        await server.waitForRequests(4)
        upstream.shutdown()
        for task in tasks {
            let result = await task.result
            #expect(throws: UpstreamFailure.cancelled) { try result.get() }
        }
        let streamed = await streamTask.result
        #expect(throws: UpstreamFailure.cancelled) { try streamed.get() }
        #expect(upstream.activeTransfers == 0)

        let late = await failure { () async throws(UpstreamFailure) in try await upstream.perform(request(server)) }
        #expect(late == .cancelled)
        upstream.shutdown()  // idempotent
    }
}
