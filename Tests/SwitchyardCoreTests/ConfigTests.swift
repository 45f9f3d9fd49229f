import Testing

@testable import SwitchyardCore

@Suite struct ConfigTests {
    static let base: JSON = [
        "listen": "127.0.0.1:4000",
        "providers": [
            [
                "name": "openai", "kind": "openai", "base_url": "https://api.openai.com/v1",
                "api_key_env": "OPENAI_API_KEY",
            ],
            [
                "name": "anthropic", "kind": "anthropic", "base_url": "https://api.anthropic.com",
                "api_key_env": "ANTHROPIC_API_KEY",
            ],
        ],
        "models": [
            [
                "name": "smart",
                "targets": [
                    ["provider": "openai", "model": "gpt-4o-mini", "priority": 1],
                    ["provider": "anthropic", "model": "claude-3-5-haiku-latest", "priority": 2],
                ],
            ]
        ],
        "retry": ["attempts_per_target": 2, "initial_backoff_ms": 1000, "max_backoff_ms": 8000, "multiplier": 2],
        "circuit_breaker": ["failure_threshold": 5, "open_ms": 30000],
        "store": ["path": "switchyard.db"],
    ]

    @Test func decodesTheDocumentedKeys() throws {
        let c = try SwitchyardConfig.decode(Self.base)
        #expect(c.listen == ListenAddress(host: "127.0.0.1", port: 4000))
        #expect(c.providers.map(\.name) == ["openai", "anthropic"])
        #expect(c.models[0].targets[1].priority == 2)
        #expect(c.circuitBreaker.openMs == 30000)
        #expect(c.retry.multiplier == 2)
    }

    func errors(_ edit: (inout JSON) -> Void) -> [String] {
        var j = Self.base
        edit(&j)
        do {
            _ = try SwitchyardConfig.decode(j)
            return []
        } catch {
            return error.errors.map(\.description)
        }
    }

    @Test func unknownProviderNamesThePath() {
        let e = errors { j in
            var models = j["models"]!.arrayValue!
            var targets = models[0]["targets"]!.arrayValue!
            targets[1]["provider"] = "antropic"
            models[0]["targets"] = .array(targets)
            j["models"] = .array(models)
        }
        #expect(e == [#"models[0].targets[1].provider: no provider named "antropic""#])
    }

    @Test func unknownKeyAndWrongTypesAllReported() {
        let e = errors { j in
            j["retyr"] = ["a": 1]
            j["retry"] = ["attempts_per_target": "two"]
            j["listen"] = "nohost"
        }
        #expect(e.contains("retyr: unknown key"))
        #expect(e.contains(#"retry.attempts_per_target: expected an integer, got string "two""#))
        #expect(e.contains(#"listen: expected host:port, got "nohost""#))
    }

    @Test func retryBudgetFloorDecodesAndIsValidated() throws {
        #expect(try SwitchyardConfig.decode(Self.base).retry.budgetMinRetriesPerSecond == 10)
        var j = Self.base
        j["retry"] = ["budget_percent": 25, "budget_min_retries_per_s": 2.5]
        let c = try SwitchyardConfig.decode(j)
        #expect(c.retry.budgetPercent == 25)
        #expect(c.retry.budgetMinRetriesPerSecond == 2.5)
        let e = errors { j in j["retry"] = ["budget_min_retries_per_s": -1] }
        #expect(e == ["retry.budget_min_retries_per_s: must be within 0...100000, got -1.0"])
    }

    @Test func badKindAndDuplicates() {
        let e = errors { j in
            var p = j["providers"]!.arrayValue!
            p[1]["kind"] = "cohere"
            p[1]["name"] = "openai"
            j["providers"] = .array(p)
        }
        #expect(e.contains(#"providers[1].name: duplicate provider name "openai" (first at providers[0])"#))
        #expect(e.contains(#"providers[1].kind: unknown kind "cohere" (expected openai, anthropic or gemini)"#))
    }

