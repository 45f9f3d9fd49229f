import Foundation
import Glibc
import SwitchyardCore
import SwitchyardTestSupport
import Synchronization
import Testing

/// Hostile clients against the real `switchyard` binary with a mock upstream: hang-ups before the
/// first upstream byte, slow clients, request smuggling, malformed heads, hidden bytes in
/// Authorization, a missing Host, a large body sent next to a small request, and a log reader that
/// stops reading or exits.
@Suite(.timeLimit(.minutes(3)))
struct HostileEdgeProcessTests {
    /// The binary on a fresh config in front of `mock`; `limits` is a YAML flow mapping.
    struct Gateway {
        let process: SwitchyardProcess
        let port: Int
        let config: String
        let store: String

        /// `descriptorLimit`: the process runs under `prlimit --nofile` (which execs it: same pid).
        /// `logReaderQuitsAfter`: its stderr goes through `dd bs=1 count=N`, which passes the first N
        /// bytes on and exits, so later writes find no reader (bash execs it: same pid).
        init(
            mock: MockHTTPServer, limits: String = "{}", descriptorLimit: Int? = nil, logReaderQuitsAfter: Int? = nil
        ) async throws {
            config = NSTemporaryDirectory() + "switchyard-hostile-\(UUID().uuidString).yaml"
            store = temporaryStorePath("hostile")
            try """
            listen: 127.0.0.1:0
            health_check_ms: 0
            auth: {keys: [{name: app, key_env: TEST_CLIENT_KEY}]}
            providers:
              - {name: openai, kind: openai, base_url: "\(mock.url("/v1"))", api_key_env: TEST_PROVIDER_KEY}
            models:
              - {name: m, targets: [{provider: openai, model: gpt-4o-mini}]}
            store: \(TestStore.yaml(store))
            limits: \(limits)
            """.write(toFile: config, atomically: true, encoding: .utf8)
            let binary = try #require(SwitchyardProcess.binaryPath())
            let command = ["serve", "--config", config]
            let (path, arguments): (String, [String]) =
                if let descriptorLimit {
                    ("/usr/bin/prlimit", ["--nofile=\(descriptorLimit)", binary] + command)
                } else if let bytes = logReaderQuitsAfter {
                    ("/bin/bash", ["-c", Self.logThrough(bytes), binary] + command)
                } else {
                    (binary, command)
                }
            process = try SwitchyardProcess(
                path: path, arguments: arguments,
                environment: ["TEST_CLIENT_KEY": TestSecrets.client, "TEST_PROVIDER_KEY": TestSecrets.provider]
                    .merging(try await TestStore.environment(for: store)) { a, _ in a })
            port = try await process.port()
        }

        /// A bash script that execs its arguments with stderr through `dd`, which passes `bytes`
        /// on byte by byte (no buffer holds the start-up lines back) and exits.
        static func logThrough(_ bytes: Int) -> String {
            #"exec "$0" "$@" 2> >(/usr/bin/dd bs=1 count=\#(bytes) status=none >&2)"#
        }

        func stop() {
            process.kill()
            removeStore(store)
            unlink(config)
        }

        func client() throws -> RawHTTPClient { try RawHTTPClient(port: port) }

        /// One request on a fresh connection.
        func roundTrip(_ request: String) async throws -> RawResponse {
            let port = port
            return try await offload { try RawHTTPClient(port: port).roundTrip(request) }
        }

        /// `count` chat requests one after another on one kept-alive connection, each answered 200
        /// within 5 s.
        func chatRequests(_ count: Int) async throws {
            let port = port
            try await offload {
                let client = try RawHTTPClient(port: port, timeoutSeconds: 5)
                defer { client.close() }
                for i in 0..<count {
                    try client.send(HostileEdgeProcessTests.chat(stream: false))
                    let response = try client.readResponse()
                    guard response.status == 200 else { throw UnexpectedStatus(request: i, status: response.status) }
                }
            }
        }

        func metrics() async throws -> String {
            try await roundTrip("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").text
        }

