import Testing

@testable import SwitchyardCore

/// Every numeric key has a range and every string a validity rule; errors name the key path,
/// and one run reports every mistake.
@Suite struct ConfigValidationTests {
    /// `base` with the value at a dotted path (`providers[0].timeout_ms`) replaced.
    static func setting(_ path: String, _ value: JSON, in root: JSON = ConfigTests.base) -> JSON {
        var parts: [String] = []
        for piece in path.split(separator: ".") {
            var rest = Substring(piece)
            if let bracket = rest.firstIndex(of: "[") {
                parts.append(String(rest[..<bracket]))
                rest = rest[bracket...]
                while let close = rest.firstIndex(of: "]") {
                    parts.append(String(rest[rest.index(after: rest.startIndex)..<close]))
                    rest = rest[rest.index(after: close)...]
                }
            } else {
                parts.append(String(rest))
            }
        }
        func set(_ node: JSON, _ parts: ArraySlice<String>) -> JSON {
            guard let first = parts.first else { return value }
            if let i = Int(first), var items = node.arrayValue {
                items[i] = set(items[i], parts.dropFirst())
                return .array(items)
            }
            var o = node.objectValue ?? JSONObject()
            o[first] = set(o[first] ?? .null, parts.dropFirst())
            return .object(o)
        }
        return set(root, parts[...])
    }

    static func errors(_ root: JSON) -> [ConfigError] { SwitchyardConfig.decodeReportingAll(root).1 }

    static let outOfRange: [(String, JSON)] = [
        ("limits.max_header_bytes", 9_223_372_036_854_775_807), ("limits.max_header_bytes", 4_294_967_296),
        ("limits.max_header_bytes", 100), ("limits.max_body_bytes", -1), ("limits.client_timeout_s", -5),
        ("limits.client_timeout_s", 0), ("limits.max_connections", 0), ("limits.stream_heartbeat_ms", 5),
        ("shutdown_grace_ms", -1), ("health_check_ms", -1), ("health_check_ms", 50),
        ("retry.wait_retry_after_ms", -1), ("retry.deadline_ms", 0), ("retry.multiplier", 0.5),
        ("retry.budget_percent", 150), ("retry.attempts_per_target", 0), ("retry.initial_backoff_ms", -1),
        ("circuit_breaker.open_ms", 0), ("circuit_breaker.failure_threshold", 0), ("store.idempotency_ttl_s", 0),
        ("tasks.workers", 0), ("providers[0].timeout_ms", 0), ("providers[0].timeout_ms", 99_999_999_999),
        ("providers[0].connect_timeout_ms", -1), ("providers[0].first_event_timeout_ms", 0),
        ("providers[0].idle_timeout_ms", 0), ("providers[0].default_max_tokens", 0),
        ("models[0].targets[0].weight", 0), ("models[0].targets[0].priority", 2_000_000), ("event_loops", -1),
        ("event_loops", 257),
    ]

    @Test(arguments: outOfRange)
    func numbersOutOfRangeNameTheirKey(_ path: String, _ value: JSON) {
        let e = Self.errors(Self.setting(path, value))
        #expect(e.map(\.path) == [path], "\(e)")
        #expect(e.first?.problem.contains("must be") == true)
    }

    @Test func theDocumentedDefaultsAreInRange() {
        #expect(SwitchyardConfig().validate().isEmpty)
        #expect(Self.errors(ConfigTests.base).isEmpty)
    }

    static let badStrings: [(String, JSON)] = [
        ("models[0].name", ""), ("models[0].name", " smart"), ("models[0].name", "a\nb"),
        ("models[0].targets[0].model", ""), ("models[0].targets[0].model", "gpt 4o"),
        ("providers[0].name", "open/ai"), ("providers[0].name", ""), ("providers[0].base_url", "ftp://x"),
        ("providers[0].base_url", "http://"), ("providers[0].base_url", "https://user:pw@api.openai.com"),
        ("providers[0].base_url", "http://h/a path"), ("providers[0].base_url", "http://h/v1?x=1"),
        ("providers[0].api_key_env", "1BAD"), ("providers[0].api_key_env", "has-dash"),
        ("providers[0].organization", "org\r\nX-Injected: 1"), ("providers[0].headers.anthropic-beta", "a\r\nb: c"),
        ("providers[0].headers.bad name", "x"), ("providers[0].headers.x:y", "x"),
        ("providers[0].headers.Content-Length", "0"), ("providers[0].headers.x-nul", "a\u{0}b"),
        ("routes[0].prefix", "gpt\n"),
    ]

    @Test(arguments: badStrings)
    func invalidStringsNameTheirKey(_ path: String, _ value: JSON) {
        var root = ConfigTests.base
        root["routes"] = [["prefix": "gpt-", "provider": "openai"]]
        let e = Self.errors(Self.setting(path, value, in: root))
        // (Renaming a provider also breaks the references to its old name.)
        #expect(e.first?.path == path, "\(e)")
        #expect(e.allSatisfy { $0.path == path || $0.problem.hasPrefix("no provider named") }, "\(e)")
    }

    @Test func theHeartbeatIsCheckedOnce() {
        let e = Self.errors(Self.setting("limits.stream_heartbeat_ms", 1))
        #expect(e.count == 1)
    }

    /// `check-config` used to stop after the type errors: range and cross-field problems showed
    /// only once those were fixed (five mistakes took four runs).
    @Test func typeRangeAndReferenceMistakesComeInOneRun() {
        var root = Self.setting("retry.attempts_per_target", "two")
        root = Self.setting("limits.max_header_bytes", 4_294_967_296, in: root)
        root = Self.setting("models[0].targets[1].provider", "antropic", in: root)
        root = Self.setting("shutdown_grace_ms", -1, in: root)
        root = Self.setting("typo_key", 1, in: root)
        let paths = Set(Self.errors(root).map(\.path))
        #expect(
            paths == [
                "retry.attempts_per_target", "limits.max_header_bytes", "models[0].targets[1].provider",
                "shutdown_grace_ms", "typo_key",
            ])
    }

    /// A broken list entry keeps its place, so the next entry's errors carry its own index.
    @Test func aBrokenEntryDoesNotShiftTheIndicesAfterIt() {
        var providers = ConfigTests.base["providers"]!.arrayValue!
        providers.insert("not a mapping", at: 0)
        providers[2]["timeout_ms"] = -1
        var root = ConfigTests.base
        root["providers"] = .array(providers)
        let e = Self.errors(root).map(\.description)
        #expect(e.contains("providers[0]: expected a mapping, got string"))
        #expect(e.contains("providers[2].timeout_ms: must be within 1...3600000, got -1"))
        #expect(!e.contains { $0.hasPrefix("providers[0].") })
    }
}
