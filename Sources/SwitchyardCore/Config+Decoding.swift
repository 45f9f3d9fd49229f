extension SwitchyardConfig {
    /// Decodes and validates a configuration tree (YAML already turned into `JSON` by the
    /// loader). Unknown keys are errors: a typo must not silently fall back to a default.
    public static func decode(_ root: JSON) throws(ConfigErrors) -> SwitchyardConfig {
        let (config, errors) = decodeReportingAll(root)
        if !errors.isEmpty { throw ConfigErrors(errors) }
        return config
    }

    /// Decodes what it can and reports every problem at once, type errors and range or
    /// cross-field ones alike, so an operator fixes a file in one run (`check-config`). An entry
    /// that could not be decoded stays in its list as a placeholder, so later indices in key
    /// paths still match the file; checks of a value whose decoding already failed are dropped.
    public static func decodeReportingAll(_ root: JSON) -> (SwitchyardConfig, [ConfigError]) {
        var d = ConfigDecoder()
        let config = d.decodeRoot(root)
        let decodeErrors = d.errors
        let failed = decodeErrors.map(\.path)
        let checks = config.validate().filter { e in
            !failed.contains { f in
                e.path == f || e.path.hasPrefix(f + ".") || e.path.hasPrefix(f + "[") || f.isEmpty
            }
        }
        return (config, decodeErrors + checks)
    }

    /// The configuration used when no file is given: every provider whose standard key
    /// variable is set is enabled, and model names are routed by prefix.
    public static func embeddedDefault(environment: [String: String]) -> SwitchyardConfig {
        var c = SwitchyardConfig()
        if let listen = environment["SWITCHYARD_LISTEN"], let a = parseListen(listen) { c.listen = a }
        for kind in ProviderKind.allCases where !(environment[kind.standardKeyEnv] ?? "").isEmpty {
            c.providers.append(
                ProviderConfig(
                    name: kind.rawValue, kind: kind, baseURL: kind.defaultBaseURL, apiKeyEnv: kind.standardKeyEnv))
            c.routes += kind.modelPrefixes.map { PrefixRoute(prefix: $0, provider: kind.rawValue) }
        }
        if environment["SWITCHYARD_KEY"] != nil {
            c.auth.keys = [ClientKeyConfig(name: "default", keyEnv: "SWITCHYARD_KEY")]
        }
        return c
    }

    static func parseListen(_ text: String) -> ListenAddress? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        return ListenAddress(host: host, port: port)
    }

    /// Why a target of `provider` cannot use continuation `mode`, if it cannot.
    static func continuationProblem(_ mode: ContinuationMode, provider p: ProviderConfig) -> String? {
        if mode.isOpenAIFlag, p.kind != .openai {
            return
                "\(mode.rawValue) is a flag of OpenAI-compatible servers; \(p.kind.rawValue) targets continue with prefill"
        }
        // OpenAI's own Chat Completions (and Azure's) answer a final assistant message with a new
        // turn instead of continuing it: spliced onto the delivered text that would garble the
        // answer. OpenAI-compatible servers elsewhere may continue (the operator says how).
        if mode != .unsupported, p.kind == .openai, let host = Self.host(of: p.baseURL),
            host == "api.openai.com" || host.hasSuffix(".openai.azure.com")
        {
            return "\(host) does not continue a final assistant message; use none"
        }
        return nil
    }

    /// The lowercased host of an http(s) URL.
    static func host(of url: String) -> String? {
        // "https://host:port/path" splits into "https:", "host:port", "path".
        let parts = url.split(separator: "/", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasSuffix(":") else { return nil }
        let authority = parts[1].prefix { $0 != "?" && $0 != "#" }
        let hostPort = authority.split(separator: "@").last ?? authority
        return hostPort.split(separator: ":").first.map { $0.lowercased() }
    }
}

/// Walks the tree, collecting every type error and unknown key with its path.
struct ConfigDecoder {
    var errors: [ConfigError] = []

    mutating func fail(_ path: String, _ problem: String) { errors.append(ConfigError(path: path, problem: problem)) }

    mutating func object(_ v: JSON?, _ path: String, allowed: [String]) -> JSONObject? {
        guard let v, !v.isNull else { return nil }
        guard case .object(let o) = v else {
            fail(path, "expected a mapping, got \(v.kindName)")
            return nil
        }
        for k in o.keys where !allowed.contains(k) {
            let hint = allowed.first {
                $0.replacingOccurrences(of: "_", with: "") == k.replacingOccurrences(of: "_", with: "").lowercased()
            }
            fail(path.isEmpty ? k : "\(path).\(k)", "unknown key" + (hint.map { " (did you mean \"\($0)\"?)" } ?? ""))
        }
        return o
    }

