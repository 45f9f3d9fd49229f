import Foundation
import Logging
import SwitchyardCore
import SwitchyardGateway
import SwitchyardStore
import SwitchyardTasks
import SwitchyardTestSupport
import SwitchyardUpstream
import Testing

/// What operators see before and besides traffic: series that exist from start-up (so alerts read
/// the truth), rejected requests, readiness, build and reload state, the tasks gauge.
@Suite struct OperationalSignalsTests {
    static func value(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    static func breakerSeries(_ text: String) -> [String: Double] {
        var out: [String: Double] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("switchyard_breaker_state{") {
            guard let t = line.range(of: #"target=""#), let end = line[t.upperBound...].firstIndex(of: "\"") else {
                continue
            }
            out[String(line[t.upperBound..<end])] = Double(line.split(separator: " ").last ?? "")
        }
        return out
    }

    static let twoTargets = """
          - name: smart
            targets:
              - {provider: openai, model: gpt-4o-mini, priority: 1}
              - {provider: anthropic, model: claude-3-5-haiku-latest, priority: 2}
              - {provider: disabled, model: gpt-4o, priority: 3}
        """
    static let disabled =
        "  - {name: disabled, kind: openai, base_url: \"http://127.0.0.1:1/v1\", api_key_env: SWITCHYARD_TEST_UNSET_KEY}"

    @Test func everyConfiguredTargetHasABreakerSeriesFromStartUpAndReloadAddsAndRemoves() async throws {
        let llm = MockLLM()
        let mock = try MockHTTPServer { llm.respond($0) }
        let failing = try MockHTTPServer { _ in
            .json(status: 503, ["error": ["message": "down", "type": "server_error", "param": nil, "code": nil]])
        }
        let broken =
            "  - {name: broken, kind: openai, base_url: \"http://127.0.0.1:\(failing.port)/v1\", api_key_env: TEST_PROVIDER_KEY}"
        func text(_ models: String) -> String {
            yaml(
                mock: mock, models: models, extraProviders: Self.disabled + "\n" + broken,
                retry: "retry: {attempts_per_target: 1, initial_backoff_ms: 1, max_backoff_ms: 2, multiplier: 2}")
                + "\ncircuit_breaker: {failure_threshold: 1, open_ms: 60000}\n"
        }
        let h = try await GatewayHarness.start(yaml: text(Self.twoTargets))
        defer {
            h.stop()
            mock.stop()
            failing.stop()
        }
        // Before any traffic: the primary and the fallback are there, closed; the provider without
        // a key is not (it never serves, so it must not hold off "every breaker open").
        let start = try await h.request("GET", "/metrics", key: nil).text
        #expect(
            Self.breakerSeries(start) == ["openai/gpt-4o-mini": 0, "anthropic/claude-3-5-haiku-latest": 0],
            "\(start)")
        #expect(Self.value(start, #"switchyard_upstream_attempts_total{provider="openai",outcome="ok"}"#) == 0)
        #expect(Self.value(start, #"switchyard_retries_total{provider="anthropic"}"#) == 0)
        #expect(Self.value(start, #"switchyard_fallbacks_total{from="openai",to="anthropic"}"#) == 0)
        #expect(Self.value(start, #"switchyard_stream_malformed_events_total{provider="broken"}"#) == 0)

        // A target reached as provider/model shows up when its breaker opens ...
        let direct = try await h.chat(#"{"model":"broken/x","messages":[{"role":"user","content":"a"}]}"#)
        #expect(direct.head.status == 503)
        #expect(Self.breakerSeries(try await h.request("GET", "/metrics", key: nil).text)["broken/x"] == 2)

        // Reload: a new target appears closed, a removed one goes, the open direct target stays.
        let config = try ConfigLoader.parse(
            yaml: text(
                """
                  - {name: smart, targets: [{provider: anthropic, model: claude-3-5-haiku-latest}]}
                  - {name: fast, targets: [{provider: openai, model: gpt-4.1-nano}]}
                """))
        let environment = ["TEST_PROVIDER_KEY": TestSecrets.provider, "TEST_CLIENT_KEY": TestSecrets.client]
        h.server.gateway.reload(try RouteTable(config: config, environment: environment))
        let reloaded = try await h.request("GET", "/metrics", key: nil).text
        #expect(
            Self.breakerSeries(reloaded) == [
                "anthropic/claude-3-5-haiku-latest": 0, "openai/gpt-4.1-nano": 0, "broken/x": 2,
            ], "\(reloaded)")
    }

