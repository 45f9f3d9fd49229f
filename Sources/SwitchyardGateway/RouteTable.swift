public import SwitchyardCore
import SwitchyardProviders
import SwitchyardRouting

/// A configured provider with its key resolved from the environment.
struct ResolvedProvider: Sendable {
    var config: ProviderConfig
    var kind: ProviderKind
    var codec: any ProviderCodec
    /// `nil` with `missingKeyEnv` set: the key variable is named but unset, so the provider is unusable.
    var apiKey: Secret?
    var missingKeyEnv: String?
    /// Auth and extra headers, built once.
    var headers: [HeaderField]
}

/// Why a model name resolved to no usable target.
enum RouteResolution: Sendable {
    case targets([RouteTarget], configuredModel: String?)
    case notFound
    case unavailable(String)
}

/// The configuration with secrets resolved: model name → ordered targets, client keys.
///
/// Its fields live in one immutable object, so a copy (every request takes one, and hands it down
/// through several async calls) is one reference: held inline, the configuration's many strings
/// and arrays were each retained and released per copy, and each copy widened the async frames
/// that hold it.
public struct RouteTable: Sendable {
    private final class Storage: Sendable {
        let config: SwitchyardConfig
        let providers: [String: ResolvedProvider]
        let clientKeys: [(name: String, key: Secret)]
        let warnings: [String]
        let resolvedModels: [String: RouteResolution]
        let redactor: Redactor

        init(
            config: SwitchyardConfig, providers: [String: ResolvedProvider], clientKeys: [(name: String, key: Secret)],
            warnings: [String], resolvedModels: [String: RouteResolution], redactor: Redactor
        ) {
            self.config = config
            self.providers = providers
            self.clientKeys = clientKeys
            self.warnings = warnings
            self.resolvedModels = resolvedModels
            self.redactor = redactor
        }
    }

    private let storage: Storage

    public var config: SwitchyardConfig { storage.config }
    var providers: [String: ResolvedProvider] { storage.providers }
    /// Inbound client keys by name.
    var clientKeys: [(name: String, key: Secret)] { storage.clientKeys }
    /// Problems worth a warning at start (missing key variables).
    public var warnings: [String] { storage.warnings }
    /// `resolve` of every configured model name, worked out once: it runs on every request.
    private var resolvedModels: [String: RouteResolution] { storage.resolvedModels }

    /// Every configured secret (provider and client keys), removed from whatever upstreams send.
    public var redactor: Redactor { storage.redactor }

    /// Resolves every `*_env` from `environment` (read once, injected for tests).
    public init(config: SwitchyardConfig, environment: [String: String]) throws(ConfigErrors) {
        let check = Self.checkEnvironment(config, environment)
        if !check.errors.isEmpty { throw ConfigErrors(check.errors) }
        var providers: [String: ResolvedProvider] = [:]
        for p in config.providers {
            let kind = p.kind
            let codec = kind.codec
            let key = p.apiKeyEnv.flatMap { environment[$0] }.flatMap { $0.isEmpty ? nil : Secret($0) }
            let missing = key == nil ? p.apiKeyEnv : nil
            var headers: [HeaderField] = key.map { codec.authHeaders(apiKey: $0.value) } ?? []
            if kind == .openai {
                if let org = p.organization { headers.append(HeaderField("OpenAI-Organization", org)) }
                if let project = p.project { headers.append(HeaderField("OpenAI-Project", project)) }
            }
            headers += p.headers
            providers[p.name] = ResolvedProvider(
                config: p, kind: kind, codec: codec, apiKey: key, missingKeyEnv: missing, headers: headers)
        }
        let keys = config.auth.keys.compactMap { k in environment[k.keyEnv].map { (k.name, Secret($0)) } }
        var resolvedModels: [String: RouteResolution] = [:]
        for m in config.models where resolvedModels[m.name] == nil {
            resolvedModels[m.name] = Self.usable(m.targets, configuredModel: m.name, providers: providers)
        }
        storage = Storage(
            config: config, providers: providers, clientKeys: keys, warnings: check.warnings,
            resolvedModels: resolvedModels,
            redactor: Redactor(secrets: providers.values.compactMap(\.apiKey?.value) + keys.map(\.1.value)))
    }

    /// What the environment lacks or holds wrongly for `config`, without building anything:
    /// `check-config` reports these together with the file's own mistakes.
    public struct EnvironmentCheck: Sendable {
        public var errors: [ConfigError] = []
        public var warnings: [String] = []
        /// Providers whose key is set (every provider disabled means nothing can be served).
        public var usableProviders = 0
        /// Why nothing can be served, when no provider is usable: a warning for `serve` (it
        /// still starts, and answers 503), an error for `check-config`.
        public var nothingCanServe: ConfigError?
    }

