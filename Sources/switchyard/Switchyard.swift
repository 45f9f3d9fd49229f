import ArgumentParser
import FoundationEssentials
import Glibc
import Logging
import SwitchyardCore
import SwitchyardGateway
import SwitchyardTasks

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
        let (config, path, errors) = loadReportingAll(environment: environment)
        guard let config, errors.isEmpty else { throw ConfigErrors(errors) }
        return (config, path)
    }

    /// The configuration as far as it could be read, its path, and every problem of the file and
    /// of the overrides (nil configuration when the file could not be read or parsed).
    func loadReportingAll(environment: [String: String]) -> (SwitchyardConfig?, String?, [ConfigError]) {
        var config: SwitchyardConfig?
        var errors: [ConfigError] = []
        var path: String?
        if let p = self.config ?? environment["SWITCHYARD_CONFIG"], !p.isEmpty {
            path = p
            (config, errors) = ConfigLoader.loadReportingAll(path: p)
        } else {
            config = SwitchyardConfig.embeddedDefault(environment: environment)
        }
        if let text = listen ?? environment["SWITCHYARD_LISTEN"], !text.isEmpty {
            if let address = ListenAddress(parsing: text) {
                config?.listen = address
            } else {
                errors.append(
                    ConfigError(
                        path: "listen", problem: "expected host:port, got \"\(text)\" (--listen / SWITCHYARD_LISTEN)"))
            }
        }
        return (config, path, errors)
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
        // Log lines wait in memory for the writer thread (`LogSink`): at exit, the last ones
        // ("stopped", or why it could not start) are written before the process ends.
        atexit { LogSink.stderr.flush() }
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
            server = try await SwitchyardServer(
                config: loaded.0, configPath: loaded.1, environment: environment, logger: logger)
        } catch let errors as ConfigErrors {
            printErrors(errors)
            throw ExitCode(configExitCode)
        } catch let error as StoreError {
            let key = loaded.0.store.kind == .postgres ? "store.url_env" : "store.path"
            writeStandardError("error: cannot open the task store (\(key)): \(error)\n")
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
        abstract: "Validate a configuration file and the environment it needs; exit 2 when bad.",
        discussion: """
            Reports every problem in one run: the file's syntax, types and ranges, and the \
            environment variables it names. When no provider can serve (none configured, or every \
            provider's key variable unset) it warns, as `serve` starts with such a configuration \
            and answers 503 (a container checked without its provider secrets is the usual case); \
            with --require-provider, or `readiness.require_provider: true` in the file, that is an \
            error too.
            """)

    @OptionGroup var options: ConfigOptions

    @Flag(help: "Fail (exit 2) when no provider can serve requests, instead of warning.")
    var requireProvider = false

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let (loaded, path, fileErrors) = options.loadReportingAll(environment: environment)
        var errors = fileErrors
        var warnings: [String] = []
        if let config = loaded {
            var check = RouteTable.checkEnvironment(config, environment)
            if let nothing = check.nothingCanServe {
                check.warnings.removeAll { $0 == nothing.description }
                if requireProvider || config.readiness.requireProvider {
                    errors.append(nothing)
                } else {
                    check.warnings.append(
                        "\(nothing): every request would be answered 503 (--require-provider makes this an error)")
                }
            }
            // A key variable named by a broken entry is the file's problem, reported once.
            errors += check.errors.filter { e in !errors.contains { $0.path == e.path } }
            warnings = check.warnings
            if case .failure(let problem)? = config.store.resolvedURL(environment: environment) {
                errors.append(problem)
            }
        }
        for w in warnings { print("warning: \(w)") }
        guard let config = loaded, errors.isEmpty else {
            printErrors(ConfigErrors(errors))
            throw ExitCode(configExitCode)
        }
        // The store as logs name it: a PostgreSQL URL without its password.
        let store: String
        if case .success(let url)? = config.store.resolvedURL(environment: environment) {
            store = url.location
        } else {
            store = config.store.path
        }
        print(
            "ok: \(path ?? "embedded default"): \(config.providers.count) providers, \(config.models.count) models, "
                + "listen \(config.listen), store \(store)")
    }
}

func printErrors(_ errors: ConfigErrors) {
    for e in errors.errors { writeStandardError("error: \(e)\n") }
}

/// Writes `text` to standard error, unbuffered. (Not `FileHandle`: it is in Foundation, which the
/// binary no longer links; README "Hot path", idle RSS.)
func writeStandardError(_ text: String) {
    // After the log lines still waiting for the log's writer thread, not before them.
    LogSink.stderr.flush()
    var text = text
    text.withUTF8 { bytes in
        var rest = UnsafeRawBufferPointer(bytes)
        while !rest.isEmpty {
            let n = write(2, rest.baseAddress, rest.count)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }
            rest = UnsafeRawBufferPointer(rebasing: rest[n...])
        }
    }
}