    @Test func responsesModeAndRetention() throws {
        var j = Self.base
        var p = j["providers"]!.arrayValue!
        p[0]["responses_mode"] = "chat"
        j["providers"] = .array(p)
        j["store"] = ["path": "s.db", "responses_ttl_s": 3600]
        let c = try SwitchyardConfig.decode(j)
        #expect(c.providers[0].responsesMode == .chat && c.providers[1].responsesMode == .native)
        #expect(c.store.responsesTTLSeconds == 3600)
        #expect(SwitchyardConfig().store.responsesTTLSeconds == 30 * 86_400)
        let unknown = errors { j in
            var p = j["providers"]!.arrayValue!
            p[0]["responses_mode"] = "both"
            j["providers"] = .array(p)
        }
        #expect(unknown == [#"providers[0].responses_mode: unknown value "both" (expected one of: native, chat)"#])
        let invalid = errors { j in
            var p = j["providers"]!.arrayValue!
            p[1]["responses_mode"] = "chat"
            j["providers"] = .array(p)
            j["store"] = ["path": "s.db", "responses_ttl_s": 0]
        }
        #expect(invalid.contains("providers[1].responses_mode: only applies to providers of kind openai"))
        #expect(invalid.contains("store.responses_ttl_s: must be within 1...31536000, got 0"))
    }

