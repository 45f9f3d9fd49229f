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
public struct RouteTable: Sendable {
    public let config: SwitchyardConfig
    let providers: [String: ResolvedProvider]
    /// Inbound client keys by name.
    let clientKeys: [(name: String, key: Secret)]
    /// Problems worth a warning at start (missing key variables).
    public let warnings: [String]
    /// `resolve` of every configured model name, worked out once: it runs on every request.
    private var resolvedModels: [String: RouteResolution] = [:]

    /// Resolves every `*_env` from `environment` (read once, injected for tests).
    public init(config: SwitchyardConfig, environment: [String: String]) throws(ConfigErrors) {
        self.config = config
        var providers: [String: ResolvedProvider] = [:]
        var warnings: [String] = []
        var errors: [ConfigError] = []
        for (i, p) in config.providers.enumerated() {
            guard let kind = ProviderKind(rawValue: p.kind) else { continue }
            let codec = kind.codec
            var key: Secret? = nil
            var missing: String? = nil
            if let env = p.apiKeyEnv {
                if let v = environment[env], !v.isEmpty {
                    key = Secret(v)
                } else {
                    missing = env
                    warnings.append(
                        "providers[\(i)].api_key_env: environment variable \(env) is not set; provider \"\(p.name)\" is disabled"
                    )
                }
            }
            var headers: [HeaderField] = key.map { codec.authHeaders(apiKey: $0.value) } ?? []
            if kind == .openai {
                if let org = p.organization { headers.append(HeaderField("OpenAI-Organization", org)) }
                if let project = p.project { headers.append(HeaderField("OpenAI-Project", project)) }
            }
            headers += p.headers
            providers[p.name] = ResolvedProvider(
                config: p, kind: kind, codec: codec, apiKey: key, missingKeyEnv: missing, headers: headers)
        }
        var keys: [(String, Secret)] = []
        for (i, k) in config.auth.keys.enumerated() {
            if let v = environment[k.keyEnv], !v.isEmpty {
                keys.append((k.name, Secret(v)))
            } else {
                errors.append(
                    ConfigError(path: "auth.keys[\(i)].key_env", problem: "environment variable \(k.keyEnv) is not set")
                )
            }
        }
        if keys.isEmpty, !config.listen.isLoopback, !config.auth.allowUnauthenticated {
            errors.append(
                ConfigError(
                    path: "listen",
                    problem:
                        "refusing to listen on non-loopback address \(config.listen.host) without client keys; set auth.keys or auth.allow_unauthenticated: true"
                ))
        }
        if !errors.isEmpty { throw ConfigErrors(errors) }
        self.providers = providers
        self.clientKeys = keys
        self.warnings = warnings
        for m in config.models where resolvedModels[m.name] == nil {
            resolvedModels[m.name] = usable(
                m.targets.map { ($0.provider, $0.model, $0.priority, $0.weight, $0.continuation) },
                configuredModel: m.name)
        }
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
                return usable([(provider, upstream, 1, 1, nil)], configuredModel: nil)
            }
        }
        if let route = config.routes.first(where: { model.hasPrefix($0.prefix) }) {
            return usable([(route.provider, model, 1, 1, nil)], configuredModel: nil)
        }
        return .notFound
    }

    /// `stream_mode` of a configured model; `incremental` for everything else.
    func streamMode(model: String) -> StreamMode {
        config.models.first { $0.name == model }?.streamMode ?? .incremental
    }

    private func usable(
        _ specs: [(String, String, Int, Int, ContinuationMode?)], configuredModel: String?
    ) -> RouteResolution {
        var targets: [RouteTarget] = []
        var reasons: [String] = []
        for (providerName, model, priority, weight, continuation) in specs {
            guard let p = providers[providerName] else { continue }
            if let env = p.missingKeyEnv {
                reasons.append("provider \"\(providerName)\" has no API key (\(env) is not set)")
                continue
            }
            targets.append(makeTarget(p, model: model, priority: priority, weight: weight, continuation: continuation))
        }
        if targets.isEmpty {
            return .unavailable(reasons.isEmpty ? "no usable target" : reasons.joined(separator: "; "))
        }
        return .targets(targets, configuredModel: configuredModel)
    }

    func makeTarget(
        _ p: ResolvedProvider, model: String, priority: Int, weight: Int, continuation: ContinuationMode? = nil
    ) -> RouteTarget {
        let c = p.config
        return RouteTarget(
            provider: c.name, model: model, priority: priority, weight: weight, codec: p.codec, baseURL: c.baseURL,
            headers: p.headers,
            timeouts: TargetTimeouts(
                connect: .milliseconds(c.connectTimeoutMs), total: .milliseconds(c.timeoutMs),
                firstEvent: .milliseconds(c.firstEventTimeoutMs), idle: .milliseconds(c.idleTimeoutMs)),
            context: TargetContext(
                providerName: c.name, upstreamModel: model, defaultMaxTokens: c.defaultMaxTokens,
                responsesMode: c.responsesMode),
            continuation: continuation)
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
