import SwitchyardCore
import SwitchyardTestSupport
import SwitchyardUpstream
import Testing

@Suite("CurlUpstream.perform")
struct CurlUpstreamPerformTests {
    @Test func returnsStatusHeadersAndBodyAndSendsTheRequest() async throws {
        let handler: MockHTTPServer.Handler = { _ in
            .json(status: 201, ["ok": true], headers: [HeaderField("X-Test", "yes")])
        }
        try await withUpstream(handler: handler) { server, upstream in
            let req = request(
                server, "/v1/chat?key=1&b=2", body: #"{"q":1}"#,
                headers: [
                    HeaderField("Authorization", "Bearer sk-test"), HeaderField("Content-Type", "application/json"),
                ])
            let response = try await upstream.perform(req)
            #expect(response.head.status == 201)
            #expect(response.head.headers.value(for: "x-test") == "yes")
            #expect(response.head.headers.value(for: "Content-Type") == "application/json")
            #expect(response.body.text == #"{"ok":true}"#)

            let recorded = try #require(server.requests.first)
            #expect(recorded.method == "POST")
            #expect(recorded.path == "/v1/chat")
            #expect(recorded.query == "key=1&b=2")
            #expect(recorded.headers.value(for: "authorization") == "Bearer sk-test")
            #expect(recorded.headers.value(for: "content-type") == "application/json")
            #expect(recorded.headers.value(for: "content-length") == "7")
            #expect(recorded.headers.value(for: "expect") == nil)
            #expect(recorded.bodyText == #"{"q":1}"#)
            #expect(upstream.activeTransfers == 0)
        }
    }

    /// A buffered answer is read up to `maxResponseBytes` and no further: one byte more fails the
    /// call as a transport failure (the router's cue to try the next target) instead of growing
    /// the gateway's memory with whatever the upstream sends.
    @Test func answersLargerThanTheLimitFailAsTransport() async throws {
        let limit = 64 * 1024
        let handler: MockHTTPServer.Handler = { r in
            .text(String(repeating: "x", count: r.path == "/big" ? limit + 1 : limit))
        }
        try await withUpstream(handler: handler, configuration: .init(maxResponseBytes: limit)) { server, upstream in
            let atLimit = try await upstream.perform(request(server, "/fits"))
            #expect(atLimit.body.count == limit)
            await #expect(
                throws: UpstreamFailure.transport("the answer is larger than \(limit) bytes (not read further)")
            ) {
                _ = try await upstream.perform(request(server, "/big"))
            }
            #expect(try await upstream.perform(request(server, "/fits")).body.count == limit)
            #expect(upstream.activeTransfers == 0)
        }
    }

    @Test func getSendsNoBodyAndNoContentType() async throws {
        try await withUpstream(handler: { _ in .text("pong") }) { server, upstream in
            let response = try await upstream.perform(request(server, "/ping", method: "GET"))
            #expect(response.body.text == "pong")
            let recorded = try #require(server.requests.first)
            #expect(recorded.method == "GET")
            #expect(recorded.body.isEmpty)
            #expect(recorded.headers.value(for: "content-type") == nil)
        }
    }

    @Test func otherMethodsAndEmptyHeaderValues() async throws {
        try await withUpstream(handler: { _ in MockResponse(status: 204) }) { server, upstream in
            let req = request(server, method: "PUT", body: "x", headers: [HeaderField("X-Empty", "")])
            let response = try await upstream.perform(req)
            #expect(response.head.status == 204)
            #expect(response.body.isEmpty)
            let recorded = try #require(server.requests.first)
            #expect(recorded.method == "PUT")
            #expect(recorded.bodyText == "x")
            #expect(recorded.headers.value(for: "x-empty") == "")
            #expect(recorded.headers.value(for: "content-type") == nil)
        }
    }

    @Test func sequentialRequestsReuseOneConnection() async throws {
        try await withUpstream(handler: { r in .text("n=\(r.bodyText)") }) { server, upstream in
            for i in 0..<50 {
                let response = try await upstream.perform(request(server, body: "\(i)"))
                #expect(response.body.text == "n=\(i)")
            }
            #expect(server.requestCount == 50)
            #expect(server.acceptedConnections == 1)
        }
    }

    @Test func twoMebibyteBodyIsSentWithoutExpectContinue() async throws {
        let body = (0..<(2 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try await withUpstream(handler: { r in .text("\(r.body.count)") }) { server, upstream in
            var req = request(server)
            req.body = body
            let response = try await upstream.perform(req)
            #expect(response.body.text == "\(2 << 20)")
            let recorded = try #require(server.requests.first)
            // No `Expect: 100-continue` on the wire means curl never waited for a 100 (its 1 s
            // stall); the header itself is the evidence, not a timing.
            #expect(recorded.headers.value(for: "expect") == nil)
            #expect(recorded.body == body)
        }
    }

    @Test func chunkedRequestBodyIsDecodedByTheMock() async throws {
        try await withUpstream(handler: { _ in .text("ok") }) { server, upstream in
            let req = request(server, body: "hello chunked", headers: [HeaderField("Transfer-Encoding", "chunked")])
            _ = try await upstream.perform(req)
            let recorded = try #require(server.requests.first)
            #expect(recorded.headers.value(for: "transfer-encoding") == "chunked")
            #expect(recorded.bodyText == "hello chunked")
        }
    }

    @Test func twoHundredConcurrentRequestsAllComplete() async throws {
        try await withUpstream(handler: { r in .text("echo:\(r.bodyText)") }) { server, upstream in
            let bodies = try await withThrowingTaskGroup(of: (Int, String).self) { group in
                for i in 0..<200 {
                    group.addTask {
                        let response = try await upstream.perform(request(server, body: "\(i)"))
                        return (i, response.body.text)
                    }
                }
                var out: [Int: String] = [:]
                for try await (i, text) in group { out[i] = text }
                return out
            }
            #expect(bodies.count == 200)
            for i in 0..<200 { #expect(bodies[i] == "echo:\(i)") }
            #expect(server.requestCount == 200)
            #expect(upstream.activeTransfers == 0)
        }
    }
}
