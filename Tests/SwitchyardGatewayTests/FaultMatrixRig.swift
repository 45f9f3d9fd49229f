import FoundationEssentials
import Glibc
import SwitchyardCore
import SwitchyardGateway
import SwitchyardRouting
import SwitchyardTestSupport
import SwitchyardUpstream
import Synchronization
import Testing

/// Two mock upstreams behind a real gateway: `primary` (priority 1, kind chosen per test) and
/// `fallback` (priority 2, OpenAI kind, always healthy unless a test says otherwise), both
/// serving model `smart`. Every test ends with the leak check on the captured logs.
struct FaultRig {
    let primary: MockHTTPServer
    let fallback: MockHTTPServer
    let h: GatewayHarness
    /// The gateway router's clock (breakers, deadlines, the retry budget's window).
    let clock: TestClock

    static let primaryReply = "primary says hello"
    static let fallbackReply = "fallback says hello"
    static let primaryKey = "primary/p-model"

    struct Options {
        /// `openai`, `anthropic` or `gemini`.
        var primaryKind = "openai"
        /// Extra YAML keys on the primary provider, e.g. `first_event_timeout_ms: 300`.
        var primaryLimits = ""
        /// The same for the fallback provider.
        var fallbackLimits = ""
        /// Point the primary at a port nobody listens on.
        var primaryRefused = false
        var attempts = 2
        var waitRetryAfterMs = 5000
        var budgetPercent = 20
        /// `retry.budget_min_retries_per_s`; nil = the default (10).
        var budgetMinPerSecond: Double? = nil
        var failureThreshold = 1000
        var openMs = 500
        /// Mid-stream recovery is tested in RecoveryTests; here a broken stream must end the way the
        /// README's "Failover" says, so continuation is off unless a test turns it on.
        var primaryContinuation = "none"
    }

    /// The primary's healthy answer in its own wire format (`reply` names the speaker).
    static let primaryLLM = MockLLM(reply: primaryReply)
    static let fallbackLLM = MockLLM(reply: fallbackReply)

    static func yaml(_ o: Options, primaryPort: Int, fallbackPort: Int) -> String {
        let primaryBase = "http://127.0.0.1:\(primaryPort)" + (o.primaryKind == "openai" ? "/v1" : "")
        let limits = o.primaryLimits.isEmpty ? "" : ", " + o.primaryLimits
        let fallbackLimits = o.fallbackLimits.isEmpty ? "" : ", " + o.fallbackLimits
        let budgetFloor = o.budgetMinPerSecond.map { ", budget_min_retries_per_s: \($0)" } ?? ""
        return """
            listen: 127.0.0.1:0
            health_check_ms: 0
            auth: {keys: [{name: tests, key_env: TEST_CLIENT_KEY}]}
            providers:
              - {name: primary, kind: \(o.primaryKind), base_url: "\(primaryBase)", api_key_env: TEST_PROVIDER_KEY\(limits)}
              - {name: fallback, kind: openai, base_url: "http://127.0.0.1:\(fallbackPort)/v1", api_key_env: TEST_PROVIDER_KEY\(fallbackLimits)}
            models:
              - {name: smart, targets: [{provider: primary, model: p-model, priority: 1, continuation: \(o.primaryContinuation)}, {provider: fallback, model: f-model, priority: 2}]}
            retry: {attempts_per_target: \(o.attempts), initial_backoff_ms: 1, max_backoff_ms: 5, multiplier: 2, wait_retry_after_ms: \(o.waitRetryAfterMs), budget_percent: \(o.budgetPercent)\(budgetFloor)}
            circuit_breaker: {failure_threshold: \(o.failureThreshold), open_ms: \(o.openMs)}
            limits: {max_body_bytes: 65536, stream_heartbeat_ms: 100}
            """
    }

    /// Starts both mocks and the gateway, runs `body`, stops everything, then checks that no
    /// configured secret reached the logs.
    static func run(
        _ o: Options = Options(), primary: @escaping MockHTTPServer.Handler = { primaryLLM.respond($0) },
        fallback: @escaping MockHTTPServer.Handler = { fallbackLLM.respond($0) },
        _ body: (FaultRig) async throws -> Void
    ) async throws {
        let p = try MockHTTPServer(handler: primary)
        let f = try MockHTTPServer(handler: fallback)
        // Refused: a port held by a bound socket that never listens, so a SYN gets an RST and
        // no other test can be handed the port meanwhile.
        let closed = o.primaryRefused ? try ClosedPort() : nil
        defer { closed?.close() }
        let primaryPort = closed?.port ?? p.port
        let clock = TestClock()
        let h = try await GatewayHarness.start(
            yaml: yaml(o, primaryPort: primaryPort, fallbackPort: f.port), clock: clock)
        let rig = FaultRig(primary: p, fallback: f, h: h, clock: clock)
        defer {
            h.stop()
            p.stop()
            f.stop()
        }
        try await body(rig)
        let logs = h.logs.captured
        #expect(!logs.isEmpty)
        #expect(!logs.contains(TestSecrets.client))
        #expect(!logs.contains(TestSecrets.provider))
    }

