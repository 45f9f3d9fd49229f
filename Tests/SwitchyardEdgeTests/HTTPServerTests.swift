import Dispatch
import SwitchyardEdge
import SwitchyardTestSupport
import Synchronization
import Testing

@Suite(.timeLimit(.minutes(1)))
struct HTTPServerTests {
    /// Echoes what it received as plain text lines.
    static let echo: @Sendable (HTTPRequest, HTTPResponder) async -> Void = { request, responder in
        let lines = [
            "method=\(request.method)",
            "path=\(request.path)",
            "query=\(request.query)",
            "x-test=\(request.headers["X-Test"] ?? "-")",
            "names=\(request.headers.map(\.name).joined(separator: ","))",
            "body=\(String(decoding: request.body, as: UTF8.self))",
        ]
        responder.respond(
            status: 200, headers: ["Content-Type": "text/plain", "X-Reply": "yes"],
            body: text(lines.joined(separator: "\n")))
    }

    @Test func postRoundTripCarriesMethodPathQueryHeadersAndBody() async throws {
        try await withServer(handler: Self.echo) { server in
            #expect(server.port > 0)
            let port = server.port
            let response = try await offload {
                try RawHTTPClient(port: port).roundTrip(
                    "POST /v1/chat%20x?model=a%20b&stream=true HTTP/1.1\r\nHost: x\r\nX-Test: Hello\r\n"
                        + "Content-Length: 5\r\n\r\nhello")
            }
            #expect(response.status == 200)
            #expect(response.header("x-reply") == "yes")
            #expect(response.header("content-type") == "text/plain")
            let lines = response.text.split(separator: "\n").map(String.init)
            #expect(lines[0] == "method=POST")
            #expect(lines[1] == "path=/v1/chat%20x")
            #expect(lines[2] == "query=model=a%20b&stream=true")
            #expect(lines[3] == "x-test=Hello")
            #expect(lines[4] == "names=host,x-test,content-length")
            #expect(lines[5] == "body=hello")
        }
    }

    /// Runs jobs on a queue of its own and counts them: the large-body executor of the test below.
    final class CountingExecutor: TaskExecutor {
        let jobs = Atomic<Int>(0)
        let queue = DispatchQueue(label: "large-body")

        func enqueue(_ job: consuming ExecutorJob) {
            jobs.add(1, ordering: .relaxed)
            let job = UnownedJob(job)
            queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
        }
    }

