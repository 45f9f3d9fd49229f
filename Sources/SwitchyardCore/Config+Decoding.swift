extension SwitchyardConfig {
    /// Decodes and validates a configuration tree (YAML already turned into `JSON` by the
    /// loader). Unknown keys are errors: a typo must not silently fall back to a default.
    public static func decode(_ root: JSON) throws(ConfigErrors) -> SwitchyardConfig {
        var d = ConfigDecoder()
        let config = d.decodeRoot(root)
        var errors = d.errors
        if errors.isEmpty { errors = config.validate() }
        if !errors.isEmpty { throw ConfigErrors(errors) }
        return config
    }

    /// The configuration used when no file is given: every provider whose standard key
    /// variable is set is enabled, and model names are routed by prefix.
    public static func embeddedDefault(environment: [String: String]) -> SwitchyardConfig {
        var c = SwitchyardConfig()
        if let listen = environment["SWITCHYARD_LISTEN"], let a = parseListen(listen) { c.listen = a }
        let known: [(String, String, String, [String])] = [
            ("openai", "https://api.openai.com/v1", "OPENAI_API_KEY", ["gpt-", "o1", "o3", "o4", "chatgpt-"]),
            ("anthropic", "https://api.anthropic.com", "ANTHROPIC_API_KEY", ["claude-"]),
            ("gemini", "https://generativelanguage.googleapis.com", "GEMINI_API_KEY", ["gemini-"]),
        ]
        for (name, url, env, prefixes) in known where !(environment[env] ?? "").isEmpty {
            c.providers.append(ProviderConfig(name: name, kind: name, baseURL: url, apiKeyEnv: env))
            c.routes += prefixes.map { PrefixRoute(prefix: $0, provider: name) }
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

    /// Cross-field checks; each error names the key path.
    public func validate() -> [ConfigError] {
        var errors: [ConfigError] = []
        var providerNames: [String: Int] = [:]
        for (i, p) in providers.enumerated() {
            if let first = providerNames[p.name] {
                errors.append(
                    .init(
                        path: "providers[\(i)].name",
                        problem: "duplicate provider name \"\(p.name)\" (first at providers[\(first)])"))
            } else {
                providerNames[p.name] = i
            }
            if !["openai", "anthropic", "gemini"].contains(p.kind) {
                errors.append(
                    .init(
                        path: "providers[\(i)].kind",
                        problem: "unknown kind \"\(p.kind)\" (expected openai, anthropic or gemini)"))
            }
            if p.responsesMode != .native, p.kind != "openai" {
                errors.append(
                    .init(path: "providers[\(i)].responses_mode", problem: "only applies to providers of kind openai"))
            }
            if !(p.baseURL.hasPrefix("http://") || p.baseURL.hasPrefix("https://")) {
                errors.append(.init(path: "providers[\(i)].base_url", problem: "must start with http:// or https://"))
            }
            for (key, v) in [
                ("timeout_ms", p.timeoutMs), ("connect_timeout_ms", p.connectTimeoutMs),
                ("first_event_timeout_ms", p.firstEventTimeoutMs), ("idle_timeout_ms", p.idleTimeoutMs),
                ("default_max_tokens", p.defaultMaxTokens),
            ] where v <= 0 {
                errors.append(.init(path: "providers[\(i)].\(key)", problem: "must be positive"))
            }
        }
        var modelNames: Set<String> = []
        for (i, m) in models.enumerated() {
            if !modelNames.insert(m.name).inserted {
                errors.append(.init(path: "models[\(i)].name", problem: "duplicate model name \"\(m.name)\""))
            }
            if m.targets.isEmpty {
                errors.append(.init(path: "models[\(i)].targets", problem: "needs at least one target"))
            }
            for (j, t) in m.targets.enumerated() {
                if providerNames[t.provider] == nil {
                    errors.append(
                        .init(
                            path: "models[\(i)].targets[\(j)].provider", problem: "no provider named \"\(t.provider)\"")
                    )
                }
                if t.weight <= 0 {
                    errors.append(.init(path: "models[\(i)].targets[\(j)].weight", problem: "must be positive"))
                }
                if let mode = t.continuation, let k = providerNames[t.provider],
                    let problem = Self.continuationProblem(mode, provider: providers[k])
                {
                    errors.append(.init(path: "models[\(i)].targets[\(j)].continuation", problem: problem))
                }
            }
        }
        for (i, r) in routes.enumerated() where providerNames[r.provider] == nil {
            errors.append(.init(path: "routes[\(i)].provider", problem: "no provider named \"\(r.provider)\""))
        }
        var keyNames: Set<String> = []
        for (i, k) in auth.keys.enumerated() where !keyNames.insert(k.name).inserted {
            errors.append(.init(path: "auth.keys[\(i)].name", problem: "duplicate key name \"\(k.name)\""))
        }
        if retry.attemptsPerTarget < 1 {
            errors.append(.init(path: "retry.attempts_per_target", problem: "must be at least 1"))
        }
        if retry.multiplier < 1 { errors.append(.init(path: "retry.multiplier", problem: "must be at least 1")) }
        if retry.initialBackoffMs < 0 {
            errors.append(.init(path: "retry.initial_backoff_ms", problem: "must not be negative"))
        }
        if retry.maxBackoffMs < retry.initialBackoffMs {
            errors.append(.init(path: "retry.max_backoff_ms", problem: "must be at least initial_backoff_ms"))
        }
        if !(0...100).contains(retry.budgetPercent) {
            errors.append(.init(path: "retry.budget_percent", problem: "must be within 0..100"))
        }
        if !(retry.budgetMinRetriesPerSecond >= 0) {
            errors.append(.init(path: "retry.budget_min_retries_per_s", problem: "must not be negative"))
        }
        if retry.deadlineMs <= 0 { errors.append(.init(path: "retry.deadline_ms", problem: "must be positive")) }
        if circuitBreaker.failureThreshold < 1 {
            errors.append(.init(path: "circuit_breaker.failure_threshold", problem: "must be at least 1"))
        }
        if circuitBreaker.openMs <= 0 {
            errors.append(.init(path: "circuit_breaker.open_ms", problem: "must be positive"))
        }
        if limits.maxBodyBytes < 1024 {
            errors.append(.init(path: "limits.max_body_bytes", problem: "must be at least 1024"))
        }
        if limits.streamHeartbeatMs < 10 {
            errors.append(.init(path: "limits.stream_heartbeat_ms", problem: "must be at least 10"))
        }
        if limits.streamHeartbeatMs < 10 {
            errors.append(.init(path: "limits.stream_heartbeat_ms", problem: "must be at least 10"))
        }
        if !(0...256).contains(eventLoops) {
            errors.append(.init(path: "event_loops", problem: "must be between 0 (one per core) and 256"))
        }
        if limits.maxConnections < 1 {
            errors.append(.init(path: "limits.max_connections", problem: "must be at least 1"))
        }
        if store.path.isEmpty { errors.append(.init(path: "store.path", problem: "must not be empty")) }
        if store.idempotencyTTLSeconds < 1 {
            errors.append(.init(path: "store.idempotency_ttl_s", problem: "must be at least 1"))
        }
        if store.responsesTTLSeconds < 1 {
            errors.append(.init(path: "store.responses_ttl_s", problem: "must be at least 1"))
        }
        if !(1...256).contains(tasks.workers) {
            errors.append(.init(path: "tasks.workers", problem: "must be within 1..256"))
        }
        return errors
    }

    /// Why a target of `provider` cannot use continuation `mode`, if it cannot.
    static func continuationProblem(_ mode: ContinuationMode, provider p: ProviderConfig) -> String? {
        if mode.isOpenAIFlag, p.kind != "openai" {
            return "\(mode.rawValue) is a flag of OpenAI-compatible servers; \(p.kind) targets continue with prefill"
        }
        // OpenAI's own Chat Completions (and Azure's) answer a final assistant message with a new
        // turn instead of continuing it: spliced onto the delivered text that would garble the
        // answer. OpenAI-compatible servers elsewhere may continue (the operator says how).
        if mode != .unsupported, p.kind == "openai", let host = Self.host(of: p.baseURL),
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
            fail(path.isEmpty ? key : "\(path).\(key)", "expected \(expected), got \(v.kindName)")
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
                    "shutdown_grace_ms", "health_check_ms", "event_loops",
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
                guard let ko = object(k, p, allowed: ["name", "key_env"]) else { continue }
                if let name = string(ko, "name", p, required: true), let env = string(ko, "key_env", p, required: true)
                {
                    c.auth.keys.append(ClientKeyConfig(name: name, keyEnv: env))
                }
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
                        "default_max_tokens", "responses_mode",
                    ])
            else { continue }
            guard let name = string(po, "name", p, required: true), let kind = string(po, "kind", p, required: true)
            else { continue }
            var pc = ProviderConfig(
                name: name, kind: kind, baseURL: string(po, "base_url", p) ?? defaultBaseURL(kind),
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
            guard let mo = object(mv, p, allowed: ["name", "targets", "stream_mode"]),
                let name = string(mo, "name", p, required: true)
            else { continue }
            var targets: [TargetConfig] = []
            for (j, tv) in array(mo, "targets", p).enumerated() {
                let tp = "\(p).targets[\(j)]"
                guard let to = object(tv, tp, allowed: ["provider", "model", "priority", "weight", "continuation"]),
                    let provider = string(to, "provider", tp, required: true),
                    let model = string(to, "model", tp, required: true)
                else { continue }
                targets.append(
                    TargetConfig(
                        provider: provider, model: model, priority: int(to, "priority", tp) ?? 1,
                        weight: int(to, "weight", tp) ?? 1,
                        continuation: oneOf(to, "continuation", tp, ContinuationMode.self)))
            }
            c.models.append(
                ModelConfig(
                    name: name, targets: targets,
                    streamMode: oneOf(mo, "stream_mode", p, StreamMode.self) ?? .incremental))
        }
        for (i, rv) in array(o, "routes", "").enumerated() {
            let p = "routes[\(i)]"
            guard let ro = object(rv, p, allowed: ["prefix", "provider"]),
                let prefix = string(ro, "prefix", p, required: true),
                let provider = string(ro, "provider", p, required: true)
            else { continue }
            c.routes.append(PrefixRoute(prefix: prefix, provider: provider))
        }
        if let r = object(
            o["retry"], "retry",
            allowed: [
                "attempts_per_target", "initial_backoff_ms", "max_backoff_ms", "multiplier", "deadline_ms",
                "wait_retry_after_ms", "budget_percent", "budget_min_retries_per_s",
            ])
        {
            c.retry.attemptsPerTarget = int(r, "attempts_per_target", "retry") ?? c.retry.attemptsPerTarget
            c.retry.initialBackoffMs = int(r, "initial_backoff_ms", "retry") ?? c.retry.initialBackoffMs
            c.retry.maxBackoffMs = int(r, "max_backoff_ms", "retry") ?? c.retry.maxBackoffMs
            c.retry.multiplier = double(r, "multiplier", "retry") ?? c.retry.multiplier
            c.retry.deadlineMs = int(r, "deadline_ms", "retry") ?? c.retry.deadlineMs
            c.retry.waitRetryAfterMs = int(r, "wait_retry_after_ms", "retry") ?? c.retry.waitRetryAfterMs
            c.retry.budgetPercent = double(r, "budget_percent", "retry") ?? c.retry.budgetPercent
            c.retry.budgetMinRetriesPerSecond =
                double(r, "budget_min_retries_per_s", "retry") ?? c.retry.budgetMinRetriesPerSecond
        }
        if let b = object(o["circuit_breaker"], "circuit_breaker", allowed: ["failure_threshold", "open_ms"]) {
            c.circuitBreaker.failureThreshold =
                int(b, "failure_threshold", "circuit_breaker") ?? c.circuitBreaker.failureThreshold
            c.circuitBreaker.openMs = int(b, "open_ms", "circuit_breaker") ?? c.circuitBreaker.openMs
        }
        if let s = object(o["store"], "store", allowed: ["path", "idempotency_ttl_s", "responses_ttl_s"]) {
            c.store.path = string(s, "path", "store") ?? c.store.path
            c.store.idempotencyTTLSeconds = int(s, "idempotency_ttl_s", "store") ?? c.store.idempotencyTTLSeconds
            c.store.responsesTTLSeconds = int(s, "responses_ttl_s", "store") ?? c.store.responsesTTLSeconds
        }
        if let t = object(o["tasks"], "tasks", allowed: ["workers"]) {
            c.tasks.workers = int(t, "workers", "tasks") ?? c.tasks.workers
        }
        if let l = object(
            o["limits"], "limits",
            allowed: [
                "max_body_bytes", "max_connections", "max_header_bytes", "client_timeout_s", "stream_heartbeat_ms",
            ])
        {
            c.limits.maxBodyBytes = int(l, "max_body_bytes", "limits") ?? c.limits.maxBodyBytes
            c.limits.maxConnections = int(l, "max_connections", "limits") ?? c.limits.maxConnections
            c.limits.maxHeaderBytes = int(l, "max_header_bytes", "limits") ?? c.limits.maxHeaderBytes
            c.limits.clientTimeoutSeconds = int(l, "client_timeout_s", "limits") ?? c.limits.clientTimeoutSeconds
            c.limits.streamHeartbeatMs = int(l, "stream_heartbeat_ms", "limits") ?? c.limits.streamHeartbeatMs
        }
        c.shutdownGraceMs = int(o, "shutdown_grace_ms", "") ?? c.shutdownGraceMs
        c.healthCheckMs = int(o, "health_check_ms", "") ?? c.healthCheckMs
        c.eventLoops = int(o, "event_loops", "") ?? c.eventLoops
        return c
    }

    func defaultBaseURL(_ kind: String) -> String {
        switch kind {
        case "anthropic": "https://api.anthropic.com"
        case "gemini": "https://generativelanguage.googleapis.com"
        default: "https://api.openai.com/v1"
        }
    }
}

extension String {
    fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: Character(target), omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