    // MARK: Requests

    static func body(stream: Bool, text: String = "hi") -> String {
        #"{"model":"smart","stream":\#(stream),"messages":[{"role":"user","content":"\#(text)"}]}"#
    }

    func chat(stream: Bool = false) async throws -> UpstreamResponse {
        try await h.chat(Self.body(stream: stream))
    }

    /// Streams a chat completion from the gateway; once the received text contains `marker`,
    /// opens `gate` (how a test lets a mock break its stream only after the client saw a part).
    func streamChat(opening gate: MockGate, after marker: String) async throws -> (UpstreamHead, String) {
        let response = try await h.client.stream(
            UpstreamRequest(
                url: h.base + "/v1/chat/completions",
                headers: [
                    HeaderField("Authorization", "Bearer \(TestSecrets.client)"),
                    HeaderField("Content-Type", "application/json"),
                ],
                body: Array(Self.body(stream: true).utf8), timeout: .seconds(30)))
        var received: [UInt8] = []
        var it = response.body.makeAsyncIterator()
        while let chunk = try await it.next() {
            received += chunk
            if !gate.isOpen, String(decoding: received, as: UTF8.self).contains(marker) { gate.open() }
        }
        gate.open()
        return (response.head, String(decoding: received, as: UTF8.self))
    }

    /// The gateway's one-per-request `request` log lines so far, parsed, in order.
    func requestLogLines() -> [JSON] {
        h.logs.captured.split(separator: "\n").compactMap { line in
            guard let o = try? JSON.parse(String(line)), o["msg"] == "request" else { return nil }
            return o
        }
    }

    // MARK: Metrics

    func metrics() async throws -> String {
        try await h.request("GET", "/metrics", key: nil).text
    }
}

/// A loopback TCP port bound but not listening: connecting to it is refused.
final class ClosedPort {
    let port: Int
    private let fd: Int32

    struct Failure: Error {
        var errno: Int32
    }

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(errno: errno) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard ok else {
            let e = errno
            Glibc.close(fd)
            throw Failure(errno: e)
        }
        self.fd = fd
        port = Int(UInt16(bigEndian: addr.sin_port))
    }

    func close() { Glibc.close(fd) }
}

/// Hands out 0, 1, 2, … across threads (which call a mock handler is on).
final class CallCounter: Sendable {
    private let value = Atomic<Int>(0)
    func next() -> Int { value.add(1, ordering: .relaxed).oldValue }
}

/// A handler answering its i-th request with `script[i]`, or with `then` where the script has
/// nil or has run out.
func scripted(
    _ script: [MockResponse?], then: @escaping MockHTTPServer.Handler
) -> MockHTTPServer.Handler {
    let counter = CallCounter()
    return { r in
        let i = counter.next()
        return (i < script.count ? script[i] : nil) ?? then(r)
    }
}

// MARK: Wire fragments

enum Wire {
    static func openAIError(
        status: Int, type: String, code: String?, message: String, headers: [HeaderField] = []
    )
        -> MockResponse
    {
        .json(
            status: status,
            [
                "error": [
                    "message": .string(message), "type": .string(type), "param": nil,
                    "code": code.map(JSON.string) ?? nil,
                ]
            ],
            headers: headers)
    }

    /// One OpenAI `chat.completion.chunk` event.
    static func chunk(_ content: String?, role: Bool = false, finish: String? = nil) -> String {
        var delta: JSONObject = [:]
        if role { delta["role"] = "assistant" }
        if let content { delta["content"] = .string(content) }
        let o: JSON = [
            "id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": "p-model",
            "choices": [["index": 0, "delta": .object(delta), "finish_reason": finish.map(JSON.string) ?? nil]],
        ]
        return "data: " + o.serializedString()
    }
}

/// Prometheus exposition text: the sum of every sample of `name` whose labels include `labels`.
func metricValue(_ exposition: String, _ name: String, _ labels: [String: String] = [:]) -> Double {
    var total = 0.0
    for line in exposition.split(separator: "\n") where !line.hasPrefix("#") {
        guard let space = line.lastIndex(of: " ") else { continue }
        let series = line[..<space]
        let value = Double(line[line.index(after: space)...]) ?? 0
        let metric: Substring
        var found: [String: String] = [:]
        if let brace = series.firstIndex(of: "{") {
            metric = series[..<brace]
            let inner = series[series.index(after: brace)..<(series.lastIndex(of: "}") ?? series.endIndex)]
            for pair in inner.split(separator: ",") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                guard kv.count == 2 else { continue }
                found[String(kv[0])] = String(kv[1].dropFirst().dropLast())
            }
        } else {
            metric = series
        }
        guard metric == name, labels.allSatisfy({ found[$0.key] == $0.value }) else { continue }
        total += value
    }
    return total
}