    /// `structured_outputs` (a target) and `clamp_temperature` (a provider) switch on what an
    /// Anthropic model can take; both are off by default and refused where they mean nothing.
    @Test func structuredOutputsAndTemperatureClampAreAnthropicSwitches() throws {
        var j = Self.base
        var p = j["providers"]!.arrayValue!
        p[1]["clamp_temperature"] = true
        j["providers"] = .array(p)
        var m = j["models"]!.arrayValue!
        var t = m[0]["targets"]!.arrayValue!
        t[1]["structured_outputs"] = true
        m[0]["targets"] = .array(t)
        j["models"] = .array(m)
        let c = try SwitchyardConfig.decode(j)
        #expect(c.providers[1].clampTemperature && !c.providers[0].clampTemperature)
        #expect(c.models[0].targets[1].structuredOutputs && !c.models[0].targets[0].structuredOutputs)
        let invalid = errors { j in
            var p = j["providers"]!.arrayValue!
            p[0]["clamp_temperature"] = true
            j["providers"] = .array(p)
            var m = j["models"]!.arrayValue!
            var t = m[0]["targets"]!.arrayValue!
            t[0]["structured_outputs"] = true
            t[1]["structured_outputs"] = "yes"
            m[0]["targets"] = .array(t)
            j["models"] = .array(m)
        }
        #expect(invalid.contains("providers[0].clamp_temperature: only applies to providers of kind anthropic"))
        #expect(
            invalid.contains(
                "models[0].targets[0].structured_outputs: only applies to targets of anthropic providers (OpenAI and Gemini take a JSON schema natively)"
            ))
        #expect(invalid.contains { $0.hasPrefix("models[0].targets[1].structured_outputs: ") }, "\(invalid)")
    }

    @Test func aPostgresStoreIsNamedByAnEnvironmentVariableAndItsURLIsNeverShown() throws {
        var j = Self.base
        j["store"] = ["url_env": "SWITCHYARD_DATABASE_URL"]
        let c = try SwitchyardConfig.decode(j)
        #expect(c.store.kind == .postgres && c.store.urlEnv == "SWITCHYARD_DATABASE_URL")
        #expect(SwitchyardConfig().store.kind == .sqlite, "SQLite stays the default")
        j["store"] = ["kind": "postgres", "url_env": "DB"]
        #expect(try SwitchyardConfig.decode(j).store.kind == .postgres)
        #expect(try SwitchyardConfig.decode(j).store.leaseMs == 15_000)
        j["store"] = ["url_env": "DB", "lease_ms": 3000]
        #expect(try SwitchyardConfig.decode(j).store.leaseMs == 3000)
        #expect(
            errors { j in j["store"] = ["url_env": "DB", "lease_ms": 999] }.first
                == "store.lease_ms: must be within 1000...86400000, got 999")
        #expect(errors { j in j["store"] = ["lease_ms": 3000] }.first?.hasPrefix("store.lease_ms: only") == true)

        let password = "s3cret-pass-word"
        let inline = errors { j in j["store"] = ["url": .string("postgres://u:\(password)@db/x")] }
        #expect(inline.count == 1 && inline[0].hasPrefix("store.url: a database URL carries its password"))
        #expect(!inline.joined().contains(password))
        #expect(errors { j in j["store"] = ["kind": "postgres"] }.first?.hasPrefix("store.url_env: required") == true)
        #expect(
            errors { j in j["store"] = ["kind": "sqlite", "url_env": "DB"] }.first?.hasPrefix("store.url_env: only")
                == true)
        #expect(
            errors { j in j["store"] = ["path": "a.db", "url_env": "DB"] }.first?.hasPrefix("store.path: only") == true)
        #expect(
            errors { j in j["store"] = ["url_env": "1DB"] }.first?.hasPrefix("store.url_env: must be an environment")
                == true)
        #expect(
            errors { j in j["store"] = ["kind": "mysql"] }.first?.hasPrefix(#"store.kind: unknown value "mysql""#)
                == true)

        let store = try SwitchyardConfig.decode(j).store
        let url = "postgres://switchyard:\(password)@db.internal:5432/switchyard?sslmode=require"
        guard case .success(let resolved)? = store.resolvedURL(environment: ["DB": url]) else {
            Issue.record("expected a URL")
            return
        }
        #expect(resolved.value == url)
        #expect(resolved.location == "postgres://switchyard@db.internal:5432/switchyard?sslmode=require")
        #expect(!"\(resolved)".contains(password) && !String(reflecting: resolved).contains(password))
        guard case .failure(let missing)? = store.resolvedURL(environment: [:]) else {
            Issue.record("expected an error")
            return
        }
        #expect(
            missing.description == "store.url_env: DB is not set (it must hold the postgres:// URL of the shared store)"
        )
        guard case .failure(let wrong)? = store.resolvedURL(environment: ["DB": "mysql://u:\(password)@h/x"]) else {
            Issue.record("expected an error")
            return
        }
        #expect(wrong.description == "store.url_env: DB must start with postgres:// or postgresql://")
        #expect(SwitchyardConfig().store.resolvedURL(environment: ["DB": url]) == nil)
    }

    @Test func emptyFileIsAnError() {
        #expect(throws: ConfigErrors.self) { try SwitchyardConfig.decode(.null) }
    }

    @Test func embeddedDefaultEnablesProvidersWithKeys() {
        let c = SwitchyardConfig.embeddedDefault(environment: ["ANTHROPIC_API_KEY": "k", "GEMINI_API_KEY": ""])
        #expect(c.providers.map(\.name) == ["anthropic"])
        #expect(c.routes == [PrefixRoute(prefix: "claude-", provider: "anthropic")])
        let all = SwitchyardConfig.embeddedDefault(environment: [
            "OPENAI_API_KEY": "a", "ANTHROPIC_API_KEY": "b", "GEMINI_API_KEY": "c",
        ])
        #expect(all.routes.first { "o3-mini".hasPrefix($0.prefix) }?.provider == "openai")
        #expect(all.routes.first { "gemini-2.0-flash".hasPrefix($0.prefix) }?.provider == "gemini")
        #expect(all.validate().isEmpty)
    }

    @Test func secretDescriptionIsRedacted() {
        let s = Secret("sk-live-123")
        #expect("\(s)" == "<redacted>")
        #expect(String(reflecting: s) == "<redacted>")
    }
}