    /// One key of a flat section and the property it sets.
    enum Field<Section> {
        case int(String, WritableKeyPath<Section, Int>)
        case double(String, WritableKeyPath<Section, Double>)
        case string(String, WritableKeyPath<Section, String>)

        var key: String {
            switch self {
            case .int(let k, _), .double(let k, _), .string(let k, _): k
            }
        }
    }

    /// A section of scalar keys (`retry:`, `limits:` …): its allowed keys are `fields`' keys, each
    /// read in order into its property of `section`; a key that is absent keeps the default.
    mutating func section<Section>(
        _ value: JSON?, _ path: String, _ fields: [Field<Section>], into section: inout Section
    ) {
        guard let o = object(value, path, allowed: fields.map(\.key)) else { return }
        for field in fields {
            switch field {
            case .int(let key, let property):
                section[keyPath: property] = int(o, key, path) ?? section[keyPath: property]
            case .double(let key, let property):
                section[keyPath: property] = double(o, key, path) ?? section[keyPath: property]
            case .string(let key, let property):
                section[keyPath: property] = string(o, key, path) ?? section[keyPath: property]
            }
        }
    }

    mutating func string(_ o: JSONObject, _ key: String, _ path: String, required: Bool = false) -> String? {
        let p = path.isEmpty ? key : "\(path).\(key)"
        guard let v = o[key], !v.isNull else {
            if required { fail(p, "is required") }
            return nil
        }
        switch v {
        case .string(let s): return s
        case .number(let n): return n
        case .bool(let b): return b ? "true" : "false"
        default:
            fail(p, "expected a string, got \(v.kindName)")
            return nil
        }
    }

    /// A value for an error message: its type, and its text when it is a short scalar.
    static func describe(_ v: JSON) -> String {
        switch v {
        case .string(let s) where s.count <= 40: "string \"\(s)\""
        case .number(let n) where n.count <= 40: "number \(n)"
        default: v.kindName
        }
    }

    mutating func int(_ o: JSONObject, _ key: String, _ path: String) -> Int? {
        typed(o, key, path, expected: "an integer", \.intValue)
    }

    mutating func double(_ o: JSONObject, _ key: String, _ path: String) -> Double? {
        typed(o, key, path, expected: "a number", \.doubleValue)
    }

    mutating func bool(_ o: JSONObject, _ key: String, _ path: String) -> Bool? {
        typed(o, key, path, expected: "true or false", \.boolValue)
    }

    /// `o[key]` read through `extract`; absent or null is nil, a value of another type is an error
    /// naming the key path and what was expected.
    private mutating func typed<T>(
        _ o: JSONObject, _ key: String, _ path: String, expected: String, _ extract: (JSON) -> T?
    ) -> T? {
        guard let v = o[key], !v.isNull else { return nil }
        guard let value = extract(v) else {
            fail(path.isEmpty ? key : "\(path).\(key)", "expected \(expected), got \(Self.describe(v))")
            return nil
        }
        return value
    }

    /// A string naming one case of `E`; anything else is an error listing the allowed values.
    mutating func oneOf<E: RawRepresentable & CaseIterable>(
        _ o: JSONObject, _ key: String, _ path: String, _: E.Type
    ) -> E?
    where E.RawValue == String {
        guard let s = string(o, key, path) else { return nil }
        if let e = E(rawValue: s) { return e }
        let allowed = E.allCases.map(\.rawValue).joined(separator: ", ")
        fail(path.isEmpty ? key : "\(path).\(key)", "unknown value \"\(s)\" (expected one of: \(allowed))")
        return nil
    }

    mutating func array(_ o: JSONObject, _ key: String, _ path: String) -> [JSON] {
        guard let v = o[key], !v.isNull else { return [] }
        guard let a = v.arrayValue else {
            fail(path.isEmpty ? key : "\(path).\(key)", "expected a list, got \(v.kindName)")
            return []
        }
        return a
    }

