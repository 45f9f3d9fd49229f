import Foundation
import SwitchyardCore
import SwitchyardTestSupport
import SwitchyardUpstream
import Testing

/// Metrics after mixed traffic, bounded label sets, signals (SIGTERM drain, SIGHUP reload).
@Suite struct OperationsTests {
    /// The value of one series in Prometheus text, or 0 when absent.
    static func value(_ text: String, _ series: String) -> Double {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1)) ?? .nan
        }
        return 0
    }

    static func seriesCount(_ text: String) -> Int { series(text).count }

    /// Every series' name and labels (the text before its value).
    static func series(_ text: String) -> Set<String> {
        Set(
            text.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.isEmpty }.map {
                String($0[..<($0.lastIndex(of: " ") ?? $0.endIndex)])
            })
    }

    @Test func metricsMoveByTheRightAmountsAfterMixedTraffic() async throws {
        let llm = MockLLM()
        let good = try MockHTTPServer { llm.respond($0) }
        let bad = try MockHTTPServer { _ in
            .json(status: 503, ["error": ["message": "down", "type": "server_error", "param": nil, "code": nil]])
        }
        let models = """
              - {name: ok, targets: [{provider: openai, model: gpt-4o-mini}]}
              - name: flaky
                targets: [{provider: broken, model: gpt-4o-mini, priority: 1}, {provider: anthropic, model: claude-3-5-haiku-latest, priority: 2}]
            """
        let broken =
            "  - {name: broken, kind: openai, base_url: \"http://127.0.0.1:\(bad.port)/v1\", api_key_env: TEST_PROVIDER_KEY}"
        let h = try await GatewayHarness.start(
            yaml: yaml(
                mock: good, models: models, extraProviders: broken,
                retry: "retry: {attempts_per_target: 1, initial_backoff_ms: 1, max_backoff_ms: 2, multiplier: 2}"))
        defer {
            h.stop()
            good.stop()
            bad.stop()
        }
        let before = try await h.request("GET", "/metrics", key: nil).text
        for _ in 0..<3 {
            #expect(try await h.chat(#"{"model":"ok","messages":[{"role":"user","content":"a"}]}"#).head.status == 200)
        }
        for _ in 0..<2 {
            #expect(
                try await h.chat(#"{"model":"flaky","messages":[{"role":"user","content":"a"}]}"#).head.status == 200)
        }
        #expect(try await h.chat(#"{"model":"ok","messages":[]}"#).head.status == 400)
        let s = try await h.chat(#"{"model":"ok","stream":true,"messages":[{"role":"user","content":"a b"}]}"#)
        #expect(s.text.hasSuffix("data: [DONE]\n\n"))
        let after = try await h.request("GET", "/metrics", key: nil).text

        func delta(_ series: String) -> Double { Self.value(after, series) - Self.value(before, series) }
        #expect(
            delta(
                #"switchyard_requests_total{api="chat",model="ok",provider="openai",outcome="ok",status_class="2xx"}"#)
                == 4)
        #expect(
            delta(
                #"switchyard_requests_total{api="chat",model="flaky",provider="anthropic",outcome="fallback",status_class="2xx"}"#
            )
                == 2)
        // A body that fails validation has no trusted model name: it is counted under `other`.
        #expect(
            delta(
                #"switchyard_requests_total{api="chat",model="other",provider="none",outcome="error",status_class="4xx"}"#
            ) == 1)
        #expect(delta(#"switchyard_fallbacks_total{from="broken",to="anthropic"}"#) == 2)
        #expect(delta(#"switchyard_upstream_attempts_total{provider="broken",outcome="http_503"}"#) == 2)
        #expect(delta(#"switchyard_upstream_attempts_total{provider="anthropic",outcome="ok"}"#) == 2)
        #expect(delta(#"switchyard_time_to_first_token_seconds_count{provider="openai"}"#) == 1)
        #expect(Self.value(after, #"switchyard_tokens_total{provider="openai",model="ok",type="completion"}"#) > 0)
        #expect(Self.value(after, "switchyard_open_streams") == 0)
        #expect(!after.contains(TestSecrets.client) && !after.contains(TestSecrets.provider))
    }

    @Test func unknownModelNamesDoNotGrowTheSeriesCount() async throws {
        try await GatewayHarness.withMockLLM(model: "ok") { h, _ in
            // Warm every label set an unknown model can produce.
            _ = try await h.chat(#"{"model":"warm-up","messages":[{"role":"user","content":"a"}]}"#)
            let before = Self.series(try await h.request("GET", "/metrics", key: nil).text)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<8 {
                    group.addTask {
                        for i in 0..<1250 {
                            let name = "rnd-\(worker)-\(i)-\(UInt32.random(in: 0...UInt32.max))"
                            let r = try await h.chat(
                                #"{"model":"\#(name)","messages":[{"role":"user","content":"a"}]}"#)
                            #expect(r.head.status == 404)
                        }
                    }
                }
                try await group.waitForAll()
            }
            let after = try await h.request("GET", "/metrics", key: nil).text
            // No new series, named in the failure if one appears.
            #expect(Self.series(after).subtracting(before) == [])
            #expect(Self.seriesCount(after) == before.count)
            #expect(
                Self.value(
                    after,
                    #"switchyard_requests_total{api="chat",model="other",provider="none",outcome="error",status_class="4xx"}"#
                )
                    == 10_001)
        }
    }

    /// `store` is `store:`'s value (default: a file beside the configuration).
    func writeConfig(_ path: String, mockPort: Int, model: String, store: String? = nil) throws {
        try """
        listen: 127.0.0.1:0
        health_check_ms: 0
        providers:
          - {name: openai, kind: openai, base_url: "http://127.0.0.1:\(mockPort)/v1", api_key_env: TEST_PROVIDER_KEY}
        models:
          - {name: \(model), targets: [{provider: openai, model: gpt-4o-mini}]}
        shutdown_grace_ms: 10000
        store: \(store ?? "{path: \"\(path).db\"}")
        """.write(toFile: path, atomically: true, encoding: .utf8)
    }

    @Test func sigtermLetsTheStepInFlightCheckpointAndTheTaskResumesAfterRestart() async throws {
        let llm = try GatedLLM()
        defer { llm.stop() }
        let gate = llm.gate("first step")
        defer { gate.open() }
        let config = tempPath("drain-task.yaml")
        let store = temporaryStorePath("drain-task")
        try writeConfig(config, mockPort: llm.server.port, model: "smart", store: TestStore.yaml(store))
        defer {
            removeStore(store)
            unlink(config)
        }
        let binary = try #require(SwitchyardProcess.binaryPath())
        let environment = ["TEST_PROVIDER_KEY": TestSecrets.provider].merging(
            try await TestStore.environment(for: store)
        ) { a, _ in a }
        let client = try CurlUpstream()
        defer { client.shutdown() }
        @Sendable func call(_ method: String, _ url: String, _ body: String = "") async throws -> UpstreamResponse {
            try await client.perform(
                UpstreamRequest(
                    method: method, url: url, headers: [HeaderField("Content-Type", "application/json")],
                    body: Array(body.utf8), timeout: .seconds(10)))
        }

        // Run 1: step 1 is in flight upstream when SIGTERM arrives; it may finish and checkpoint
        // within the grace period, no new step starts, the process exits 0.
        let first = try SwitchyardProcess(
            path: binary, arguments: ["serve", "--config", config], environment: environment)
        let base1 = "http://127.0.0.1:\(try await first.port())"
        let created = try await call(
            "POST", base1 + "/v1/tasks",
            taskBody([stepJSON("a", "first step"), stepJSON("b", "then: {{steps.a.output}}")]))
        #expect(created.head.status == 202, "\(created.text)")
        let id = try #require(created.json?["id"]?.stringValue)
        await llm.server.waitForRequests(1)
        first.signal(SIGTERM)
        _ = await first.line(containing: "shutting down")
        gate.open()
        #expect(await first.exitCode() == 0)
        #expect(llm.requests(containing: "then:").isEmpty, "a new step started during the drain")

        // Run 2: the task resumes by itself at step 2; step 1 is not sent again.
        let second = try SwitchyardProcess(
            path: binary, arguments: ["serve", "--config", config], environment: environment)
        defer { second.kill() }
        let base2 = "http://127.0.0.1:\(try await second.port())"
        let done = try await within(30, "the task to complete after the restart") {
            while true {
                if let json = try? await call("GET", "\(base2)/v1/tasks/\(id)").json, json.state == "completed" {
                    return json
                }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        #expect(done.step(0)?["attempts"] == 1)
        // Step 2's prompt quotes step 1's output, so count step 1's own prompt exactly.
        #expect(llm.requests(containing: #""content":"first step""#).count == 1)
        let output = try #require(done.step(0)?["output"]?.stringValue)
        #expect(llm.requests(containing: "then: \(output)").count == 1)
    }

    func tempPath(_ name: String) -> String {
        NSTemporaryDirectory() + "switchyard-\(UUID().uuidString)-\(name)"
    }

    @Test func sigtermDrainsRequestsAndStreamsInFlightThenExitsZero() async throws {
        var llm = MockLLM()
        llm.eventPause = .milliseconds(60)
        let streaming = llm
        let gate = MockGate()
        let mock = try MockHTTPServer { r in
            // Non-streaming calls are held until the test has sent SIGTERM.
            if !r.bodyText.contains("\"stream\":true") {
                var resp = streaming.respond(r)
                resp.beforeHead = [.waitFor(gate)]
                return resp
            }
            return streaming.respond(r)
        }
        defer { mock.stop() }
        let config = tempPath("sigterm.yaml")
        try writeConfig(config, mockPort: mock.port, model: "m")
        let child = try SwitchyardProcess(
            path: try #require(SwitchyardProcess.binaryPath()), arguments: ["serve", "--config", config],
            environment: ["TEST_PROVIDER_KEY": TestSecrets.provider])
        let port = try await child.port()
        let client = try CurlUpstream()
        defer { client.shutdown() }
        func call(_ body: String) async throws -> UpstreamResponse {
            try await client.perform(
                UpstreamRequest(
                    url: "http://127.0.0.1:\(port)/v1/chat/completions",
                    headers: [HeaderField("Content-Type", "application/json")],
                    body: Array(body.utf8), timeout: .seconds(20)))
        }
        async let plain = call(#"{"model":"m","messages":[{"role":"user","content":"held"}]}"#)
        async let stream = call(
            #"{"model":"m","stream":true,"messages":[{"role":"user","content":"one two three four five six seven eight"}]}"#
        )
        await mock.waitForRequests(2)
        child.signal(SIGTERM)
        _ = await child.line(containing: "shutting down")
        gate.open()
        let (p, s) = try await (plain, stream)
        #expect(p.head.status == 200)
        #expect(String(decoding: p.body, as: UTF8.self).contains("Hello from the mock: held"))
        #expect(s.head.status == 200)
        #expect(String(decoding: s.body, as: UTF8.self).hasSuffix("data: [DONE]\n\n"))
        #expect(await child.exitCode() == 0)
        // New connections are refused once draining began.
        await #expect(throws: UpstreamFailure.self) {
            try await call(#"{"model":"m","messages":[{"role":"user","content":"late"}]}"#)
        }
    }

    @Test func sighupReloadsAGoodFileAndRefusesABadOne() async throws {
        let llm = MockLLM()
        let mock = try MockHTTPServer { llm.respond($0) }
        defer { mock.stop() }
        let config = tempPath("sighup.yaml")
        try writeConfig(config, mockPort: mock.port, model: "first")
        let child = try SwitchyardProcess(
            path: try #require(SwitchyardProcess.binaryPath()), arguments: ["serve", "--config", config],
            environment: ["TEST_PROVIDER_KEY": TestSecrets.provider])
        defer { child.kill() }
        let port = try await child.port()
        let client = try CurlUpstream()
        defer { client.shutdown() }
        func models() async throws -> [String] {
            let r = try await client.perform(
                UpstreamRequest(method: "GET", url: "http://127.0.0.1:\(port)/v1/models", headers: [], body: []))
            return (try JSON.parse(r.body))["data"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
        }
        #expect(try await models().contains("first"))

        try writeConfig(config, mockPort: mock.port, model: "second")
        child.signal(SIGHUP)
        #expect(await child.line(containing: "configuration reloaded") != nil)
        #expect(try await models().contains("second"))

        try "models: [{name: broken, targets: [{provider: nowhere, model: x}]}]\n".write(
            toFile: config, atomically: true, encoding: .utf8)
        child.signal(SIGHUP)
        let refusal = try #require(await child.line(containing: "configuration reload refused"))
        #expect(refusal.contains("no provider named"))
        #expect(try await models().contains("second"))
        #expect(!child.stderr.contains(TestSecrets.provider))
    }
}
