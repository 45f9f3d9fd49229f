import Glibc
import SwitchyardEdge
import SwitchyardTestSupport
import Synchronization
import Testing

/// Hostile clients at the edge: smuggling, malformed heads, hidden bytes, hang-ups while a handler
/// works, slow heads and bodies, and floods of connections.
@Suite(.timeLimit(.minutes(1)))
struct HostileEdgeTests {
    static let ok: @Sendable (HTTPRequest, HTTPResponder) async -> Void = { request, responder in
        responder.respond(status: 200, headers: ["Content-Type": "text/plain"], body: text(request.path))
    }

    /// True when `body` is the OpenAI error envelope.
    static func isOpenAIError(_ response: RawResponse) -> Bool {
        response.header("content-type") == "application/json" && response.text.hasPrefix(#"{"error":{"message":""#)
            && response.text.contains(#""type":""#)
    }

    /// Every error page libmicrohttpd writes by itself (connection.c, transmit_error_response_len),
    /// one request reaching each.
    static let mhdErrorPages: [(request: String, status: Int)] = [
        ("GET / HTTX/1.1\r\nHost: x\r\n\r\n", 400),  // REQUEST_MALFORMED: bad version token
        ("GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", 400),  // REQUEST_MALFORMED: header line
        ("GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),  // REQ_HTTP_VER_IS_NOT_SUPPORTED
        ("GET / HTTP/0.9\r\nHost: x\r\n\r\n", 505),  // REQ_HTTP_VER_IS_TOO_OLD
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n", 400),  // CONTENTLENGTH_MALFORMED
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413),  // ..._TOOLARGE
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n", 400),  // CHUNKED_MALFORMED
        // CHUNK_TOO_LARGE
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\n", 413),
        ("GET / HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 9000))\r\n\r\n", 431),  // REQUEST_TOO_BIG
        // REQUEST_TOO_BIG before the URL is complete
        ("GET /\(String(repeating: "a", count: 9000)) HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    ]

    @Test(arguments: 0..<mhdErrorPages.count)
    func everyErrorPageOfLibmicrohttpdIsTheOpenAIEnvelope(_ index: Int) async throws {
        let (request, status) = Self.mhdErrorPages[index]
        try await withServer({ $0.maxHeaderBytes = 4096 }, handler: Self.ok) { server in
            let port = server.port
            let response = try await offload { try RawHTTPClient(port: port).roundTrip(request) }
            #expect(response.status == status)
            #expect(Self.isOpenAIError(response), "\(response.headers) \(response.text)")
        }
    }

    @Test func contentLengthWithTransferEncodingIsRefusedAndTheRestIsNeverServed() async throws {
        let paths = Mutex<[String]>([])
        try await withServer(handler: { request, responder in
            paths.withLock { $0.append(request.path) }
            await Self.ok(request, responder)
        }) { server in
            let client = try RawHTTPClient(port: server.port)
            // A front proxy honouring Content-Length would see one request with a 5-byte body; MHD
            // honours Transfer-Encoding and would read "GET /smuggled" as a second request.
            try client.send(
                "POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
            let (response, closed) = try await offload { (try client.readResponse(), try client.closedByServer()) }
            #expect(response.status == 400)
            #expect(response.header("connection")?.lowercased() == "close")
            #expect(Self.isOpenAIError(response))
            #expect(response.text.contains("Content-Length and Transfer-Encoding"))
            #expect(closed)
            #expect(paths.withLock { $0 }.isEmpty)
        }
    }

    static let badFraming: [(head: String, status: Int)] = [
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
        ("POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400),
        ("GET / HTTP/1.1\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer key\u{0}junk\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer key\u{0}\r\nX-Next: 1\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer key\u{0}\r\n\r\n", 400),
        ("GET / HTTP/1.1\nHost: x\nAuthorization: Bearer key\u{0}\n\n", 400),
        ("GET / HTTP/1.1\u{0}x\r\nHost: x\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: x\r\nAuthorization:\u{0}Bearer key\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer key\u{1}\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: x\r\nX-Other: a\u{7F}b\r\n\r\n", 400),
    ]

    @Test(arguments: 0..<badFraming.count)
    func invalidFramingOrFieldsAreRefusedWithoutCallingTheHandler(_ index: Int) async throws {
        let (head, status) = Self.badFraming[index]
        let calls = Atomic<Int>(0)
        try await withServer(handler: { request, responder in
            calls.add(1, ordering: .relaxed)
            await Self.ok(request, responder)
        }) { server in
            let client = try RawHTTPClient(port: server.port)
            try client.send(head)
            let (response, closed) = try await offload { (try client.readResponse(), try client.closedByServer()) }
            #expect(response.status == status)
            #expect(Self.isOpenAIError(response), "\(response.text)")
            #expect(closed)
            #expect(calls.load(ordering: .relaxed) == 0)
        }
    }

    @Test func http10WithoutHostAndTabsInValuesAreFine() async throws {
        try await withServer(handler: Self.ok) { server in
            let port = server.port
            let plain = try await offload { try RawHTTPClient(port: port).roundTrip("GET /old HTTP/1.0\r\n\r\n") }
            #expect(plain.status == 200)
            let tab = try await offload {
                try RawHTTPClient(port: port).roundTrip("GET /tab HTTP/1.1\r\nHost: x\r\nX-A: a\tb\r\n\r\n")
            }
            #expect(tab.status == 200)
            // Bare LF line ends, empty and space-padded values: nothing hidden.
            let lf = try await offload {
                try RawHTTPClient(port: port).roundTrip("GET /lf HTTP/1.1\nHost: x\nX-E:\nX-S: a  \n\n")
            }
            #expect(lf.status == 200)
        }
    }

    @Test func aClientThatHangsUpWhileTheHandlerWorksCancelsItAtOnce() async throws {
        let started = Event<Bool>()
        let cancelled = Atomic<Bool>(false)
        try await withServer(handler: { _, responder in
            started.fire(true)
            await waitUntilCancelled()
            cancelled.store(true, ordering: .relaxed)
            responder.respond(status: 200, headers: [:], body: [])
        }) { server in
            let client = try RawHTTPClient(port: server.port)
            try client.send("POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
            _ = await started.wait()
            client.close()
            // No write happens on this connection: only the watcher can notice.
            try await waitUntil { cancelled.load(ordering: .relaxed) }
            let server = server
            try await waitUntil { server.inFlightRequests == 0 }
        }
    }

    @Test func aHeadTrickledByteByByteIsCutOffAtTheHeaderDeadline() async throws {
        let drops = Mutex<[ConnectionDrop]>([])
        try await withServer(
            {
                $0.headerTimeout = .milliseconds(400)
                $0.onConnectionDropped = { reason in drops.withLock { $0.append(reason) } }
            }, handler: Self.ok
        ) { server in
            let client = try RawHTTPClient(port: server.port)
            // One byte every 50 ms keeps MHD's per-byte idle timeout (1 s at least) from ever firing.
            let closed = try await offload { () -> Bool in
                for byte in "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ".utf8
                    + Array(repeating: UInt8(ascii: "a"), count: 400)
                {
                    do { try client.send([byte]) } catch { return true }
                    usleep(50_000)
                }
                return false
            }
            #expect(closed)
            #expect(drops.withLock { $0 } == [.headerTimeout])
        }
    }

    @Test func aBodyTrickledByteByByteIsCutOffAtTheBodyDeadline() async throws {
        let drops = Mutex<[ConnectionDrop]>([])
        try await withServer(
            {
                $0.bodyTimeout = .milliseconds(400)
                $0.onConnectionDropped = { reason in drops.withLock { $0.append(reason) } }
            }, handler: Self.ok
        ) { server in
            let client = try RawHTTPClient(port: server.port)
            try client.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 400\r\n\r\n")
            let closed = try await offload { () -> Bool in
                for _ in 0..<400 {
                    do { try client.send("a") } catch { return true }
                    usleep(50_000)
                }
                return false
            }
            #expect(closed)
            #expect(drops.withLock { $0 } == [.bodyTimeout])
        }
    }

    /// Part of a request, then the client closes: the FIN comes in the segment that carries the
    /// last bytes. MHD reads its sockets edge-triggered, so it reads the bytes and is never told
    /// of the end; the watcher is, and the connection closes then, not at a deadline (a minute
    /// here; 10 s for a head by default, during which it held a descriptor and its memory).
    static let cutOffRequests = [
        "POST / HTT",  // before the request line is whole
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Le",  // in the head
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"a\"",  // in the body
    ]

    @Test(arguments: 0..<cutOffRequests.count)
    func aRequestCutOffByTheClientsCloseEndsItsConnectionAtOnce(_ index: Int) async throws {
        try await withServer(
            {
                $0.headerTimeout = .seconds(60)
                $0.bodyTimeout = .seconds(60)
            }, handler: Self.ok
        ) { server in
            let client = try RawHTTPClient(port: server.port, timeoutSeconds: 5)
            try client.sendAndFinish(Self.cutOffRequests[index])
            #expect(try await offload { try client.closedByServer() })
            let server = server
            try await waitUntil(seconds: 5) { server.openConnections == 0 }
        }
    }

    /// The same, from many clients at once: some of their bytes and FINs arrive before the
    /// connection is accepted, so the watcher sees the hang-up before MHD has the socket in its
    /// epoll set (a shutdown of the reading side alone, a one-off wake-up, left such sockets open).
    @Test func manyRequestsCutOffAtOnceAllEndTheirConnections() async throws {
        try await withServer({ $0.headerTimeout = .seconds(60) }, handler: Self.ok) { server in
            let port = server.port
            try await offload {
                for _ in 0..<200 {
                    try RawHTTPClient(port: port).sendAndFinish("POST / HTTP/1.1\r\nHost: x\r\nContent-Le")
                }
            }
            let server = server
            try await waitUntil(seconds: 10) { server.openConnections == 0 }
        }
    }

    @Test func anIdleKeepAliveConnectionIsNotMistakenForASlowHead() async throws {
        try await withServer({ $0.headerTimeout = .milliseconds(200) }, handler: Self.ok) { server in
            let client = try RawHTTPClient(port: server.port)
            let first = try await offload { try client.roundTrip("GET /one HTTP/1.1\r\nHost: x\r\n\r\n") }
            #expect(first.status == 200)
            // Idle for several header deadlines (MHD's idle timeout, 60 s, governs idleness).
            try await Task.sleep(for: .milliseconds(1000))
            let second = try await offload { try client.roundTrip("GET /two HTTP/1.1\r\nHost: x\r\n\r\n") }
            #expect(second.text == "/two")
        }
    }

    @Test func slowClientsFillingEverySlotAreDisplacedByNewOnes() async throws {
        let drops = Atomic<Int>(0)
        try await withServer(
            {
                $0.maxConnections = 16
                $0.onConnectionDropped = { if $0 == .displaced { drops.add(1, ordering: .relaxed) } }
            }, handler: Self.ok
        ) { server in
            let port = server.port
            // Three times the limit, each with half a head, never finished.
            var slow: [RawHTTPClient] = []
            for _ in 0..<48 {
                let client = try RawHTTPClient(port: port)
                try? client.send("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")  // past the hard limit MHD closes at once
                slow.append(client)
            }
            for round in 0..<5 {
                let response = try await offload {
                    try RawHTTPClient(port: port).roundTrip("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                }
                #expect(response.status == 200, "round \(round)")
            }
            #expect(drops.load(ordering: .relaxed) > 0)
            withExtendedLifetime(slow) {}
        }
    }

    @Test func aPeerOverItsConnectionCapIsRefusedAtAccept() async throws {
        let drops = Atomic<Int>(0)
        try await withServer(
            {
                $0.maxConnectionsPerLoopbackPeer = 3
                $0.onConnectionDropped = { if $0 == .peerLimit { drops.add(1, ordering: .relaxed) } }
            }, handler: Self.ok
        ) { server in
            let port = server.port
            let held = try (0..<3).map { _ in try RawHTTPClient(port: port) }
            for client in held {
                let response = try await offload { try client.roundTrip("GET / HTTP/1.1\r\nHost: x\r\n\r\n") }
                #expect(response.status == 200)
            }
            let fourth = try RawHTTPClient(port: port)
            try? fourth.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try await offload { try fourth.closedByServer() })
            #expect(drops.load(ordering: .relaxed) == 1)
            // One leaves; a newcomer gets its place.
            held[0].close()
            let server = server
            try await waitUntil { server.openConnections == 2 }
            let fifth = try await offload {
                try RawHTTPClient(port: port).roundTrip("GET /fifth HTTP/1.1\r\nHost: x\r\n\r\n")
            }
            #expect(fifth.text == "/fifth")
        }
    }
}

struct TimedOut: Error {}

/// Polls `condition` every 10 ms until it holds; throws after `seconds` (a generous ceiling: on a
/// loaded machine the event may take a while, but a broken server must fail, not hang).
func waitUntil(seconds: Int = 20, _ condition: @Sendable () -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while !condition() {
        guard ContinuousClock.now < deadline else { throw TimedOut() }
        try await Task.sleep(for: .milliseconds(10))
    }
}
