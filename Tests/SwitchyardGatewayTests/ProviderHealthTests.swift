import SwitchyardCore
import SwitchyardTestSupport
import Testing

/// Provider health comes from the free model-listing endpoint, never a billed completion.
@Suite struct ProviderHealthTests {
    func readyz(_ h: GatewayHarness) async throws -> (Int, JSON?) {
        let r = try await h.request("GET", "/readyz", key: nil)
        return (r.head.status, r.json)
    }

    /// Polls `/readyz` until `done` holds: the health probe runs in the background and its result
    /// has no other observable event. The ceiling is generous (CI runs every suite at once on two
    /// cores, and the probe task queues behind them); a passing run returns as soon as it holds.
    func waitFor(_ h: GatewayHarness, _ done: (Int, JSON?) -> Bool) async throws -> (Int, JSON?) {
        let deadline = ContinuousClock.now + .seconds(30)
        var last = try await readyz(h)
        while !done(last.0, last.1), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
            last = try await readyz(h)
        }
        return last
    }

    /// Provider health is always in `/readyz`'s detail; it decides the status only with
    /// `readiness.require_provider: true` (by default readiness is the sidecar's own).
    @Test(arguments: [(200, true), (401, false)], [false, true])
    func readinessFollowsTheModelListingEndpoint(probe: (status: Int, up: Bool), requireProvider: Bool) async throws {
        let (status, up) = probe
        let mock = try MockHTTPServer { r in
            r.method == "GET"
                ? .json(status: status, ["object": "list", "data": []])
                : .json(status: 500, ["error": ["message": "no completions expected", "type": "server_error"]])
        }
        let h = try await GatewayHarness.start(
            yaml: yaml(
                mock: mock, models: "  - {name: m, targets: [{provider: openai, model: gpt-4o-mini}]}",
                healthCheckMs: 60000) + (requireProvider ? "\nreadiness: {require_provider: true}\n" : ""))
        defer {
            h.stop()
            mock.stop()
        }
        // Readiness counts a provider not probed yet as up, so wait for all three probes.
        let (code, body) = try await waitFor(h) { _, j in
            ["openai", "anthropic", "gemini"].allSatisfy { j?["providers"]?[$0]?["up"] != nil }
        }
        #expect(body?["providers"]?["openai"]?["up"] == .bool(up))
        // anthropic and gemini point at the same mock and are probed on their own paths.
        #expect(body?["providers"]?["anthropic"]?["up"] == .bool(up))
        #expect(body?["providers_ready"] == .bool(up))
        #expect(code == (up || !requireProvider ? 200 : 503))
        let probes = mock.requests.filter { $0.method == "GET" }.map(\.path).sorted()
        #expect(Set(probes).isSuperset(of: ["/v1/models", "/v1beta/models"]))
        #expect(mock.requests.allSatisfy { $0.method == "GET" })
        let openaiProbe = try #require(
            mock.requests.first { $0.path == "/v1/models" && $0.headers.value(for: "authorization") != nil })
        #expect(openaiProbe.headers.value(for: "authorization") == "Bearer \(TestSecrets.provider)")
    }
}
