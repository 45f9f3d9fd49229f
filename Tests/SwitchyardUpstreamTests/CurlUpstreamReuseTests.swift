import SwitchyardCore
import SwitchyardTestSupport
import SwitchyardUpstream
import Synchronization
import Testing

@testable import SwitchyardLoop

/// An easy handle keeps its options from one transfer to the next (only a failed transfer's
/// handle is reset): what one request set must never reach the next. And kept-alive connections:
/// one the server closed while idle must be replaced, slow answers share one.
@Suite("CurlUpstream reuses handles and connections")
struct CurlUpstreamReuseTests {
    /// One handle (`maxIdleEasyHandles: 1`) carries every request in turn: each arrives with its
    /// own method, path, query and body, whatever the one before it set.
    @Test func oneHandleCarriesEveryKindOfRequestInTurn() async throws {
        let config = CurlUpstream.Configuration(maxIdleEasyHandles: 1)
        try await withUpstream(handler: { r in .text("\(r.method) \(r.path) \(r.body.count)") }, configuration: config)
        {
            server, upstream in
            let big = String(repeating: "b", count: 100 << 10)  // past the POSTFIELDS limit: read callback
            let steps: [(method: String, path: String, body: String)] = [
                ("POST", "/v1/a", "{\"x\":1}"),
                ("GET", "/v1/models", ""),
                ("PUT", "/v1/b?k=v", "put"),
                ("POST", "/v1/a", ""),
                ("POST", "/v1/c", big),
                ("GET", "/v1/models?page=2", ""),
                ("PATCH", "/v1/d", big),
                ("DELETE", "/v1/e", ""),
                ("POST", "/v1/a", "{\"y\":2}"),
            ]
            for (i, step) in steps.enumerated() {
                let r = try await upstream.perform(request(server, step.path, method: step.method, body: step.body))
                let path = String(step.path.prefix { $0 != "?" })
                #expect(r.head.status == 200)
                #expect(r.body.text == "\(step.method) \(path) \(step.body.utf8.count)", "step \(i)")
                let seen = server.requests[i]
                #expect(seen.method == step.method, "step \(i)")
                #expect(seen.path == path, "step \(i)")
                #expect(
                    seen.query == (step.path.contains("?") ? String(step.path.drop { $0 != "?" }.dropFirst()) : nil))
                #expect(seen.bodyText == step.body, "step \(i)")
            }
            #expect(server.acceptedConnections == 1)
        }
    }

    /// A HEAD request's handle answers the next GET with its body.
    @Test func aHeadRequestLeavesNothingBehind() async throws {
        let config = CurlUpstream.Configuration(maxIdleEasyHandles: 1)
        try await withUpstream(handler: { _ in .text("body") }, configuration: config) { server, upstream in
            let head = try await upstream.perform(request(server, method: "HEAD"))
            #expect(head.head.status == 200)
            #expect(head.body.isEmpty)
            let get = try await upstream.perform(request(server, method: "GET"))
            #expect(get.body.text == "body")
            #expect(server.requests.map(\.method) == ["HEAD", "GET"])
        }
    }

    /// A URL curl refuses fails as before on a handle that served a good URL, and the handle then
    /// serves the good URL again.
    @Test func aMalformedURLFailsAndTheHandleRecovers() async throws {
        let config = CurlUpstream.Configuration(maxIdleEasyHandles: 1)
        try await withUpstream(handler: { _ in .text("ok") }, configuration: config) { server, upstream in
            let first = try await upstream.perform(request(server))
            #expect(first.body.text == "ok")
            var bad = request(server)
            bad.url = "http://127.0.0.1:99999999/v1/test"
            let f = await failure { () async throws(UpstreamFailure) in try await upstream.perform(bad) }
            #expect(f?.kind == "connect")
            let again = try await upstream.perform(request(server))
            #expect(again.body.text == "ok")
            #expect(server.requestCount == 2)
        }
    }

    /// curl counts its own re-sends on a handle (five, then it gives up with another error) and
    /// only curl_easy_reset clears the count: a handle is reset after every failed transfer, so
    /// each reset of a reused connection is reported the same way, however often it happens.
    @Test func everyRefusedResendIsReportedAlike() async throws {
        let failing = Atomic<Bool>(false)
        let handler: MockHTTPServer.Handler = { _ in
            failing.load(ordering: .relaxed) ? MockResponse(beforeHead: [.reset]) : .text("ok")
        }
        let config = CurlUpstream.Configuration(maxIdleEasyHandles: 1)
        try await withUpstream(handler: handler, configuration: config) { server, upstream in
            for round in 1...7 {
                failing.store(false, ordering: .relaxed)
                let ok = try await upstream.perform(request(server))
                #expect(ok.body.text == "ok")
                failing.store(true, ordering: .relaxed)
                let f = await failure { () async throws(UpstreamFailure) in try await upstream.perform(request(server))
                }
                #expect(f == .transport("connection closed before any response (not re-sent)"), "round \(round)")
                #expect(server.requestCount == 2 * round)
            }
        }
    }

    /// The server closes each connection right after its answer; the next request, which waits
    /// for its answer (the server pauses before it), goes out on a new connection, usually
    /// under the same descriptor number as the closed one.
    @Test func aConnectionClosedWhileIdleIsReplaced() async throws {
        let handler: MockHTTPServer.Handler = { _ in
            MockResponse(
                headers: [HeaderField("Content-Type", "text/plain")], body: .bytes(Array("ok".utf8)),
                beforeHead: [.pause(.milliseconds(20))], closeAfterwards: true)
        }
        try await withUpstream(handler: handler) { server, upstream in
            for round in 1...5 {
                let r = try await upstream.perform(request(server, timeout: .seconds(20)))
                #expect(r.body.text == "ok")
                await server.waitForClosedConnections(round)
                #expect(server.acceptedConnections == round)
            }
            let s = try await upstream.stream(request(server, timeout: .seconds(20)))
            var text = ""
            for try await chunk in s.body { text += chunk.text }
            #expect(text == "ok")
            #expect(server.acceptedConnections == 6)
        }
    }

    /// A kept-alive connection joins the loop's epoll set once: between requests it stays there
    /// (curl's cache holds it), where adding and removing it again cost two system calls a request.
    /// When the server then closes it while idle, the next request still gets its answer.
    @Test func aKeptAliveConnectionIsWatchedOnceAcrossRequests() async throws {
        let closeNext = Atomic<Bool>(false)
        let handler: MockHTTPServer.Handler = { r in
            MockResponse(
                headers: [HeaderField("Content-Type", "text/plain")], body: .bytes(r.body),
                closeAfterwards: closeNext.load(ordering: .relaxed))
        }
        let group = try EventLoopGroup(count: 1)
        let loop = group.loops[0]
        let server = try MockHTTPServer(handler: handler)
        let upstream = try CurlUpstream(loops: group)
        defer {
            upstream.shutdown()
            server.stop()
            group.shutdown()
        }
        let before = loop.executeAndWait { loop.registrations }
        for i in 0..<10 {
            let r = try await upstream.perform(request(server, body: "n\(i)"))
            #expect(r.body.text == "n\(i)")
        }
        let after = loop.executeAndWait { loop.registrations }
        #expect(server.acceptedConnections == 1)
        #expect(after - before == 1, "registrations for 10 requests on one connection")

        #expect(loop.executeAndWait { loop.watchCount } == 1, "the idle connection stays watched")

        closeNext.store(true, ordering: .relaxed)
        _ = try await upstream.perform(request(server, body: "last on it"))
        await server.waitForClosedConnections(1)
        // The idle socket the server closed reads as ready: it must leave the set, not keep the
        // loop spinning on it (level-triggered) until the next request.
        var watched = 1
        for _ in 0..<2000 where watched != 0 {
            watched = loop.executeAndWait { loop.watchCount }
            if watched != 0 { try await Task.sleep(for: .milliseconds(5)) }
        }
        #expect(watched == 0, "the closed idle connection left the epoll set")
        closeNext.store(false, ordering: .relaxed)
        let replaced = try await upstream.perform(request(server, body: "next"))
        #expect(replaced.body.text == "next")
        #expect(server.acceptedConnections == 2)
    }

    /// Answers that keep the client waiting, one after the other on one kept-alive connection.
    @Test func slowAnswersShareOneConnection() async throws {
        let handler: MockHTTPServer.Handler = { r in
            MockResponse(
                headers: [HeaderField("Content-Type", "text/plain")], body: .bytes(r.body),
                beforeHead: [.pause(.milliseconds(5))])
        }
        try await withUpstream(handler: handler) { server, upstream in
            for i in 0..<20 {
                let r = try await upstream.perform(request(server, body: "n\(i)", timeout: .seconds(20)))
                #expect(r.body.text == "n\(i)")
            }
            #expect(server.acceptedConnections == 1)
        }
    }
}