    @Test func rejectedRequestsAreCountedByReasonAndLoggedWithoutTheKey() async throws {
        try await GatewayHarness.withMockLLM(model: "ok") { h, _ in
            let wrongKey = "sk-client-WRONG-never-logged-51c3"
            let before = try await h.request("GET", "/metrics", key: nil).text
            #expect(try await h.request("GET", "/v1/models", key: nil).head.status == 401)
            #expect(try await h.request("GET", "/v1/models", key: wrongKey).head.status == 401)
            #expect(try await h.request("POST", "/v1/embeddings", body: "{}").head.status == 404)
            #expect(try await h.request("GET", "/favicon.ico", key: nil).head.status == 404)
            #expect(try await h.request("DELETE", "/v1/chat/completions").head.status == 405)
            let big = #"{"model":"ok","messages":[{"role":"user","content":""# + String(repeating: "x", count: 70_000)
            #expect(try await h.chat(big + #""}]}"#).head.status == 413)
            let after = try await h.request("GET", "/metrics", key: nil).text

            func delta(_ reason: String) -> Double {
                let series = #"switchyard_rejected_requests_total{reason="\#(reason)"}"#
                return (Self.value(after, series) ?? .nan) - (Self.value(before, series) ?? .nan)
            }
            #expect(delta("unauthenticated") == 2)
            #expect(delta("unknown_path") == 2)
            #expect(delta("method_not_allowed") == 1)
            #expect(delta("body_too_large") == 1)
            #expect(delta("bad_request") == 0)

            let lines = h.logs.captured.split(separator: "\n").filter { $0.contains(#""msg":"request rejected""#) }
            #expect(lines.count == 6, "\(lines)")
            #expect(lines.contains { $0.contains(#""path":"/v1/embeddings""#) && $0.contains(#""status":404"#) })
            #expect(lines.contains { $0.contains(#""detail":"missing""#) })
            #expect(lines.contains { $0.contains(#""detail":"not_configured""#) })
            #expect(lines.contains { $0.contains(#""reason":"body_too_large""#) })
            #expect(!h.logs.captured.contains(wrongKey))
            #expect(!h.logs.captured.contains(TestSecrets.client))
            #expect(!after.contains(wrongKey))
        }
    }

    @Test(arguments: [false, true])
    func readinessIsTheSidecarsOwnUnlessAProviderIsRequired(requireProvider: Bool) async throws {
        // No provider has a key: nothing can be served upstream.
        let text = """
            listen: 127.0.0.1:0
            health_check_ms: 0
            providers:
              - {name: openai, kind: openai, base_url: "http://127.0.0.1:1/v1", api_key_env: SWITCHYARD_TEST_UNSET_KEY}
            models:
              - {name: m, targets: [{provider: openai, model: gpt-4o-mini}]}
            \(requireProvider ? "readiness: {require_provider: true}" : "")
            """
        let h = try await GatewayHarness.start(yaml: text)
        defer { h.stop() }
        let r = try await h.request("GET", "/readyz", key: nil)
        #expect(r.head.status == (requireProvider ? 503 : 200), "\(r.text)")
        #expect(r.json?["providers_ready"] == false)
        #expect(r.json?["providers_reason"] == "no provider has an API key")
        #expect(r.json?["reason"] == (requireProvider ? "no provider has an API key" : "ok"))

        h.server.gateway.beginDraining()
        let draining = try await h.request("GET", "/readyz", key: nil)
        #expect(draining.head.status == 503)
        #expect(draining.json?["reason"] == "draining")
    }

    @Test func buildInfoAndReloadOutcomesAreExported() async throws {
        let llm = MockLLM()
        let mock = try MockHTTPServer { llm.respond($0) }
        defer { mock.stop() }
        let path = NSTemporaryDirectory() + "switchyard-\(UUID().uuidString)-reload.yaml"
        defer { unlink(path) }
        let good = yaml(mock: mock, models: "  - {name: m, targets: [{provider: openai, model: gpt-4o-mini}]}")
        try good.write(toFile: path, atomically: true, encoding: .utf8)
        var config = try ConfigLoader.load(path: path)
        config.store.path = temporaryStorePath("reload")
        let storeKey = config.store.path
        let storeEnvironment = try await TestStore.apply(to: &config)
        let server = try await SwitchyardServer(
            config: config, configPath: path,
            environment: ["TEST_CLIENT_KEY": TestSecrets.client, "TEST_PROVIDER_KEY": TestSecrets.provider].merging(
                storeEnvironment
            ) { a, _ in a },
            logger: .init(label: "test") { _ in SwiftLogNoOpLogHandler() })
        let h = GatewayHarness(
            server: server, client: try CurlUpstream(), logs: LogSink(capture: false), storeKey: storeKey)
        defer { h.stop() }
        func metrics() async throws -> String { try await h.request("GET", "/metrics", key: nil).text }

        let start = try await metrics()
        let build =
            #"switchyard_build_info{version="\#(SwitchyardBuild.version)",store_schema="\#(SQLiteStore.schemaVersion)"}"#
        #expect(Self.value(start, build) == 1, "\(start)")
        #expect(Self.value(start, #"switchyard_config_reloads_total{result="success"}"#) == 0)
        #expect(Self.value(start, #"switchyard_config_reloads_total{result="failure"}"#) == 0)
        #expect(Self.value(start, "switchyard_config_last_reload_successful") == 1)
        let loadedAt = try #require(Self.value(start, "switchyard_config_last_reload_success_timestamp_seconds"))
        #expect(abs(loadedAt - Date().timeIntervalSince1970) < 600)

        server.reload()
        let reloaded = try await metrics()
        #expect(Self.value(reloaded, #"switchyard_config_reloads_total{result="success"}"#) == 1)
        let reloadedAt = try #require(Self.value(reloaded, "switchyard_config_last_reload_success_timestamp_seconds"))
        #expect(reloadedAt >= loadedAt)

        try "models: [{name: broken, targets: [{provider: nowhere, model: x}]}]\n".write(
            toFile: path, atomically: true, encoding: .utf8)
        server.reload()
        let refused = try await metrics()
        #expect(Self.value(refused, #"switchyard_config_reloads_total{result="failure"}"#) == 1)
        #expect(Self.value(refused, "switchyard_config_last_reload_successful") == 0)
        #expect(Self.value(refused, "switchyard_config_last_reload_success_timestamp_seconds") == reloadedAt)
    }

    @Test func theTasksGaugeCountsEveryTaskInTheStoreWhoeverWroteIt() async throws {
        let llm = MockLLM()
        let mock = try MockHTTPServer { llm.respond($0) }
        let store = sqliteStorePath("gauge", because: "another process's writes are made through SQLiteStore's own API")
        let h = try await GatewayHarness.start(
            yaml: yaml(mock: mock, models: "  - {name: m, targets: [{provider: openai, model: gpt-4o-mini}]}")
                + "\nstore: {path: \"\(store)\"}")
        defer {
            h.stop()
            mock.stop()
        }
        // Another process (here: another connection) writes tasks this server never saw move.
        let other = try SQLiteStore(path: h.server.storePath)
        for i in 0..<3 { _ = try other.createTask(id: "t\(i)", owner: "someone-else", agent: "batch") }
        try other.transition(taskID: "t0", event: .start)
        try other.transition(taskID: "t0", event: .pause)
        let text = try await h.request("GET", "/metrics", key: nil).text
        #expect(Self.value(text, #"switchyard_tasks{state="idle"}"#) == 2, "\(text)")
        #expect(Self.value(text, #"switchyard_tasks{state="paused"}"#) == 1)
        #expect(Self.value(text, #"switchyard_tasks{state="executing"}"#) == 0)
    }

    /// Each event loop's client and upstream connections and CPU time are exported, so an operator
    /// sees how the listening socket spread the clients, what each loop holds upstream and how
    /// busy each loop is (`event_loops` is chosen by them).
    @Test func eachEventLoopsConnectionsAndCPUTimeAreExported() async throws {
        let llm = MockLLM()
        let mock = try MockHTTPServer { llm.respond($0) }
        let h = try await GatewayHarness.start(
            yaml: yaml(mock: mock, models: "  - {name: m, targets: [{provider: openai, model: gpt-4o-mini}]}")
                + "\nevent_loops: 2")
        defer {
            h.stop()
            mock.stop()
        }
        @Sendable func perLoop(_ text: String, _ name: String) -> [Double?] {
            (0..<2).map { Self.value(text, "\(name){loop=\"\($0)\"}") }
        }
        @Sendable func connections() async throws -> Double {
            let text = try await h.request("GET", "/metrics", key: nil).text
            return perLoop(text, "switchyard_event_loop_connections").reduce(0) { $0 + ($1 ?? .nan) }
        }
        let before = try await connections()
        // Three clients that keep their connections open after a request each.
        let clients = try (0..<3).map { _ in try RawHTTPClient(port: h.server.port) }
        for client in clients {
            let answer = try await offload { try client.roundTrip("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n") }
            #expect(answer.status == 200)
        }
        #expect(try await connections() == before + 3)
        for client in clients { client.close() }
        // The server sees a close when it next reads the connection.
        try await HostileEdgeProcessTests.eventually(20, "the three connections closed") {
            try await connections() == before
        }

        // No model request yet (and no health checks): no upstream connection. One chat
        // completion leaves one, kept alive on the loop that served it.
        @Sendable func upstream() async throws -> [Double?] {
            perLoop(try await h.request("GET", "/metrics", key: nil).text, "switchyard_event_loop_upstream_connections")
        }
        #expect(try await upstream() == [0, 0])
        let answer = try await h.chat(#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#)
        #expect(answer.head.status == 200)
        #expect(try await upstream().reduce(0) { $0 + ($1 ?? .nan) } == 1)

        let text = try await h.request("GET", "/metrics", key: nil).text
        let cpu = perLoop(text, "switchyard_event_loop_cpu_seconds_total")
        #expect(cpu.allSatisfy { ($0 ?? 0) > 0 }, "\(text)")
        #expect(text.contains("# TYPE switchyard_event_loop_cpu_seconds_total counter"))
    }

    /// Runs the real `switchyard serve` on a fresh store, with `extra` YAML lines, until it listens;
    /// runs `body` with it, then sends SIGTERM and expects a clean exit. Returns the process (its
    /// stderr) for what a test checks after.
    @discardableResult
    private static func serveProcess(
        _ label: String, extra: String = "", _ body: (SwitchyardProcess) async throws -> Void = { _ in }
    ) async throws -> SwitchyardProcess {
        let binary = try #require(SwitchyardProcess.binaryPath(), "build the switchyard executable first")
        let config = NSTemporaryDirectory() + "switchyard-\(UUID().uuidString)-\(label).yaml"
        let store = temporaryStorePath(label)
        defer {
            unlink(config)
            removeStore(store)
        }
        try """
        listen: 127.0.0.1:0
        health_check_ms: 0
        providers: [{name: openai, kind: openai, api_key_env: SWITCHYARD_TEST_UNSET_KEY}]
        store: \(TestStore.yaml(store))
        \(extra)
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let child = try SwitchyardProcess(
            path: binary, arguments: ["serve", "--config", config],
            environment: try await TestStore.environment(for: store))
        _ = try await child.port()
        try await body(child)
        child.signal(SIGTERM)
        #expect(await child.exitCode() == 0, "\(child.stderr)")
        return child
    }

    /// A SIGTERM that arrives while the server starts (a rollout right after the pod came up) is a
    /// drain with exit 0, not a kill by signal: the signals are trapped before the listener opens.
    @Test func sigtermRightAfterTheListenerOpensIsAGracefulStop() async throws {
        let child = try await Self.serveProcess("early")
        #expect(child.stderr.contains("shutting down"))
    }

    /// `top -H`, `ps -L` and `perf` show each of the server's own threads under a name that says
    /// what it is, not the name of the dispatch queue that happened to start it.
    @Test func theServersOwnThreadsAreNamedForOperators() async throws {
        var names: Set<String> = []
        try await Self.serveProcess("names", extra: "event_loops: 2") { child in
            let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(child.pid)/task")
            names = Set(
                tasks.compactMap { try? String(contentsOfFile: "/proc/\(child.pid)/task/\($0)/comm", encoding: .utf8) }
                    .map { $0.trimmingCharacters(in: .newlines) })
        }
        var expected = ["sy-loop-0", "sy-loop-1", "sy-edge-watch", "sy-worker-0"]
        // An SQLite store's file is watched for other processes' commits; PostgreSQL announces them.
        expected.append(TestStoreBackend.selected == .postgres ? "sy-pg-listen" : "sy-store-watch")
        for name in expected {
            #expect(names.contains(name), "\(name) not among \(names.sorted())")
        }
    }
}
