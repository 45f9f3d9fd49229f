import Foundation
import Logging
import SwitchyardCore
import SwitchyardGateway
import SwitchyardTestSupport
import SwitchyardUpstream
import Testing

/// The configurations the repository ships, as a new user runs them: an app that sends real model
/// names (and only changed its base URL) is served, by the provider the name belongs to.
@Suite struct ShippedConfigTests {
    static let root = #filePath.components(separatedBy: "/Tests/").dropLast().joined(separator: "/Tests/")

    /// `config/switchyard.yaml`, and the `switchyard.yaml` embedded in the Kubernetes ConfigMap.
    static func shipped() throws -> [(String, String)] {
        let example = try String(contentsOfFile: root + "/config/switchyard.yaml", encoding: .utf8)
        let manifest = try String(contentsOfFile: root + "/deploy/kubernetes/sidecar.yaml", encoding: .utf8)
        // The block scalar under `switchyard.yaml: |`, up to the first line indented less.
        var lines = manifest.components(separatedBy: "\n").drop { !$0.hasSuffix("switchyard.yaml: |") }.dropFirst()
        let indent = lines.first.map { $0.prefix { $0 == " " }.count } ?? 0
        lines = lines.prefix { $0.isEmpty || $0.prefix { $0 == " " }.count >= indent }
        let embedded = lines.map { String($0.dropFirst(min(indent, $0.count))) }.joined(separator: "\n")
        return [("config/switchyard.yaml", example), ("deploy/kubernetes/sidecar.yaml ConfigMap", embedded)]
    }

    @Test(arguments: [0, 1])
    func realModelNamesReachTheirProvider(index: Int) async throws {
        let (name, text) = try Self.shipped()[index]
        let llm = MockLLM()
        let mock = try MockHTTPServer { llm.respond($0) }
        defer { mock.stop() }
        var config = try ConfigLoader.parse(yaml: text)
        #expect(!config.routes.isEmpty, "\(name) has no routes")
        // Only the addresses change: the providers point at the mock, the listener at port 0.
        for i in config.providers.indices {
            let kind = config.providers[i].kind
            config.providers[i].baseURL = "http://127.0.0.1:\(mock.port)" + (kind == .openai ? "/v1" : "")
        }
        config.listen = ListenAddress(host: "127.0.0.1", port: 0)
        config.store.path = temporaryStorePath("shipped")
        let storeKey = config.store.path
        let environment = [
            "OPENAI_API_KEY": TestSecrets.provider, "ANTHROPIC_API_KEY": TestSecrets.provider,
            "GEMINI_API_KEY": TestSecrets.provider, "SWITCHYARD_KEY_APP": TestSecrets.client,
        ].merging(try await TestStore.apply(to: &config)) { a, _ in a }
        let server = try await SwitchyardServer(
            config: config, configPath: nil, environment: environment,
            logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        let h = GatewayHarness(
            server: server, client: try CurlUpstream(), logs: LogSink(capture: false), storeKey: storeKey)
        defer { h.stop() }

        for (model, provider) in [
            ("gpt-4o-mini", "openai"), ("o3-mini", "openai"), ("claude-3-5-haiku-latest", "anthropic"),
            ("gemini-2.0-flash", "gemini"), ("smart", "openai"),
        ] {
            let r = try await h.chat(#"{"model":"\#(model)","messages":[{"role":"user","content":"hi"}]}"#)
            #expect(r.head.status == 200, "\(name): \(model): \(r.text)")
            #expect(r.header("x-switchyard-provider") == provider, "\(name): \(model)")
            if model != "smart" {
                #expect(r.header("x-switchyard-model") == model, "\(name): \(model) must reach the upstream unchanged")
            }
        }
        let unknown = try await h.chat(#"{"model":"llama-3-70b","messages":[{"role":"user","content":"hi"}]}"#)
        #expect(unknown.head.status == 404)
        #expect(unknown.json?["error"]?["code"] == "model_not_found")
    }

    /// Every OpenAI route the README lists as not supported (the section's first item) answers 404
    /// `not_found`, counted as an unknown path; the README names the license the repository ships.
    @Test func theReadmesNotSupportedRoutesAnswer404AndTheLicenseIsShipped() async throws {
        let readme = try String(contentsOfFile: Self.root + "/README.md", encoding: .utf8)
        let section = try #require(readme.components(separatedBy: "## Not supported yet").dropFirst().first)
            .components(separatedBy: "\n## ")[0]
        let openAIItem = try #require(section.components(separatedBy: "\n- ").dropFirst().first)
        #expect(openAIItem.hasPrefix("**OpenAI routes"))
        let paths = openAIItem.components(separatedBy: "`").filter { $0.hasPrefix("/v1/") }
        #expect(paths.count >= 10, "\(paths)")
        let license = try String(contentsOfFile: Self.root + "/LICENSE", encoding: .utf8)
        #expect(license.contains("Apache License") && license.contains("Version 2.0, January 2004"))
        #expect(readme.contains("Apache License 2.0; see `LICENSE`"))

        try await GatewayHarness.withMockLLM(model: "m") { h, mock in
            for path in paths {
                let r = try await h.request("POST", path, body: #"{"model":"m","input":"hi"}"#)
                #expect(r.head.status == 404, "\(path): \(r.text)")
                #expect(r.json?["error"]?["code"] == "not_found", "\(path)")
            }
            let metrics = try await h.request("GET", "/metrics", key: nil).text
            #expect(metrics.contains(#"switchyard_rejected_requests_total{reason="unknown_path"} \#(paths.count)"#))
            #expect(mock.requestCount == 0)
        }
    }
}
