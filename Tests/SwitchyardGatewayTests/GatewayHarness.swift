import Glibc
import Logging
import SwitchyardCore
import SwitchyardGateway
import SwitchyardTestSupport
import SwitchyardUpstream
import Synchronization
import Testing

/// Secrets the harness configures; tests assert none of them leaks.
enum TestSecrets {
    static let client = "sk-client-SECRET-4f1b2c"
    static let provider = "sk-provider-SECRET-9a8b7c"
}

/// A real gateway on port 0 in front of mock upstreams, plus a real HTTP client (our curl
/// transport) to talk to it. Logs are captured for leak checks.
struct GatewayHarness {
    let server: SwitchyardServer
    let client: CurlUpstream
    let logs: LogSink
    /// The test store path the gateway runs on (`TestStore`), removed by `stop()`; nil for a store
    /// the test owns.
    var storeKey: String? = nil
    var base: String { "http://127.0.0.1:\(server.port)" }

    /// The environment every harness gateway gets: the client key (`TEST_CLIENT_KEY`), a second
    /// client key for owner isolation (`TEST_OTHER_KEY`) and the provider key (`TEST_PROVIDER_KEY`).
    static let environment = [
        "TEST_CLIENT_KEY": TestSecrets.client, "TEST_PROVIDER_KEY": TestSecrets.provider,
        "TEST_OTHER_KEY": OtherKey.secret,
    ]

    /// Runs `body` against a gateway on `yaml(mock)` whose one mock upstream answers request n
    /// (from 1) with `script(n, request)`; afterwards neither secret may be in the logs.
    static func withScriptedUpstream(
        yaml: (MockHTTPServer) -> String, script: @escaping @Sendable (Int, RecordedRequest) -> MockResponse,
        _ body: (GatewayHarness, MockHTTPServer) async throws -> Void
    ) async throws {
        let counter = Mutex(0)
        let mock = try MockHTTPServer { r in
            let n = counter.withLock { c -> Int in
                c += 1
                return c
            }
            return script(n, r)
        }
        let h = try await start(yaml: yaml(mock))
        defer {
            h.stop()
            mock.stop()
        }
        try await body(h, mock)
        #expect(!h.logs.captured.contains(TestSecrets.client))
        #expect(!h.logs.captured.contains(TestSecrets.provider))
    }

    /// Runs `body` against a gateway whose one model, `model`, is served by `gpt-4o-mini` on a
    /// plain `MockLLM` (echoing answers) speaking every provider's wire format.
    static func withMockLLM(
        model: String = "m", _ body: (GatewayHarness, MockHTTPServer) async throws -> Void
    ) async throws {
        let llm = MockLLM()
        let mock = try MockHTTPServer { llm.respond($0) }
        let h = try await start(
            yaml: yaml(mock: mock, models: "  - {name: \(model), targets: [{provider: openai, model: gpt-4o-mini}]}"))
        defer {
            h.stop()
            mock.stop()
        }
        try await body(h, mock)
    }

    /// Starts a gateway on the configuration `yaml`, with logs captured at debug level and
    /// `extraEnvironment` beside `environment`.
    /// A YAML without `store.path` gets a fresh task store (`temporaryStorePath`), so tests never
    /// share one; with `SWITCHYARD_TEST_STORE=postgres` that store, and any other test store path,
    /// is a scratch schema on the suite's PostgreSQL server (`TestStore`).
    /// `wrapLog` may wrap the capturing log handler (a test that holds a log line back).
    /// `clock` is the router's time (`TestClock`: a test moves it past an open breaker).
    static func start(
        yaml: String, extraEnvironment: [String: String] = [:],
        wrapLog: @escaping @Sendable (any LogHandler) -> any LogHandler = { $0 },
        clock: TestClock? = nil
    ) async throws -> GatewayHarness {
        var config = try ConfigLoader.parse(yaml: yaml)
        if config.store.kind == .sqlite && config.store.path == "switchyard.db" {
            config.store.path = temporaryStorePath()
        }
        let storeKey =
            config.store.kind == .sqlite && config.store.path.hasPrefix(TestStore.prefix) ? config.store.path : nil
        let storeEnvironment = try await TestStore.apply(to: &config)
        let logs = LogSink(capture: true)
        var logger = Logger(label: "test") { wrapLog(JSONLogHandler(label: $0, sink: logs)) }
        logger.logLevel = .debug
        let server = try await SwitchyardServer(
            config: config, configPath: nil,
            environment: environment.merging(extraEnvironment) { a, _ in a }.merging(storeEnvironment) { a, _ in a },
            logger: logger, clock: { clock?.now() ?? .now })
        return GatewayHarness(server: server, client: try CurlUpstream(), logs: logs, storeKey: storeKey)
    }

