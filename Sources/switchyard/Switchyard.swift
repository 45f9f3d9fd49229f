import ArgumentParser
import Foundation
import Logging
import SwitchyardCore
import SwitchyardGateway
import SwitchyardStore

@main
struct Switchyard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchyard",
        abstract: "An OpenAI-compatible sidecar with failover across OpenAI, Anthropic and Gemini.",
        version: SwitchyardBuild.version,
        subcommands: [Serve.self, CheckConfig.self, TasksCommand.self],
        defaultSubcommand: Serve.self)
}

/// Exit code for a configuration that cannot be used.
let configExitCode: Int32 = 2
/// Exit code for a task store that cannot be opened (missing directory, damaged or foreign file, newer schema).
let storeExitCode: Int32 = 3

struct ConfigOptions: ParsableArguments {
    @Option(
        name: .shortAndLong,
        help: "Configuration file (YAML). Default: $SWITCHYARD_CONFIG, else built from the environment.")
    var config: String?

    @Option(help: "Override the configuration's listen address (host:port). Default: $SWITCHYARD_LISTEN if set.")
    var listen: String?

    func load(environment: [String: String]) throws(ConfigErrors) -> (SwitchyardConfig, String?) {
        var result: (SwitchyardConfig, String?)
        if let path = config ?? environment["SWITCHYARD_CONFIG"], !path.isEmpty {
            result = (try ConfigLoader.load(path: path), path)
        } else {
            result = (SwitchyardConfig.embeddedDefault(environment: environment), nil)
        }
        if let text = listen ?? environment["SWITCHYARD_LISTEN"], !text.isEmpty {
            guard let address = ListenAddress(parsing: text) else {
                throw ConfigErrors([
                    ConfigError(
                        path: "listen", problem: "expected host:port, got \"\(text)\" (--listen / SWITCHYARD_LISTEN)")
                ])
            }
            result.0.listen = address
        }
        return result
    }
}

enum LogFormat: String, ExpressibleByArgument, CaseIterable {
    case json, text
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the proxy.")

    @OptionGroup var options: ConfigOptions

    @Option(help: "Log format: json or text.")
    var logFormat: LogFormat = .json

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let level = Logger.Level(rawValue: logLevel) ?? .info
        let format = logFormat
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler =
                format == .json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "switchyard")
        // Before the listener opens, so a SIGTERM during start-up drains instead of killing.
        let signals = await SwitchyardServer.trapSignals()
        let loaded: (SwitchyardConfig, String?)
        do {
            loaded = try options.load(environment: environment)
        } catch {
            printErrors(error)
            throw ExitCode(configExitCode)
        }
        let server: SwitchyardServer
        do {
            server = try SwitchyardServer(
                config: loaded.0, configPath: loaded.1, environment: environment, logger: logger)
        } catch let errors as ConfigErrors {
            printErrors(errors)
            throw ExitCode(configExitCode)
        } catch let error as StoreError {
            FileHandle.standardError.write(Data("error: cannot open the task store (store.path): \(error)\n".utf8))
            logger.critical("cannot open the task store", metadata: ["error": .string("\(error)")])
            throw ExitCode(storeExitCode)
        } catch {
            logger.critical("cannot start", metadata: ["error": .string("\(error)")])
            throw ExitCode(1)
        }
        await server.runUntilSignalled(signals)
    }
}

struct CheckConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a configuration file and the environment it needs; exit 2 when bad.")

    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        do {
            let (config, path) = try options.load(environment: environment)
            let table = try RouteTable(config: config, environment: environment)
            for w in table.warnings { print("warning: \(w)") }
            print(
                "ok: \(path ?? "embedded default"): \(config.providers.count) providers, \(config.models.count) models, "
                    + "listen \(config.listen)")
        } catch {
            printErrors(error)
            throw ExitCode(configExitCode)
        }
    }
}

func printErrors(_ errors: ConfigErrors) {
    for e in errors.errors { FileHandle.standardError.write(Data("error: \(e)\n".utf8)) }
}