    /// A request whose body reaches `largeBodyBytes` runs its handler on `largeBodyExecutor`, off
    /// the connection's loop, and gets the request as received; a smaller one stays on the loop.
    @Test func aLargeBodyIsHandledOnTheLargeBodyExecutorWithTheWholeRequest() async throws {
        let executor = CountingExecutor()
        let large = String((0..<70_000).map { Character(UnicodeScalar(UInt8(0x61 + $0 % 26))) })
        try await withServer(
            {
                $0.largeBodyBytes = 64 * 1024
                $0.largeBodyExecutor = executor
            }, handler: Self.echo
        ) { server in
            let port = server.port
            let small = try await offload {
                try RawHTTPClient(port: port).roundTrip(
                    "POST /small?q=1 HTTP/1.1\r\nHost: x\r\nX-Test: s\r\nContent-Length: 5\r\n\r\nhello")
            }
            #expect(small.status == 200)
            #expect(small.text.hasSuffix("x-test=s\nnames=host,x-test,content-length\nbody=hello"))
            #expect(executor.jobs.load(ordering: .relaxed) == 0)
            let response = try await offload {
                try RawHTTPClient(port: port).roundTrip(
                    "POST /big?q=2 HTTP/1.1\r\nHost: x\r\nX-Test: L\r\nContent-Length: \(large.utf8.count)\r\n\r\n"
                        + large)
            }
            #expect(response.status == 200)
            #expect(
                response.text
                    == "method=POST\npath=/big\nquery=q=2\nx-test=L\nnames=host,x-test,content-length\nbody=\(large)")
            #expect(executor.jobs.load(ordering: .relaxed) >= 1)
        }
    }

    @Test func getWithoutQueryHasEmptyQueryAndBody() async throws {
        try await withServer(handler: Self.echo) { server in
            let port = server.port
            let response = try await offload {
                try RawHTTPClient(port: port).roundTrip("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            }
            #expect(response.status == 200)
            #expect(response.text.contains("method=GET\npath=/health\nquery=\n"))
            #expect(response.text.hasSuffix("body="))
        }
    }

    @Test func oversizedContentLengthGets413WithoutCallingTheHandler() async throws {
        let calls = Atomic<Int>(0)
        try await withServer({ $0.maxBodyBytes = 16 }) { _, responder in
            calls.add(1, ordering: .relaxed)
            responder.respond(status: 200, headers: [:], body: [])
        } _: { server in
            let port = server.port
            // Only the head is sent: the 413 must come without the body being read.
            let response = try await offload {
                try RawHTTPClient(port: port).roundTrip(
                    "POST /v1/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n")
            }
            #expect(response.status == 413)
            #expect(response.header("content-type") == "application/json")
            #expect(response.text.contains(#""code":"request_too_large""#))
            // The server still answers normal requests, and never called the handler for the 413.
            let ok = try await offload {
                try RawHTTPClient(port: port).roundTrip(
                    "POST /v1/x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
            }
            #expect(ok.status == 200)
            #expect(calls.load(ordering: .relaxed) == 1)
        }
    }

    @Test func oversizedChunkedBodyGets413WithoutCallingTheHandler() async throws {
        let calls = Atomic<Int>(0)
        try await withServer({ $0.maxBodyBytes = 16 }) { _, responder in
            calls.add(1, ordering: .relaxed)
            responder.respond(status: 200, headers: [:], body: [])
        } _: { server in
            let port = server.port
            let chunk = "A\r\n0123456789\r\n"
            let response = try await offload {
                try RawHTTPClient(port: port).roundTrip(
                    "POST /v1/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                        + String(repeating: chunk, count: 4) + "0\r\n\r\n")
            }
            #expect(response.status == 413)
            #expect(calls.load(ordering: .relaxed) == 0)
        }
    }

    @Test func chunkedBodyWithinLimitIsDeChunked() async throws {
        try await withServer(handler: Self.echo) { server in
            let port = server.port
            let response = try await offload {
                try RawHTTPClient(port: port).roundTrip(
                    "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
            }
            #expect(response.status == 200)
            #expect(response.text.hasSuffix("body=abcde"))
        }
    }

    @Test func streamedChunksArriveInOrderAsWritten() async throws {
        let (gate, opener) = AsyncStream<Void>.makeStream()
        let writerFinished = Event<Bool>()
        try await withServer(handler: { _, responder in
            let writer = responder.startStream(status: 200, headers: ["Content-Type": "text/event-stream"])
            var gates = gate.makeAsyncIterator()
            writer.write(text("data: 1\n\n"))
            // Chunk 2 is written only after the test has seen chunk 1.
            _ = await gates.next()
            writer.write(text("data: 2\n\n"))
            _ = await gates.next()
            writer.finish()
            writerFinished.fire(true)
        }) { server in
            let client = try RawHTTPClient(port: server.port)
            try client.send("POST /stream HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            let head = try await offload { try client.readHead() }
            #expect(head.status == 200)
            #expect(head.header("transfer-encoding") == "chunked")
            #expect(head.header("content-type") == "text/event-stream")
            let first = try await offload { try client.readChunk() }
            #expect(first == text("data: 1\n\n"))
            #expect(server.openStreams == 1)
            opener.yield()
            let second = try await offload { try client.readChunk() }
            #expect(second == text("data: 2\n\n"))
            opener.yield()
            let end = try await offload { try client.readChunk() }
            #expect(end.isEmpty)
            #expect(await writerFinished.wait())
            #expect(server.openStreams == 0)
            #expect(server.inFlightRequests == 0)
        }
    }

    /// A stream whose handler wrote and finished it before the head went out is sent as one
    /// response framed by Content-Length (one send instead of three), on a connection kept open.
    @Test func aStreamThatEndedBeforeItsHeadWentOutIsSentWhole() async throws {
        try await withServer(handler: { request, responder in
            let writer = responder.startStream(status: 200, headers: ["Content-Type": "text/event-stream"])
            writer.write(text("data: 1\n\n"))
            writer.write(text("data: \(request.path)\n\n"))
            writer.finish()
        }) { server in
            let client = try RawHTTPClient(port: server.port)
            for path in ["/a", "/bb"] {
                let response = try await offload {
                    try client.roundTrip("POST \(path) HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
                }
                #expect(response.status == 200)
                #expect(response.header("content-type") == "text/event-stream")
                #expect(response.header("transfer-encoding") == nil)
                #expect(response.header("content-length") == "\(17 + path.utf8.count)")
                #expect(response.body == text("data: 1\n\ndata: \(path)\n\n"))
            }
            #expect(server.openStreams == 0)
            try await waitUntil { server.inFlightRequests == 0 }
        }
    }

    @Test func clientDisconnectMidStreamCancelsHandlerAndFailsWrites() async throws {
        let started = Event<Bool>()
        let outcome = Event<(cancelled: Bool, writeAccepted: Bool, gone: Bool)>()
        try await withServer({ $0.heartbeatInterval = .milliseconds(50) }) { _, responder in
            let writer = responder.startStream(status: 200, headers: ["Content-Type": "text/event-stream"])
            writer.write(text("data: hello\n\n"))
            started.fire(true)
            // The heartbeat write is what makes MHD notice the closed socket.
            await waitUntilCancelled()
            let accepted = writer.write(text("data: too late\n\n"))
            outcome.fire((Task.isCancelled, accepted, writer.isClientGone))
        } _: { server in
            let client = try RawHTTPClient(port: server.port)
            try client.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
            _ = try await offload { try client.readHead() }
            #expect(try await offload { try client.readChunk() } == text("data: hello\n\n"))
            _ = await started.wait()
            client.close()
            let result = await outcome.wait()
            #expect(result.cancelled)
            #expect(!result.writeAccepted)
            #expect(result.gone)
        }
    }

    @Test func slowLorisIsCutOffByTheConnectionTimeout() async throws {
        try await withServer({ $0.connectionTimeoutSeconds = 1 }, handler: Self.echo) { server in
            let port = server.port
            let slow = try RawHTTPClient(port: port)
            try slow.send("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: a")
            // Meanwhile others are served.
            let ok = try await offload { try RawHTTPClient(port: port).roundTrip("GET / HTTP/1.1\r\nHost: x\r\n\r\n") }
            #expect(ok.status == 200)
            // The server hangs up on the half-sent request (the read returns at EOF, not by time).
            #expect(try await offload { try slow.readsEOF() })
        }
    }

    @Test func streamToAClientThatStopsReadingIsDroppedNotBufferedForever() async throws {
        let outcome = Event<(writes: Int, cancelled: Bool)>()
        try await withServer(handler: { _, responder in
            let writer = responder.startStream(status: 200, headers: [:])
            let megabyte = [UInt8](repeating: 0x61, count: 1 << 20)
            var writes = 0
            while writes < 256, writer.write(megabyte) { writes += 1 }
            await waitUntilCancelled()
            outcome.fire((writes, Task.isCancelled))
        }) { server in
            let client = try RawHTTPClient(port: server.port)
            try client.send("GET /firehose HTTP/1.1\r\nHost: x\r\n\r\n")
            let result = await outcome.wait()
            #expect(result.writes < 256)
            #expect(result.cancelled)
            #expect(server.openStreams == 0)
        }
    }

    @Test func keepAliveServesTwoRequestsOnOneConnection() async throws {
        try await withServer(handler: Self.echo) { server in
            let client = try RawHTTPClient(port: server.port)
            let first = try await offload { try client.roundTrip("GET /one HTTP/1.1\r\nHost: x\r\n\r\n") }
            let second = try await offload {
                try client.roundTrip("POST /two HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
            }
            #expect(first.status == 200 && first.text.contains("path=/one"))
            #expect(second.status == 200 && second.text.contains("path=/two") && second.text.hasSuffix("body=hi"))
        }
    }

    @Test func hundredConcurrentRequestsAreAllInFlightAtOnceAndAllAnswered() async throws {
        let count = 100
        let arrived = Atomic<Int>(0)
        let allArrived = Event<Bool>()
        try await withServer(handler: { request, responder in
            if arrived.add(1, ordering: .relaxed).newValue == count { allArrived.fire(true) }
            // Nobody is answered until all 100 handlers run at the same time.
            _ = await allArrived.wait()
            responder.respond(status: 200, headers: [:], body: text(request.path))
        }) { server in
            let port = server.port
            let clients = try (0..<count).map { _ in try RawHTTPClient(port: port) }
            for (index, client) in clients.enumerated() {
                try client.send("GET /r\(index) HTTP/1.1\r\nHost: x\r\n\r\n")
            }
            _ = await allArrived.wait()
            let bodies = try await offload { try clients.map { try $0.readResponse().text } }
            #expect(bodies == (0..<count).map { "/r\($0)" })
            #expect(server.inFlightRequests == 0)
        }
    }

    @Test(arguments: [
        "GET / HTTX/1.1\r\n\r\n",
        "GET / HTTP/1.1 trailing\r\n\r\n",
        "\u{1}\u{2} / HTTP/1\r\n\r\n",
        "GET / HTTP/1.1\r\nNoColon\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n",
    ])
    func malformedRequestGets400AndServerKeepsServing(garbage: String) async throws {
        try await withServer(handler: Self.echo) { server in
            let port = server.port
            let response = try await offload { try RawHTTPClient(port: port).roundTrip(garbage) }
            #expect(response.status == 400)
            let ok = try await offload { try RawHTTPClient(port: port).roundTrip("GET / HTTP/1.1\r\nHost: x\r\n\r\n") }
            #expect(ok.status == 200)
        }
    }

    /// A request line without a space is beyond MHD 0.9.75's parser: it hangs up without a
    /// status. The server must survive it all the same.
    @Test(arguments: ["GARBAGE\r\n\r\n", "GET\r\n\r\n", "GET  \r\n\r\n"])
    func unparsableRequestLineIsClosedAndServerKeepsServing(garbage: String) async throws {
        try await withServer(handler: Self.echo) { server in
            let port = server.port
            let client = try RawHTTPClient(port: port)
            try client.send(garbage)
            let closedOr4xx = try await offload { () -> Bool in
                if try client.readsEOF() { return true }
                return try (400..<500).contains(client.readHead().status)
            }
            #expect(closedOr4xx)
            let ok = try await offload { try RawHTTPClient(port: port).roundTrip("GET / HTTP/1.1\r\nHost: x\r\n\r\n") }
            #expect(ok.status == 200)
        }
    }

    @Test func oversizedHeadersGet431() async throws {
        try await withServer({ $0.maxHeaderBytes = 4096 }, handler: Self.echo) { server in
            let port = server.port
            let big = String(repeating: "a", count: 8000)
            let response = try await offload {
                try RawHTTPClient(port: port).roundTrip("GET / HTTP/1.1\r\nHost: x\r\nX-Big: \(big)\r\n\r\n")
            }
            #expect(response.status == 431)
        }
    }

    @Test func unknownMethodReachesTheHandler() async throws {
        try await withServer(handler: { request, responder in
            responder.respond(status: request.method == "BREW" ? 405 : 200, headers: ["Allow": "GET"], body: [])
        }) { server in
            let port = server.port
            let response = try await offload {
                try RawHTTPClient(port: port).roundTrip("BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n")
            }
            #expect(response.status == 405)
            #expect(response.header("allow") == "GET")
        }
    }

    @Test func handlerWithoutAnswerGets500() async throws {
        try await withServer(handler: { _, _ in }) { server in
            let port = server.port
            let response = try await offload {
                try RawHTTPClient(port: port).roundTrip("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            }
            #expect(response.status == 500)
            #expect(response.text.contains(#""type":"server_error""#))
            // The request leaves the in-flight count in MHD's completion callback, which runs just
            // after the answer's bytes are written: the client may have read them a moment before.
            try await waitUntil { server.inFlightRequests == 0 }
        }
    }

    @Test func heartbeatBytesAppearOnAnIdleStream() async throws {
        try await withServer({ $0.heartbeatInterval = .milliseconds(100) }) { _, responder in
            let writer = responder.startStream(status: 200, headers: ["Content-Type": "text/event-stream"])
            await waitUntilCancelled()
            writer.finish()
        } _: { server in
            // A generous read ceiling (it returns as soon as bytes arrive): in CI's second run, beside
            // hundreds of PostgreSQL-backed tests and `serve` processes on two cores, 10 s went by
            // once before the head or the first heartbeat was read.
            let client = try RawHTTPClient(port: server.port, timeoutSeconds: 25)
            try client.send("GET /idle HTTP/1.1\r\nHost: x\r\n\r\n")
            _ = try await offload { try client.readHead() }
            // Nothing is written by the handler: whatever arrives is the heartbeat.
            let chunk = try await offload { try client.readChunk() }
            #expect(chunk == text(": keep-alive\n\n"))
        }
    }

    @Test func stopIsIdempotentClosesThePortAndCancelsOpenWork() async throws {
        let cancelled = Event<Bool>()
        let streaming = Event<Bool>()
        let server = try HTTPServer(
            configuration: HTTPServerConfiguration(),
            handler: ClosureHandler { request, responder in
                if request.path == "/stream" {
                    let writer = responder.startStream(status: 200, headers: [:])
                    writer.write(text("x"))
                    streaming.fire(true)
                }
                await waitUntilCancelled()
                cancelled.fire(true)
                responder.respond(status: 200, headers: [:], body: [])
            })
        try server.start()
        let port = server.port
        // One connection suspended in a handler, one suspended in an idle stream.
        let waiting = try RawHTTPClient(port: port)
        try waiting.send("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
        let stream = try RawHTTPClient(port: port)
        try stream.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        _ = await streaming.wait()
        server.stop()
        server.stop()
        #expect(await cancelled.wait())
        #expect(connectionRefused(port: port))
        #expect(server.openStreams == 0)
        #expect(server.inFlightRequests == 0)
    }

    @Test func quiesceRefusesNewConnectionsButServesOpenOnes() async throws {
        try await withServer(handler: Self.echo) { server in
            let port = server.port
            let client = try RawHTTPClient(port: port)
            let before = try await offload { try client.roundTrip("GET /a HTTP/1.1\r\nHost: x\r\n\r\n") }
            #expect(before.status == 200)
            server.quiesce()
            #expect(connectionRefused(port: port))
            let after = try await offload { try client.roundTrip("GET /b HTTP/1.1\r\nHost: x\r\n\r\n") }
            #expect(after.status == 200)
        }
    }

    /// Drain waits for `inFlightRequests == 0`, so an answer must count until MHD has sent it, not
    /// merely until the handler queued it: a client still reading a large answer keeps it at 1.
    /// Answers queued while draining carry `Connection: close`.
    @Test(arguments: [false, true])
    func anAnswerStaysInFlightUntilSentAndClosesTheConnectionWhileDraining(streamed: Bool) async throws {
        let size = 12 << 20
        let answered = Event<Bool>()
        try await withServer(handler: { request, responder in
            let block = [UInt8](repeating: 0x61, count: 1 << 20)
            if request.path == "/small" {
                responder.respond(status: 200, headers: [:], body: block)
                return
            }
            if streamed {
                let writer = responder.startStream(status: 200, headers: [:])
                for _ in 0..<(size >> 20) { writer.write(block) }
            } else {
                responder.respond(status: 200, headers: [:], body: [UInt8](repeating: 0x61, count: size))
            }
            answered.fire(true)
        }) { server in
            let client = try RawHTTPClient(port: server.port)
            let port = server.port
            let before = try await offload {
                try RawHTTPClient(port: port).roundTrip("GET /small HTTP/1.1\r\nHost: x\r\n\r\n")
            }
            #expect(before.header("connection") == nil)
            _ = try await offload { try client.roundTrip("GET /small HTTP/1.1\r\nHost: x\r\n\r\n") }
            server.quiesce()
            try client.send("GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            _ = await answered.wait()
            // The client has read nothing: 12 MiB cannot have left through the socket buffers.
            #expect(server.inFlightRequests == 1)
            #expect(server.openStreams == 0 || streamed)
            let response = try await offload { try client.readResponse() }
            #expect(response.body.count == size)
            #expect(response.header("connection")?.lowercased() == "close")
            #expect(try await offload { try client.readsEOF() })
            while server.inFlightRequests > 0 { await Task.yield() }
            #expect(server.openStreams == 0)
        }
    }

    @Test func bindingAPortInUseFailsWithAClearMessage() async throws {
        try await withServer(handler: Self.echo) { server in
            var configuration = HTTPServerConfiguration()
            configuration.port = UInt16(server.port)
            let second = try HTTPServer(configuration: configuration, handler: ClosureHandler(body: Self.echo))
            #expect(throws: HTTPServerError(.addressInUse, "address already in use: 127.0.0.1:\(server.port)")) {
                try second.start()
            }
        }
    }

    @Test func invalidHostIsRejected() {
        var configuration = HTTPServerConfiguration()
        configuration.host = "localhost"
        #expect(throws: HTTPServerError.self) {
            try HTTPServer(configuration: configuration, handler: ClosureHandler(body: Self.echo))
        }
    }

    @Test func servesOnIPv6Loopback() async throws {
        try await withServer({ $0.host = "::1" }, handler: Self.echo) { server in
            #expect(server.port > 0)
        }
    }
}