    func stop() {
        server.stop()
        client.shutdown()
        if let storeKey { removeStore(storeKey) }
    }

    func request(
        _ method: String = "POST", _ path: String, body: String = "", headers: [HeaderField] = [],
        key: String? = TestSecrets.client
    ) async throws -> UpstreamResponse {
        var h = headers
        if let key { h.append(HeaderField("Authorization", "Bearer \(key)")) }
        if !body.isEmpty { h.append(HeaderField("Content-Type", "application/json")) }
        let response = try await client.perform(
            UpstreamRequest(method: method, url: base + path, headers: h, body: Array(body.utf8), timeout: .seconds(30))
        )
        // The edge sends a full answer just before its handler counts and logs the request (in
        // the same job on the loop): once the loops settle, both are done, so a test may read
        // `logs` or the metrics right after this returns.
        await server.settle()
        return response
    }

    func chat(_ body: String, headers: [HeaderField] = []) async throws -> UpstreamResponse {
        try await request("POST", "/v1/chat/completions", body: body, headers: headers)
    }
}

/// Monotonic time that a test can move forward: the real clock plus an offset.
final class TestClock: Sendable {
    private let offset = Mutex(Duration.zero)

    func now() -> ContinuousClock.Instant { .now + offset.withLock { $0 } }

    func advance(by duration: Duration) { offset.withLock { $0 += duration } }
}

extension UpstreamResponse {
    var json: JSON? { try? JSON.parse(body) }
    var text: String { String(decoding: body, as: UTF8.self) }
    func header(_ name: String) -> String? { head.headers.value(for: name) }
}

/// A unique, not yet existing path under /tmp naming one test's store: an SQLite file, or with
/// `SWITCHYARD_TEST_STORE=postgres` a scratch schema (`TestStore`).
func temporaryStorePath(_ label: String = "gw") -> String {
    var g = SystemRandomNumberGenerator()
    return "\(TestStore.prefix)\(label)-\(String(g.next() as UInt64, radix: 36)).db"
}

/// A unique SQLite path under /tmp that stays a file whatever `SWITCHYARD_TEST_STORE` says, for a
/// test about SQLite itself; `reason` says why (read where the test calls it).
func sqliteStorePath(_ label: String, because reason: String) -> String {
    var g = SystemRandomNumberGenerator()
    return "\(TestStore.sqlitePrefix)\(label)-\(String(g.next() as UInt64, radix: 36)).db"
}

/// Deletes a test store: the SQLite file with its WAL and shared-memory files, or the scratch
/// schema standing for `path`.
func removeStore(_ path: String) {
    for suffix in ["", "-wal", "-shm"] { unlink(path + suffix) }
    TestStore.drop(path)
}

/// YAML for one mock upstream per provider kind.
/// Background health probes are off unless `healthCheckMs` is set, so tests that count upstream
/// calls see only their own.
func yaml(
    mock: MockHTTPServer, models: String, extraProviders: String = "", retry: String = "", auth: Bool = true,
    healthCheckMs: Int = 0
) -> String {
    let base = "http://127.0.0.1:\(mock.port)"
    return """
        listen: 127.0.0.1:0
        health_check_ms: \(healthCheckMs)
        \(auth ? "auth: {keys: [{name: tests, key_env: TEST_CLIENT_KEY}]}" : "")
        providers:
          - {name: openai, kind: openai, base_url: "\(base)/v1", api_key_env: TEST_PROVIDER_KEY}
          - {name: anthropic, kind: anthropic, base_url: "\(base)", api_key_env: TEST_PROVIDER_KEY}
          - {name: gemini, kind: gemini, base_url: "\(base)", api_key_env: TEST_PROVIDER_KEY}
        \(extraProviders)
        models:
        \(models)
        \(retry.isEmpty ? "retry: {attempts_per_target: 2, initial_backoff_ms: 1, max_backoff_ms: 5, multiplier: 2}" : retry)
        limits: {max_body_bytes: 65536, stream_heartbeat_ms: 100}
        """
}