    mutating func decodeRoot(_ root: JSON) -> SwitchyardConfig {
        var c = SwitchyardConfig()
        guard
            let o = object(
                root, "",
                allowed: [
                    "listen", "auth", "providers", "models", "routes", "retry", "circuit_breaker", "store", "tasks",
                    "limits",
                    "shutdown_grace_ms", "health_check_ms", "readiness", "event_loops",
                ])
        else {
            if root.isNull { fail("", "the configuration file is empty") }
            return c
        }
        if let l = string(o, "listen", "") {
            if let a = SwitchyardConfig.parseListen(l) {
                c.listen = a
            } else {
                fail("listen", "expected host:port, got \"\(l)\"")
            }
        }
        if let a = object(o["auth"], "auth", allowed: ["keys", "allow_unauthenticated"]) {
            for (i, k) in array(a, "keys", "auth").enumerated() {
                let p = "auth.keys[\(i)]"
                guard let ko = object(k, p, allowed: ["name", "key_env"]) else {
                    c.auth.keys.append(ClientKeyConfig(name: "", keyEnv: ""))
                    continue
                }
                c.auth.keys.append(
                    ClientKeyConfig(
                        name: string(ko, "name", p, required: true) ?? "",
                        keyEnv: string(ko, "key_env", p, required: true) ?? ""))
            }
            c.auth.allowUnauthenticated = bool(a, "allow_unauthenticated", "auth") ?? false
        }
        for (i, pv) in array(o, "providers", "").enumerated() {
            let p = "providers[\(i)]"
            guard
                let po = object(
                    pv, p,
                    allowed: [
                        "name", "kind", "base_url", "api_key_env", "timeout_ms", "connect_timeout_ms",
                        "first_event_timeout_ms", "idle_timeout_ms", "organization", "project", "headers",
                        "default_max_tokens", "responses_mode", "clamp_temperature",
                    ])
            else {
                c.providers.append(ProviderConfig(name: "", kind: .openai, baseURL: "", apiKeyEnv: nil))
                continue
            }
            let name = string(po, "name", p, required: true) ?? ""
            let kindText = string(po, "kind", p, required: true)
            let kind = kindText.flatMap(ProviderKind.init(rawValue:))
            if let kindText, kind == nil {
                fail(p + ".kind", "unknown kind \"\(kindText)\" (expected openai, anthropic or gemini)")
            }
            // An entry whose kind failed keeps its place with a placeholder, so later paths match the file.
            var pc = ProviderConfig(
                name: name, kind: kind ?? .openai,
                baseURL: string(po, "base_url", p) ?? (kind ?? .openai).defaultBaseURL,
                apiKeyEnv: string(po, "api_key_env", p))
            if pc.baseURL.hasSuffix("/") { pc.baseURL.removeLast() }
            pc.timeoutMs = int(po, "timeout_ms", p) ?? pc.timeoutMs
            pc.connectTimeoutMs = int(po, "connect_timeout_ms", p) ?? pc.connectTimeoutMs
            pc.firstEventTimeoutMs = int(po, "first_event_timeout_ms", p) ?? pc.firstEventTimeoutMs
            pc.idleTimeoutMs = int(po, "idle_timeout_ms", p) ?? pc.idleTimeoutMs
            pc.defaultMaxTokens = int(po, "default_max_tokens", p) ?? pc.defaultMaxTokens
            pc.organization = string(po, "organization", p)
            pc.project = string(po, "project", p)
            pc.responsesMode = oneOf(po, "responses_mode", p, ResponsesMode.self) ?? pc.responsesMode
            pc.clampTemperature = bool(po, "clamp_temperature", p) ?? pc.clampTemperature
            if let h = po["headers"], !h.isNull {
                if case .object(let ho) = h {
                    for e in ho {
                        if let s = e.value.stringValue {
                            pc.headers.append(HeaderField(e.key, s))
                        } else {
                            fail("\(p).headers.\(e.key)", "expected a string")
                        }
                    }
                } else {
                    fail("\(p).headers", "expected a mapping of header names to values")
                }
            }
            c.providers.append(pc)
        }
        for (i, mv) in array(o, "models", "").enumerated() {
            let p = "models[\(i)]"
            guard let mo = object(mv, p, allowed: ["name", "targets", "stream_mode"]) else {
                c.models.append(ModelConfig(name: "", targets: [TargetConfig(provider: "", model: "")]))
                continue
            }
            let name = string(mo, "name", p, required: true) ?? ""
            var targets: [TargetConfig] = []
            for (j, tv) in array(mo, "targets", p).enumerated() {
                let tp = "\(p).targets[\(j)]"
                guard
                    let to = object(
                        tv, tp,
                        allowed: ["provider", "model", "priority", "weight", "continuation", "structured_outputs"])
                else {
                    targets.append(TargetConfig(provider: "", model: ""))
                    continue
                }
                targets.append(
                    TargetConfig(
                        provider: string(to, "provider", tp, required: true) ?? "",
                        model: string(to, "model", tp, required: true) ?? "", priority: int(to, "priority", tp) ?? 1,
                        weight: int(to, "weight", tp) ?? 1,
                        continuation: oneOf(to, "continuation", tp, ContinuationMode.self),
                        structuredOutputs: bool(to, "structured_outputs", tp) ?? false))
            }
            c.models.append(
                ModelConfig(
                    name: name, targets: targets,
                    streamMode: oneOf(mo, "stream_mode", p, StreamMode.self) ?? .incremental))
        }
        for (i, rv) in array(o, "routes", "").enumerated() {
            let p = "routes[\(i)]"
            guard let ro = object(rv, p, allowed: ["prefix", "provider"]) else {
                c.routes.append(PrefixRoute(prefix: "", provider: ""))
                continue
            }
            c.routes.append(
                PrefixRoute(
                    prefix: string(ro, "prefix", p, required: true) ?? "",
                    provider: string(ro, "provider", p, required: true) ?? ""))
        }
        section(
            o["retry"], "retry",
            [
                .int("attempts_per_target", \.attemptsPerTarget), .int("initial_backoff_ms", \.initialBackoffMs),
                .int("max_backoff_ms", \.maxBackoffMs), .double("multiplier", \.multiplier),
                .int("deadline_ms", \.deadlineMs), .int("wait_retry_after_ms", \.waitRetryAfterMs),
                .double("budget_percent", \.budgetPercent),
                .double("budget_min_retries_per_s", \.budgetMinRetriesPerSecond),
            ], into: &c.retry)
        section(
            o["circuit_breaker"], "circuit_breaker",
            [.int("failure_threshold", \.failureThreshold), .int("open_ms", \.openMs)], into: &c.circuitBreaker)
        if let s = object(
            o["store"], "store",
            allowed: [
                "kind", "path", "url_env", "url", "idempotency_ttl_s", "responses_ttl_s", "lease_ms",
            ])
        {
            let kind = oneOf(s, "kind", "store", StoreConfig.Kind.self)
            c.store.path = string(s, "path", "store") ?? c.store.path
            c.store.urlEnv = string(s, "url_env", "store")
            c.store.kind = kind ?? (c.store.urlEnv == nil ? .sqlite : .postgres)
            if s["url"] != nil {
                // Never echo it: it would carry the database password.
                fail(
                    "store.url",
                    "a database URL carries its password: put it in an environment variable and name that with url_env")
            }
            if c.store.kind == .postgres, c.store.urlEnv == nil, s["url"] == nil {
                fail("store.url_env", "required when store.kind is postgres (the variable holding the postgres:// URL)")
            }
            if c.store.kind == .sqlite, c.store.urlEnv != nil {
                fail("store.url_env", "only for store.kind postgres (an SQLite store is store.path)")
            }
            if c.store.kind == .sqlite, s["lease_ms"] != nil {
                fail("store.lease_ms", "only for store.kind postgres (a file of one process's own needs no lease)")
            }
            if c.store.kind == .postgres, s["path"] != nil {
                fail("store.path", "only for store.kind sqlite (a PostgreSQL store is store.url_env)")
            }
            c.store.idempotencyTTLSeconds = int(s, "idempotency_ttl_s", "store") ?? c.store.idempotencyTTLSeconds
            c.store.responsesTTLSeconds = int(s, "responses_ttl_s", "store") ?? c.store.responsesTTLSeconds
            c.store.leaseMs = int(s, "lease_ms", "store") ?? c.store.leaseMs
        }
        section(o["tasks"], "tasks", [.int("workers", \.workers)], into: &c.tasks)
        section(
            o["limits"], "limits",
            [
                .int("max_body_bytes", \.maxBodyBytes), .int("max_connections", \.maxConnections),
                .int("max_header_bytes", \.maxHeaderBytes), .int("client_timeout_s", \.clientTimeoutSeconds),
                .int("stream_heartbeat_ms", \.streamHeartbeatMs), .int("header_timeout_s", \.headerTimeoutSeconds),
                .int("body_timeout_s", \.bodyTimeoutSeconds),
                .int("max_connections_per_peer", \.maxConnectionsPerPeer),
                .int("max_connections_per_loopback_peer", \.maxConnectionsPerLoopbackPeer),
            ], into: &c.limits)
        c.shutdownGraceMs = int(o, "shutdown_grace_ms", "") ?? c.shutdownGraceMs
        c.healthCheckMs = int(o, "health_check_ms", "") ?? c.healthCheckMs
        c.eventLoops = int(o, "event_loops", "") ?? c.eventLoops
        if let r = object(o["readiness"], "readiness", allowed: ["require_provider"]) {
            c.readiness.requireProvider = bool(r, "require_provider", "readiness") ?? c.readiness.requireProvider
        }
        return c
    }

}

extension String {
    fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: Character(target), omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
