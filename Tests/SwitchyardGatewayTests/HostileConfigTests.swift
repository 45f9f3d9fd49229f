import Foundation
import Glibc
import SwitchyardCore
import SwitchyardGateway
import Testing

/// Configurations that used to pass `check-config` and then break the server, through the YAML
/// loader and the real binary.
@Suite struct HostileConfigTests {
    /// `a0` is a list of 10 strings, each further level a list of 10 aliases of the previous one.
    static func aliasBomb(levels: Int) -> String {
        var lines = [#"a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]"#]
        for i in 1..<levels {
            lines.append("a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ",") + "]")
        }
        return lines.joined(separator: "\n") + "\nlisten: 127.0.0.1:4000\n"
    }

    @Test func yamlAliasesAreBoundedAndNameWhereTheyExploded() {
        // 10^6 values from 600 bytes of YAML.
        let (config, errors) = ConfigLoader.parseReportingAll(yaml: Self.aliasBomb(levels: 6))
        #expect(config == nil)
        #expect(errors.count == 1)
        let e = errors.first
        #expect(e?.problem.contains("more than \(ConfigLoader.maximumValues) values") == true)
        #expect(e?.path.hasPrefix("a") == true && e?.path.contains("[") == true, "\(String(describing: e))")
    }

    @Test(arguments: [".inf", "-.inf", ".nan", ".NaN"])
    func infinitiesAndNaNAreNotNumbers(_ value: String) {
        let yaml = """
            providers: [{name: p, kind: openai, base_url: "http://127.0.0.1:1/v1", timeout_ms: \(value)}]
            retry: {multiplier: \(value)}
            """
        let (_, errors) = ConfigLoader.parseReportingAll(yaml: yaml)
        #expect(errors.map(\.path) == ["providers[0].timeout_ms", "retry.multiplier"], "\(errors)")
    }

    // MARK: check-config, the real binary

    func checkConfig(
        _ yaml: String, environment: [String: String] = [:], arguments: [String] = []
    ) async throws -> (Int32, String) {
        let binary = try #require(SwitchyardProcess.binaryPath(), "build the switchyard executable first")
        let path = temporaryStorePath("config").replacingOccurrences(of: ".db", with: ".yaml")
        defer { unlink(path) }
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        let p = try SwitchyardProcess(
            path: binary, arguments: ["check-config", "--config", path] + arguments, environment: environment,
            captureStdout: true)
        defer { p.kill() }
        let code = try await within(60, "check-config to finish") { await p.exitCode() }
        return (code, p.stderr)
    }

    /// Five mistakes of five kinds (a YAML number that is not one, a range, a reference, an unset
    /// variable, a header that would split the request) are all reported by one run.
    @Test func checkConfigReportsEveryMistakeInOneRun() async throws {
        let yaml = """
            listen: 127.0.0.1:4000
            auth: {keys: [{name: app, key_env: HOSTILE_UNSET_CLIENT_KEY}]}
            providers:
              - {name: openai, kind: openai, base_url: "http://127.0.0.1:1/v1", api_key_env: HOSTILE_PROVIDER_KEY,
                 timeout_ms: .inf, headers: {x-team: "a\\r\\nX-Injected: 1"}}
            models:
              - {name: smart, targets: [{provider: antropic, model: m}]}
            limits: {max_header_bytes: 9223372036854775807}
            """
        let (code, output) = try await checkConfig(
            yaml, environment: ["HOSTILE_PROVIDER_KEY": "sk-provider-0123456789"])
        #expect(code == 2, "\(output)")
        for path in [
            "providers[0].timeout_ms", "providers[0].headers.x-team", "models[0].targets[0].provider",
            "limits.max_header_bytes", "auth.keys[0].key_env",
        ] {
            #expect(output.contains("error: \(path): "), "\(path) missing from:\n\(output)")
        }
    }

    /// Every provider disabled: a loud warning (a container is often checked without its provider
    /// secrets), an error with `--require-provider` or `readiness.require_provider: true`.
    @Test func checkConfigSaysWhenNoProviderCanServe() async throws {
        let yaml = """
            providers:
              - {name: openai, kind: openai, api_key_env: HOSTILE_UNSET_OPENAI}
              - {name: claude, kind: anthropic, api_key_env: HOSTILE_UNSET_ANTHROPIC}
            models:
              - {name: smart, targets: [{provider: openai, model: gpt-4o-mini}, {provider: claude, model: c}]}
            """
        let warning = "providers: no provider can serve requests: every provider is disabled"
        let (code, output) = try await checkConfig(yaml)
        #expect(code == 0, "\(output)")
        #expect(output.contains("warning: \(warning)") && output.contains("--require-provider"), "\(output)")
        #expect(output.contains("warning: providers[1].api_key_env: environment variable HOSTILE_UNSET_ANTHROPIC"))

        let (strict, strictOutput) = try await checkConfig(yaml, arguments: ["--require-provider"])
        #expect(strict == 2, "\(strictOutput)")
        #expect(strictOutput.contains("error: \(warning)"))
        let (inFile, inFileOutput) = try await checkConfig(yaml + "\nreadiness: {require_provider: true}\n")
        #expect(inFile == 2, "\(inFileOutput)")

        let (ok, okOutput) = try await checkConfig(
            yaml, environment: ["HOSTILE_UNSET_ANTHROPIC": "sk-ant-0123456789"], arguments: ["--require-provider"])
        #expect(ok == 0, "\(okOutput)")
        #expect(okOutput.contains("ok: ") && !okOutput.contains("no provider can serve"))
    }

    /// `store.url_env` is checked like a key variable and the URL's password never printed, by
    /// `check-config` and by a `serve` that cannot reach the database.
    @Test func aPostgresStoreURLIsCheckedAndItsPasswordNeverPrinted() async throws {
        let yaml = """
            providers:
              - {name: openai, kind: openai, api_key_env: HOSTILE_PG_OPENAI}
            models:
              - {name: smart, targets: [{provider: openai, model: gpt-4o-mini}]}
            store: {kind: postgres, url_env: HOSTILE_PG_URL}
            """
        let key = ["HOSTILE_PG_OPENAI": "sk-0123456789abcdef"]
        let (unset, unsetOutput) = try await checkConfig(yaml, environment: key)
        #expect(unset == 2, "\(unsetOutput)")
        #expect(unsetOutput.contains("error: store.url_env: HOSTILE_PG_URL is not set"), "\(unsetOutput)")

        let password = "pg-pass-\(UInt32.random(in: 0 ... .max))"
        let url = "postgres://switchyard:\(password)@db.internal:5432/switchyard"
        let environment = key.merging(["HOSTILE_PG_URL": url]) { a, _ in a }
        let (ok, okOutput) = try await checkConfig(yaml, environment: environment)
        #expect(ok == 0, "\(okOutput)")
        #expect(okOutput.contains("store postgres://switchyard@db.internal:5432/switchyard"), "\(okOutput)")
        #expect(!okOutput.contains(password))

        let binary = try #require(SwitchyardProcess.binaryPath(), "build the switchyard executable first")
        let path = temporaryStorePath("config").replacingOccurrences(of: ".db", with: ".yaml")
        defer { unlink(path) }
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        // The variable unset: the configuration's problem (exit 2), before any connection.
        let unsetServe = try SwitchyardProcess(
            path: binary, arguments: ["serve", "--config", path], environment: key, captureStdout: true)
        defer { unsetServe.kill() }
        #expect(try await within(60, "serve to refuse") { await unsetServe.exitCode() } == 2, "\(unsetServe.stderr)")
        #expect(unsetServe.stderr.contains("store.url_env: HOSTILE_PG_URL is not set"), "\(unsetServe.stderr)")

        // A server that refuses the connection (port 1 on loopback): the store's failure (exit 3),
        // naming the database without its password; `serve` never falls back to a file.
        let refused = "postgres://switchyard:\(password)@127.0.0.1:1/switchyard"
        let refusedEnvironment = key.merging(["HOSTILE_PG_URL": refused]) { a, _ in a }
        let serve = try SwitchyardProcess(
            path: binary, arguments: ["serve", "--config", path], environment: refusedEnvironment,
            captureStdout: true)
        defer { serve.kill() }
        let code = try await within(60, "serve to give up") { await serve.exitCode() }
        #expect(code == 3, "\(serve.stderr)")
        #expect(serve.stderr.contains("store.url_env"), "\(serve.stderr)")
        #expect(serve.stderr.contains("postgres://switchyard@127.0.0.1:1/switchyard"), "\(serve.stderr)")
        #expect(!serve.stderr.contains(password))
    }

    /// The 3 KB "billion laughs" file (10^8 values) that hung `check-config` for over a minute.
    @Test func checkConfigRefusesAnAliasBombAtOnce() async throws {
        let (code, output) = try await checkConfig(Self.aliasBomb(levels: 9))
        #expect(code == 2)
        #expect(output.contains("more than \(ConfigLoader.maximumValues) values"), "\(output)")
    }
}
