import Logging
import SwitchyardCore
import SwitchyardGateway

/// A configuration file through the loader (YAML → JSON tree → decode → validate) and, when
/// accepted, the route table and router policy a server builds from it. The environment names
/// the example configurations' key variables.
/// What must hold: a bad file is refused with errors that each name a problem; an accepted one
/// builds a gateway (route table, router policy, metric labels) or is refused the same way.
enum ConfigFuzz {
    static let environment = [
        "OPENAI_API_KEY": "sk-fuzz-openai", "ANTHROPIC_API_KEY": "sk-fuzz-anthropic",
        "GEMINI_API_KEY": "fuzz-gemini", "SWITCHYARD_KEY_APP": "fuzz-client", "DEMO_KEY": "fuzz-demo",
    ]

    static func run(_ bytes: [UInt8]) throws(FuzzFailure) {
        let text = String(decoding: bytes, as: UTF8.self)
        let config: SwitchyardConfig
        do {
            config = try ConfigLoader.parse(yaml: text)
        } catch {
            return try checkRefusal(error, "the loader")
        }
        do {
            _ = try Gateway.inProcess(
                config: config, environment: environment, upstream: ScriptedUpstream.unused, logger: FuzzLog.discard,
                sleep: { _ in })
        } catch {
            try checkRefusal(error, "the route table")
        }
    }

    static func checkRefusal(_ errors: ConfigErrors, _ what: String) throws(FuzzFailure) {
        try check(!errors.errors.isEmpty, "\(what) refused the configuration without naming a problem")
        for e in errors.errors {
            try check(!e.problem.isEmpty, "\(what) refused the configuration with an empty problem at \(e.path)")
        }
    }
}

enum FuzzLog {
    static let discard = Logger(label: "fuzz") { _ in SwiftLogNoOpLogHandler() }
}