    public static func checkEnvironment(
        _ config: SwitchyardConfig, _ environment: [String: String]
    ) -> EnvironmentCheck {
        var check = EnvironmentCheck()
        func checkValue(_ value: String, env: String, path: String) {
            // A key goes into an HTTP header (or is compared with one): a line break would split it.
            if value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
                check.errors.append(
                    ConfigError(
                        path: path, problem: "environment variable \(env) contains a control character (a line break?)")
                )
            } else if Redactor.tooShort(value) {
                check.warnings.append(
                    "\(path): environment variable \(env) is shorter than \(Redactor.minimumSecretLength) characters, "
                        + "too short to be told apart from text and redacted from upstream answers")
            }
        }
        for (i, p) in config.providers.enumerated() {
            let path = "providers[\(i)].api_key_env"
            guard let env = p.apiKeyEnv else {
                check.usableProviders += 1  // a provider without a key (a local model server)
                continue
            }
            if let v = environment[env], !v.isEmpty {
                check.usableProviders += 1
                checkValue(v, env: env, path: path)
            } else {
                check.warnings.append(
                    "\(path): environment variable \(env) is not set; provider \"\(p.name)\" is disabled")
            }
        }
        for (i, k) in config.auth.keys.enumerated() {
            let path = "auth.keys[\(i)].key_env"
            if let v = environment[k.keyEnv], !v.isEmpty {
                checkValue(v, env: k.keyEnv, path: path)
            } else {
                check.errors.append(ConfigError(path: path, problem: "environment variable \(k.keyEnv) is not set"))
            }
        }
        if config.auth.keys.isEmpty, !config.listen.isLoopback, !config.auth.allowUnauthenticated {
            check.errors.append(
                ConfigError(
                    path: "listen",
                    problem:
                        "refusing to listen on non-loopback address \(config.listen.host) without client keys; set auth.keys or auth.allow_unauthenticated: true"
                ))
        }
        if check.usableProviders == 0 {
            let reason =
                config.providers.isEmpty
                ? "no provider is configured" : "every provider is disabled (its key variable is not set)"
            let problem = ConfigError(path: "providers", problem: "no provider can serve requests: \(reason)")
            check.nothingCanServe = problem
            check.warnings.append(problem.description)
        }
        return check
    }

    public var authRequired: Bool { !clientKeys.isEmpty }

    /// The client key's configured name, comparing in constant time against every key.
    func authenticate(bearer: UnsafeBufferPointer<UInt8>) -> String? {
        var found: String? = nil
        for (name, key) in clientKeys {
            var value = key.value
            if value.withUTF8({ constantTimeEquals(bearer, $0) }) { found = name }
        }
        return found
    }

    /// Targets for a model name: a configured alias, `provider/model`, or a prefix route.
    func resolve(model: String) -> RouteResolution {
        if let resolved = resolvedModels[model] { return resolved }
        if let slash = model.firstIndex(of: "/") {
            let provider = String(model[..<slash])
            let upstream = String(model[model.index(after: slash)...])
            if providers[provider] != nil, !upstream.isEmpty {
                return Self.usable(
                    [TargetConfig(provider: provider, model: upstream)], configuredModel: nil, providers: providers)
            }
        }
        if let route = config.routes.first(where: { model.hasPrefix($0.prefix) }) {
            return Self.usable(
                [TargetConfig(provider: route.provider, model: model)], configuredModel: nil, providers: providers)
        }
        return .notFound
    }

    /// `stream_mode` of a configured model; `incremental` for everything else.
    func streamMode(model: String) -> StreamMode {
        config.models.first { $0.name == model }?.streamMode ?? .incremental
    }

    private static func usable(
        _ specs: [TargetConfig], configuredModel: String?, providers: [String: ResolvedProvider]
    ) -> RouteResolution {
        var targets: [RouteTarget] = []
        var reasons: [String] = []
        for spec in specs {
            guard let p = providers[spec.provider] else { continue }
            if let env = p.missingKeyEnv {
                reasons.append("provider \"\(spec.provider)\" has no API key (\(env) is not set)")
                continue
            }
            targets.append(makeTarget(p, spec))
        }
        if targets.isEmpty {
            return .unavailable(reasons.isEmpty ? "no usable target" : reasons.joined(separator: "; "))
        }
        return .targets(targets, configuredModel: configuredModel)
    }

    static func makeTarget(_ p: ResolvedProvider, _ spec: TargetConfig) -> RouteTarget {
        let c = p.config
        let model = spec.model
        var context = TargetContext(
            providerName: c.name, upstreamModel: model, defaultMaxTokens: c.defaultMaxTokens,
            clampTemperature: c.clampTemperature, structuredOutputs: spec.structuredOutputs,
            responsesMode: c.responsesMode)
        context.configuredHeaders = c.headers
        return RouteTarget(
            provider: c.name, model: model, priority: spec.priority, weight: spec.weight, codec: p.codec,
            baseURL: c.baseURL,
            headers: p.headers,
            timeouts: TargetTimeouts(
                connect: .milliseconds(c.connectTimeoutMs), total: .milliseconds(c.timeoutMs),
                firstEvent: .milliseconds(c.firstEventTimeoutMs), idle: .milliseconds(c.idleTimeoutMs)),
            context: context,
            continuation: spec.continuation)
    }

    /// Every model id `/v1/models` lists: configured names, then each `provider/model` target.
    var listedModels: [(id: String, ownedBy: String)] {
        var out: [(String, String)] = []
        var seen: Set<String> = []
        for m in config.models where seen.insert(m.name).inserted { out.append((m.name, "switchyard")) }
        for m in config.models {
            for t in m.targets where seen.insert("\(t.provider)/\(t.model)").inserted {
                out.append(("\(t.provider)/\(t.model)", t.provider))
            }
        }
        return out
    }

    var providerNames: [String] { config.providers.map(\.name) }
    var configuredModelNames: Set<String> { Set(config.models.map(\.name)) }
}

/// Compares two byte strings in time that depends only on their lengths, not on where they differ.
func constantTimeEquals(_ x: UnsafeBufferPointer<UInt8>, _ y: UnsafeBufferPointer<UInt8>) -> Bool {
    var diff = UInt8(x.count == y.count ? 0 : 1)
    let n = max(x.count, y.count)
    for i in 0..<n {
        let p = i < x.count ? x[i] : 0
        let q = i < y.count ? y[i] : 0
        diff |= p ^ q
    }
    return diff == 0
}