        /// The value of one metric series, 0 if absent.
        func metric(_ series: String) async throws -> Double {
            let text = try await metrics()
            guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(series + " ") }) else { return 0 }
            return Double(line.split(separator: " ").last ?? "") ?? 0
        }
    }

    static func chat(stream: Bool, body: String? = nil) -> String {
        let json = body ?? #"{"model":"m","stream":\#(stream),"messages":[{"role":"user","content":"hi"}]}"#
        return "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(TestSecrets.client)\r\n"
            + "Content-Type: application/json\r\nContent-Length: \(json.utf8.count)\r\n\r\n\(json)"
    }

    static func isOpenAIError(_ response: RawResponse) -> Bool {
        guard response.header("content-type") == "application/json", let json = try? JSON.parse(response.body),
            let error = json["error"]
        else { return false }
        return error["message"]?.stringValue != nil && error["type"]?.stringValue != nil
    }

    /// A mock upstream (answering as `MockLLM` unless `upstream` says otherwise), the binary in front of it (`Gateway`'s options), and
    /// `body` run against both; the binary stops, then the mock, however `body` ends.
    static func withGateway(
        limits: String = "{}", descriptorLimit: Int? = nil, logReaderQuitsAfter: Int? = nil,
        upstream: @escaping MockHTTPServer.Handler = { MockLLM().respond($0) },
        _ body: (Gateway, MockHTTPServer) async throws -> Void
    ) async throws {
        let mock = try MockHTTPServer(handler: upstream)
        defer { mock.stop() }
        let gateway = try await Gateway(
            mock: mock, limits: limits, descriptorLimit: descriptorLimit, logReaderQuitsAfter: logReaderQuitsAfter)
        defer { gateway.stop() }
        try await body(gateway, mock)
    }

    /// Polls `condition` every 20 ms; fails the test after `seconds` (generous: CI is loaded).
    static func eventually(
        _ seconds: Int, _ what: String, _ condition: @Sendable () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while try await !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("timed out after \(seconds) s waiting for \(what)")
                throw CancellationError()
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    @Test(arguments: [false, true])
    func aClientThatHangsUpBeforeTheFirstUpstreamByteAbortsTheUpstreamCall(stream: Bool) async throws {
        let gate = MockGate()
        let llm = MockLLM()
        let upstream: MockHTTPServer.Handler = { request in
            var response = llm.respond(request)
            response.beforeHead = [.waitFor(gate)]
            return response
        }
        try await Self.withGateway(upstream: upstream) { gateway, mock in
            // Before the binary and the mock stop: the held answer must not keep the mock waiting.
            defer { gate.open() }
            let client = try gateway.client()
            try client.send(Self.chat(stream: stream))
            try await Self.eventually(20, "the upstream call") { mock.requestCount == 1 }
            client.close()
            // No byte goes to the client while the upstream holds its answer: only a watch on the
            // client's socket can notice, and then the upstream transfer is aborted (curl closes it).
            try await Self.eventually(10, "the upstream connection to close") { mock.closedConnections >= 1 }
            #expect(gate.isOpen == false)
            try await Self.eventually(10, "the request log line") {
                gateway.process.stderr.contains(#""outcome":"client_disconnected""#)
            }
            let line = try #require(
                gateway.process.stderr.split(separator: "\n").first { $0.contains(#""msg":"request""#) })
            #expect(line.contains(#""status":"499""#) || line.contains(#""status":499"#), "\(line)")
            let disconnected = try await gateway.metric(
                #"switchyard_requests_total{api="chat",model="m",provider="none",outcome="client_disconnected","#
                    + #"status_class="4xx"}"#)
            #expect(disconnected == 1)
        }
    }

    @Test func slowClientsFillingEveryConnectionCannotLockOutHealthProbes() async throws {
        try await Self.withGateway(limits: "{max_connections: 32}") { gateway, _ in
            // 100 clients, three times the limit, each stuck halfway through its head.
            var slow: [RawHTTPClient] = []
            for _ in 0..<100 {
                guard let client = try? gateway.client() else { continue }
                try? client.send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                slow.append(client)
            }
            for round in 0..<5 {
                let response = try await gateway.roundTrip("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(response.status == 200, "probe \(round)")
            }
            #expect(try await gateway.metric(#"switchyard_connections_dropped_total{reason="displaced"}"#) > 0)
            withExtendedLifetime(slow) {}
        }
    }

    struct UnexpectedStatus: Error {
        let request: Int
        let status: Int
    }

    /// A sidecar's stderr is a pipe to the container runtime or a log shipper. A reader that stops
    /// reading must not stall the server: with every line written straight from the event loop,
    /// the loop blocked once the pipe was full (about 150 access lines) and `/healthz` timed out.
    @Test func aLogReaderThatStopsReadingDoesNotStallRequests() async throws {
        try await Self.withGateway { gateway, _ in
            gateway.process.pauseReading()
            let requests = 600  // about four pipe buffers of access lines
            try await gateway.chatRequests(requests)
            let health = try await gateway.roundTrip("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(health.status == 200)
            gateway.process.resumeReading()
            // Nothing was lost: the lines waited in memory, far below the 4 MiB that may wait.
            try await Self.eventually(20, "\(requests) access lines") {
                gateway.process.stderr.split(separator: "\n").count { $0.contains(#""msg":"request""#) } == requests
            }
            #expect(!gateway.process.stderr.contains("log lines dropped"))
        }
    }

    /// A log reader that exits (EPIPE) must not end the server: written from the event loop, the
    /// first line after it raised SIGPIPE, and the process died with status 141.
    @Test func aLogReaderThatExitsDoesNotEndTheServer() async throws {
        // Enough for the start-up lines, `listening` among them; the access lines go past it.
        try await Self.withGateway(logReaderQuitsAfter: 6000) { gateway, _ in
            try await gateway.chatRequests(100)
            #expect(await gateway.process.line(containing: "\u{0}never") == nil, "the reader has exited")
            let health = try await gateway.roundTrip("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(health.status == 200)
            #expect(Glibc.kill(gateway.process.pid, 0) == 0)
        }
    }

    /// Out of descriptors, the server cannot accept: it must not spin on the listening socket
    /// (level-triggered, it stays readable), must say so once per spell, and must serve the
    /// clients waiting in the backlog as soon as descriptors free up.
    @Test func runningOutOfDescriptorsIsReportedOnceWithoutSpinningAndTheBacklogIsServedAfter() async throws {
        try await Self.withGateway(descriptorLimit: 96) { gateway, _ in
            // Idle clients until the process has no descriptor left; the kernel queues the rest.
            var idle: [RawHTTPClient] = []
            for _ in 0..<120 { if let client = try? gateway.client() { idle.append(client) } }
            try await Self.eventually(20, "the accept warning") {
                gateway.process.stderr.contains("cannot accept new connections")
            }
            // A client waiting in the backlog with its request sent.
            let waiting = try gateway.client()
            try waiting.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            // Three retries' worth of time: no report per retry, and next to no CPU (a spinning loop
            // would take about all of a core).
            let pid = gateway.process.pid
            let before = try Self.cpuTicks(pid)
            try await Task.sleep(for: .milliseconds(350))
            let used = try Self.cpuTicks(pid) - before
            #expect(used < 10, "\(used) ticks of CPU in 350 ms while unable to accept")
            for client in idle { client.close() }
            let answer = try await offload { try waiting.readResponse() }
            #expect(answer.status == 200)
            let warnings = gateway.process.stderr.split(separator: "\n").filter {
                $0.contains("cannot accept new connections")
            }
            #expect(warnings.count == 1)
            #expect(warnings.first?.contains(#""error":"EMFILE""#) == true, "\(warnings)")
            #expect(try await gateway.metric(#"switchyard_accept_errors_total{error="EMFILE"}"#) == 1)
        }
    }

    /// User and system CPU time of `pid` so far, in clock ticks (`/proc/PID/stat` fields 14, 15).
    static func cpuTicks(_ pid: Int32) throws -> Int {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        // Fields after the command name, which is in parentheses and may hold spaces.
        let fields = stat[stat.index(after: try #require(stat.lastIndex(of: ")")))...].split(separator: " ")
        return (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0)
    }

    @Test func aHeadTrickledByteByByteIsCutOffAtTheHeaderDeadline() async throws {
        try await Self.withGateway(limits: "{header_timeout_s: 1}") { gateway, _ in
            let client = try gateway.client()
            // A byte every 100 ms: the per-byte idle timeout (client_timeout_s, 60 s) never fires.
            let head =
                Array("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ".utf8)
                + Array(repeating: UInt8(ascii: "a"), count: 300)
            let cutOff = try await offload { () -> Bool in
                for byte in head {
                    do { try client.send([byte]) } catch { return true }
                    if !client.readable() {
                        usleep(100_000)
                        continue
                    }
                    return try client.closedByServer()
                }
                return false
            }
            #expect(cutOff)
            #expect(try await gateway.metric(#"switchyard_connections_dropped_total{reason="header_timeout"}"#) == 1)
        }
    }

    @Test func contentLengthWithTransferEncodingIsRefusedAndNothingIsSmuggled() async throws {
        try await Self.withGateway { gateway, mock in
            let client = try gateway.client()
            try client.send(
                "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(TestSecrets.client)\r\n"
                    + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                    + "GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(TestSecrets.client)\r\n\r\n")
            let (response, closed) = try await offload { (try client.readResponse(), try client.closedByServer()) }
            #expect(response.status == 400)
            #expect(Self.isOpenAIError(response), "\(response.text)")
            #expect(response.text.contains("Transfer-Encoding"))
            #expect(closed, "a second response was served from the bytes after the chunked body")
            #expect(mock.requestCount == 0)
        }
    }

    /// Pages libmicrohttpd writes by itself, through the gateway's error envelope.
    static let edgeErrors: [(request: String, status: Int)] = [
        ("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 40_000))\r\n\r\n", 431),
        ("GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        ("GET /healthz HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", 400),
        ("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n", 400),
        ("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n", 400),
        ("GET /v1/models HTTP/1.1\r\nAuthorization: Bearer \(TestSecrets.client)\r\n\r\n", 400),  // no Host
    ]

    @Test func malformedRequestsGetTheOpenAIErrorEnvelope() async throws {
        try await Self.withGateway { gateway, _ in
            for (request, status) in Self.edgeErrors {
                let response = try await gateway.roundTrip(request)
                #expect(response.status == status, "\(request.prefix(60))")
                #expect(Self.isOpenAIError(response), "\(request.prefix(60)): \(response.text.prefix(200))")
            }
        }
    }

    @Test func anAuthorizationValueWithHiddenOrControlBytesIsRefused() async throws {
        try await Self.withGateway { gateway, _ in
            func models(_ authorization: String) async throws -> RawResponse {
                try await gateway.roundTrip(
                    "GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: \(authorization)\r\n\r\n")
            }
            #expect(try await models("Bearer \(TestSecrets.client)").status == 200)
            for tail in ["\u{0}", "\u{0}junk", "\u{1}", "\u{7F}"] {
                let response = try await models("Bearer \(TestSecrets.client)\(tail)")
                #expect(response.status == 400, "tail \(Array(tail.utf8))")
                #expect(Self.isOpenAIError(response))
            }
        }
    }

    @Test func aLargeBodyDoesNotStallASmallRequestSentMeanwhile() async throws {
        try await Self.withGateway { gateway, mock in
            // 1.8 MB, 160,000 keys: parsing it took 49 s before the JSON fix (a quadratic object
            // insert), all of it on the thread that drives every upstream transfer.
            var keys = ""
            for i in 0..<160_000 {
                if i > 0 { keys += "," }
                keys += #""k\#(i)":\#(i)"#
            }
            let big = #"{"model":"m","messages":[{"role":"user","content":"big"}],"metadata":{\#(keys)}}"#
            let bigClient = try gateway.client()
            try await offload { try bigClient.send(Self.chat(stream: false, body: big)) }
            // Wait until the big request's handler runs (the in-flight gauge counts it before parsing),
            // or it has already been answered.
            try await Self.eventually(30, "the large request's handler to start") {
                if bigClient.readable() { return true }
                guard let value = try? await gateway.metric("switchyard_inflight_requests") else { return false }
                return value >= 1
            }
            let small = try await gateway.roundTrip(Self.chat(stream: false))
            #expect(small.status == 200)
            #expect(small.text.contains("Hello from the mock"))
        }
    }
}
