import SwitchyardCore
import SwitchyardTestSupport
import SwitchyardUpstream
import Synchronization
import Testing

/// libcurl re-sends a request by itself when a reused keep-alive connection dies before the first
/// response byte ("Connection died, retrying a fresh connect", up to 5 times). For an LLM API each
/// re-send is another billed generation the router never decided, counted or logged: the
/// transport must send every request exactly once and report the failure instead.
@Suite("CurlUpstream sends each request once")
struct CurlUpstreamResendTests {
    /// Answers 200 until `failing` is set, then reads each request and resets the connection.
    final class Switch: Sendable {
        let failing = Atomic<Bool>(false)
        let gate = Mutex<MockGate?>(nil)
        func respond(_ r: RecordedRequest) -> MockResponse {
            if failing.load(ordering: .relaxed) { return MockResponse(beforeHead: [.reset]) }
            var ok = MockResponse.text("ok")
            if let g = gate.withLock({ $0 }) { ok.beforeHead = [.waitFor(g)] }
            return ok
        }
    }

    /// Opens `n` keep-alive connections to `server` (n requests held at the mock until all arrived).
    func warm(_ n: Int, _ server: MockHTTPServer, _ upstream: CurlUpstream, _ s: Switch) async throws {
        let gate = MockGate()
        s.gate.withLock { $0 = gate }
        try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<n { group.addTask { try await upstream.perform(request(server)).head.status } }
            await server.waitForRequests(n)
            gate.open()
            for try await status in group { #expect(status == 200) }
        }
        s.gate.withLock { $0 = nil }
        #expect(server.acceptedConnections == n)
    }

    @Test(arguments: [1, 4])
    func aResetOnAReusedConnectionIsReportedNotResent(idle: Int) async throws {
        let s = Switch()
        try await withUpstream(handler: s.respond) { server, upstream in
            try await warm(idle, server, upstream, s)
            s.failing.store(true, ordering: .relaxed)
            let f = await failure { () async throws(UpstreamFailure) in try await upstream.perform(request(server)) }
            #expect(f?.kind == "transport")
            #expect(server.requestCount == idle + 1, "the failing request reached the server more than once")

            let g = await failure { () async throws(UpstreamFailure) in try await upstream.stream(request(server)) }
            #expect(g?.kind == "transport")
            #expect(server.requestCount == idle + 2)
        }
    }

    /// Bodies over `Transfer.postFieldsLimit` go out through the read callback instead of
    /// CURLOPT_POSTFIELDS: the same rule holds.
    @Test func aLargeBodyIsNotResentEither() async throws {
        let s = Switch()
        try await withUpstream(handler: s.respond) { server, upstream in
            try await warm(2, server, upstream, s)
            s.failing.store(true, ordering: .relaxed)
            let big = String(repeating: "x", count: 200 << 10)
            let f = await failure { () async throws(UpstreamFailure) in
                try await upstream.perform(request(server, body: big))
            }
            #expect(f?.kind == "transport")
            #expect(server.requestCount == 3)
            #expect(server.requests.last?.body.count == 200 << 10)
        }
    }

    @Test func aResetOnAFreshConnectionIsReportedOnce() async throws {
        let s = Switch()
        s.failing.store(true, ordering: .relaxed)
        try await withUpstream(handler: s.respond) { server, upstream in
            let f = await failure { () async throws(UpstreamFailure) in try await upstream.perform(request(server)) }
            #expect(f?.kind == "transport")
            #expect(server.requestCount == 1)
        }
    }

    @Test func theNextRequestAfterARefusedResendStillWorks() async throws {
        let s = Switch()
        try await withUpstream(handler: s.respond) { server, upstream in
            try await warm(2, server, upstream, s)
            s.failing.store(true, ordering: .relaxed)
            _ = await failure { () async throws(UpstreamFailure) in try await upstream.perform(request(server)) }
            s.failing.store(false, ordering: .relaxed)
            let r = try await upstream.perform(request(server))
            #expect(r.head.status == 200)
            #expect(r.body.text == "ok")
            #expect(server.requestCount == 4)
        }
    }
}
