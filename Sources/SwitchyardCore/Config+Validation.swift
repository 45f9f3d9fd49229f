extension SwitchyardConfig {
    /// Ranges of every numeric key (README "Configuration"). Upper bounds stop values that would
    /// take the server down rather than express a wish: `max_header_bytes` is the size of each
    /// connection's request buffer (9223372036854775807 reset every connection, 4 GiB took 2.1 GB
    /// after two requests), and timeouts past an hour or a day are typos for shorter ones.
    public enum Limits {
        public static let timeoutMs = 1...3_600_000
        public static let connectTimeoutMs = 1...600_000
        public static let defaultMaxTokens = 1...1_000_000
        public static let priority = -1_000_000...1_000_000
        public static let weight = 1...1_000_000
        public static let attemptsPerTarget = 1...100
        public static let backoffMs = 0...3_600_000
        public static let multiplier = 1.0...100.0
        public static let deadlineMs = 1...86_400_000
        public static let waitRetryAfterMs = 0...3_600_000
        public static let budgetPercent = 0.0...100.0
        public static let budgetMinRetriesPerSecond = 0.0...100_000.0
        public static let failureThreshold = 1...1_000_000
        public static let openMs = 1...86_400_000
        public static let idempotencyTTLSeconds = 1...31_536_000
        public static let responsesTTLSeconds = 1...31_536_000
        /// A second at least (renewed every third of it, the database sees three writes a second
        /// per replica at most); a day at most.
        public static let leaseMs = 1_000...86_400_000
        public static let workers = 1...256
        public static let maxBodyBytes = 1024...(256 << 20)
        public static let maxConnections = 1...65_536
        public static let maxHeaderBytes = 1024...(1 << 20)
        public static let clientTimeoutSeconds = 1...86_400
        public static let headerTimeoutSeconds = 1...86_400
        public static let bodyTimeoutSeconds = 1...86_400
        /// `max_connections_per_peer` and `max_connections_per_loopback_peer`; 0 is no cap.
        public static let connectionsPerPeer = 0...65_536
        public static let streamHeartbeatMs = 10...600_000
        public static let shutdownGraceMs = 0...3_600_000
        /// `health_check_ms`, when not 0 (off): more often than once a second would hammer providers.
        public static let healthCheckMs = 1000...86_400_000
        /// `event_loops`; 0 is one per core the process may use.
        public static let eventLoops = 0...256
        public static let nameLength = 1...64
    }

    /// Range, validity and cross-field checks; each error names the key path.
    public func validate() -> [ConfigError] {
        var v = Validator()
        v.check(self)
        return v.errors
    }
}

/// The checks of `validate()`, one rule per key kind, written once.
private struct Validator {
    var errors: [ConfigError] = []
    typealias Limits = SwitchyardConfig.Limits

    mutating func fail(_ path: String, _ problem: String) { errors.append(ConfigError(path: path, problem: problem)) }

    mutating func range(_ path: String, _ value: Int, _ allowed: ClosedRange<Int>) {
        if !allowed.contains(value) {
            fail(path, "must be within \(allowed.lowerBound)...\(allowed.upperBound), got \(value)")
        }
    }

    /// Also refuses NaN and infinities (a `.nan` compares false with every bound).
    mutating func range(_ path: String, _ value: Double, _ allowed: ClosedRange<Double>) {
        if !value.isFinite || !allowed.contains(value) {
            fail(
                path, "must be within \(Self.text(allowed.lowerBound))...\(Self.text(allowed.upperBound)), got \(value)"
            )
        }
    }

    static func text(_ d: Double) -> String { d == d.rounded() ? String(Int(d)) : String(d) }

    /// A name that appears in key paths, metric labels, logs and `provider/model` ids.
    mutating func name(_ path: String, _ value: String) {
        if value.isEmpty {
            fail(path, "must not be empty")
        } else if !Limits.nameLength.contains(value.utf8.count) || !value.utf8.allSatisfy(Self.isNameByte)
            || value.first == "-" || value.first == "."
        {
            fail(path, "must be 1-64 letters, digits, '.', '_' or '-' (not starting with '.' or '-'), got \"\(value)\"")
        }
    }

    static func isNameByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
            true
        default: false
        }
    }

    /// An environment variable name (POSIX portable: letters, digits, `_`, not starting with a digit).
    mutating func envName(_ path: String, _ value: String) {
        let ok =
            !value.isEmpty && value.utf8.first.map { !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) } == true
            && value.utf8.allSatisfy { Self.isNameByte($0) && $0 != UInt8(ascii: ".") && $0 != UInt8(ascii: "-") }
        if !ok { fail(path, "must be an environment variable name (letters, digits, '_'), got \"\(value)\"") }
    }

    /// Free text that reaches a URL, a header or a log line: no control characters, no
    /// surrounding whitespace, not empty.
    mutating func text(_ path: String, _ value: String, allowSpaces: Bool = true) {
        if value.isEmpty {
            fail(path, "must not be empty")
        } else if value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            fail(path, "must not contain control characters (line breaks, tabs, NUL)")
        } else if !allowSpaces, value.contains(where: \.isWhitespace) {
            fail(path, "must not contain whitespace, got \"\(value)\"")
        } else if value.first?.isWhitespace == true || value.last?.isWhitespace == true {
            fail(path, "must not start or end with whitespace")
        }
    }

    /// RFC 9110 §5.1 field name: a token.
    static func isToken(_ s: String) -> Bool {
        !s.isEmpty
            && s.utf8.allSatisfy { b in
                isNameByte(b) || "!#$%&'*+^`|~".utf8.contains(b)
            }
    }

    /// RFC 9110 §5.5 field value: visible characters, spaces and tabs; no CR, LF or NUL.
    mutating func headerValue(_ path: String, _ value: String) {
        if value.unicodeScalars.contains(where: { ($0.value < 0x20 && $0 != "\t") || $0.value == 0x7F }) {
            fail(path, "must not contain control characters (CR, LF, NUL): they would split the request")
        }
    }

    /// `http(s)://host[:port][/path]`: the codecs append their paths and queries to it.
    mutating func baseURL(_ path: String, _ url: String) {
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            return fail(path, "must start with http:// or https://, got \"\(url)\"")
        }
        let rest = url.drop { $0 != "/" }.dropFirst(2)
        let authority = rest.prefix { $0 != "/" }
        if url.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F }) {
            fail(path, "must not contain spaces or control characters")
        } else if authority.isEmpty || authority.hasPrefix(":") {
            fail(path, "has no host")
        } else if authority.contains("@") {
            fail(path, "must not carry credentials (user:password@); name the key with api_key_env")
        } else if url.contains("?") || url.contains("#") {
            fail(path, "must not have a query or fragment")
        }
    }

    mutating func check(_ c: SwitchyardConfig) {
        var providerNames: [String: Int] = [:]
        for (i, p) in c.providers.enumerated() {
            let at = "providers[\(i)]"
            name(at + ".name", p.name)
            if let first = providerNames[p.name], !p.name.isEmpty {
                fail(at + ".name", "duplicate provider name \"\(p.name)\" (first at providers[\(first)])")
            } else {
                providerNames[p.name] = providerNames[p.name] ?? i
            }
            if p.responsesMode != .native, p.kind != .openai {
                fail(at + ".responses_mode", "only applies to providers of kind openai")
            }
            if p.clampTemperature, p.kind != .anthropic {
                fail(at + ".clamp_temperature", "only applies to providers of kind anthropic")
            }
            baseURL(at + ".base_url", p.baseURL)
            if let env = p.apiKeyEnv { envName(at + ".api_key_env", env) }
            range(at + ".timeout_ms", p.timeoutMs, Limits.timeoutMs)
            range(at + ".connect_timeout_ms", p.connectTimeoutMs, Limits.connectTimeoutMs)
            range(at + ".first_event_timeout_ms", p.firstEventTimeoutMs, Limits.timeoutMs)
            range(at + ".idle_timeout_ms", p.idleTimeoutMs, Limits.timeoutMs)
            range(at + ".default_max_tokens", p.defaultMaxTokens, Limits.defaultMaxTokens)
            if let org = p.organization { headerValue(at + ".organization", org) }
            if let project = p.project { headerValue(at + ".project", project) }
            for h in p.headers {
                let hp = "\(at).headers.\(h.name)"
                if !Self.isToken(h.name) {
                    fail(hp, "is not a valid header name (letters, digits and !#$%&'*+-.^_`|~)")
                } else if ["host", "content-length", "transfer-encoding", "connection"].contains(h.name.lowercased()) {
                    fail(hp, "is set by the transport and cannot be configured")
                }
                headerValue(hp, h.value)
            }
        }
        var modelNames: Set<String> = []
        for (i, m) in c.models.enumerated() {
            let at = "models[\(i)]"
            text(at + ".name", m.name)
            if !m.name.isEmpty, !modelNames.insert(m.name).inserted {
                fail(at + ".name", "duplicate model name \"\(m.name)\"")
            }
            if m.targets.isEmpty { fail(at + ".targets", "needs at least one target") }
            for (j, t) in m.targets.enumerated() {
                let tp = "\(at).targets[\(j)]"
                if providerNames[t.provider] == nil {
                    fail(tp + ".provider", "no provider named \"\(t.provider)\"")
                }
                text(tp + ".model", t.model, allowSpaces: false)
                range(tp + ".priority", t.priority, Limits.priority)
                range(tp + ".weight", t.weight, Limits.weight)
                if t.structuredOutputs, let k = providerNames[t.provider], c.providers[k].kind != .anthropic {
                    fail(
                        tp + ".structured_outputs",
                        "only applies to targets of anthropic providers (OpenAI and Gemini take a JSON schema natively)"
                    )
                }
                if let mode = t.continuation, let k = providerNames[t.provider],
                    let problem = SwitchyardConfig.continuationProblem(mode, provider: c.providers[k])
                {
                    fail(tp + ".continuation", problem)
                }
            }
        }
        for (i, r) in c.routes.enumerated() {
            if providerNames[r.provider] == nil {
                fail("routes[\(i)].provider", "no provider named \"\(r.provider)\"")
            }
            // An empty prefix is a catch-all route.
            if !r.prefix.isEmpty { text("routes[\(i)].prefix", r.prefix, allowSpaces: false) }
        }
        var keyNames: Set<String> = []
        for (i, k) in c.auth.keys.enumerated() {
            name("auth.keys[\(i)].name", k.name)
            if !k.name.isEmpty, !keyNames.insert(k.name).inserted {
                fail("auth.keys[\(i)].name", "duplicate key name \"\(k.name)\"")
            }
            envName("auth.keys[\(i)].key_env", k.keyEnv)
        }
        let r = c.retry
        range("retry.attempts_per_target", r.attemptsPerTarget, Limits.attemptsPerTarget)
        range("retry.initial_backoff_ms", r.initialBackoffMs, Limits.backoffMs)
        range("retry.max_backoff_ms", r.maxBackoffMs, Limits.backoffMs)
        if r.maxBackoffMs < r.initialBackoffMs {
            fail("retry.max_backoff_ms", "must be at least initial_backoff_ms")
        }
        range("retry.multiplier", r.multiplier, Limits.multiplier)
        range("retry.deadline_ms", r.deadlineMs, Limits.deadlineMs)
        range("retry.wait_retry_after_ms", r.waitRetryAfterMs, Limits.waitRetryAfterMs)
        range("retry.budget_percent", r.budgetPercent, Limits.budgetPercent)
        range("retry.budget_min_retries_per_s", r.budgetMinRetriesPerSecond, Limits.budgetMinRetriesPerSecond)
        range("circuit_breaker.failure_threshold", c.circuitBreaker.failureThreshold, Limits.failureThreshold)
        range("circuit_breaker.open_ms", c.circuitBreaker.openMs, Limits.openMs)
        if let env = c.store.urlEnv { envName("store.url_env", env) }
        if c.store.path.isEmpty {
            fail("store.path", "must not be empty")
        } else if c.store.path.utf8.contains(0) {
            fail("store.path", "must not contain NUL")
        }
        range("store.idempotency_ttl_s", c.store.idempotencyTTLSeconds, Limits.idempotencyTTLSeconds)
        range("store.responses_ttl_s", c.store.responsesTTLSeconds, Limits.responsesTTLSeconds)
        range("store.lease_ms", c.store.leaseMs, Limits.leaseMs)
        range("tasks.workers", c.tasks.workers, Limits.workers)
        let l = c.limits
        range("limits.max_body_bytes", l.maxBodyBytes, Limits.maxBodyBytes)
        range("limits.max_connections", l.maxConnections, Limits.maxConnections)
        range("limits.max_header_bytes", l.maxHeaderBytes, Limits.maxHeaderBytes)
        range("limits.client_timeout_s", l.clientTimeoutSeconds, Limits.clientTimeoutSeconds)
        range("limits.header_timeout_s", l.headerTimeoutSeconds, Limits.headerTimeoutSeconds)
        range("limits.body_timeout_s", l.bodyTimeoutSeconds, Limits.bodyTimeoutSeconds)
        range("limits.max_connections_per_peer", l.maxConnectionsPerPeer, Limits.connectionsPerPeer)
        range(
            "limits.max_connections_per_loopback_peer", l.maxConnectionsPerLoopbackPeer, Limits.connectionsPerPeer)
        range("limits.stream_heartbeat_ms", l.streamHeartbeatMs, Limits.streamHeartbeatMs)
        range("shutdown_grace_ms", c.shutdownGraceMs, Limits.shutdownGraceMs)
        range("event_loops", c.eventLoops, Limits.eventLoops)
        if c.healthCheckMs != 0 {
            if !Limits.healthCheckMs.contains(c.healthCheckMs) {
                fail(
                    "health_check_ms",
                    "must be 0 (off) or within \(Limits.healthCheckMs.lowerBound)...\(Limits.healthCheckMs.upperBound), got \(c.healthCheckMs)"
                )
            }
        }
    }
}
