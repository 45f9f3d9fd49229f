/// Switchyard's configuration (README "Configuration reference"). Every secret is named by an
/// environment variable (`*_env`) and resolved once, into `Secret`, by `ResolvedConfig`.
public struct SwitchyardConfig: Sendable, Equatable {
    public var listen = ListenAddress(host: "127.0.0.1", port: 4000)
    public var auth = AuthConfig()
    public var providers: [ProviderConfig] = []
    public var models: [ModelConfig] = []
    /// Prefix routes for model names not in `models` (the embedded default uses these).
    public var routes: [PrefixRoute] = []
    public var retry = RetryConfig()
    public var circuitBreaker = BreakerConfig()
    public var store = StoreConfig()
    public var tasks = TasksConfig()
    public var limits = LimitsConfig()
    public var shutdownGraceMs = 30_000
    /// Interval of the providers' model-listing health checks; 0 disables them.
    public var healthCheckMs = 30_000
    /// Event-loop threads serving requests; 0 means one per core the process may use.
    public var eventLoops = 0
    public var readiness = ReadinessConfig()

    public init() {}
}

public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Loopback addresses are safe to serve without client keys.
    public var isLoopback: Bool { host == "localhost" || host.hasPrefix("127.") || host == "::1" }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Parses `host:port` or `[v6]:port`.
    public init?(parsing text: String) {
        guard let a = SwitchyardConfig.parseListen(text) else { return nil }
        self = a
    }
}

public struct ClientKeyConfig: Sendable, Equatable {
    public var name: String
    public var keyEnv: String
}

public struct AuthConfig: Sendable, Equatable {
    public var keys: [ClientKeyConfig] = []
    public var allowUnauthenticated = false
}

public struct ProviderConfig: Sendable, Equatable {
    public var name: String
    public var kind: ProviderKind
    public var baseURL: String
    public var apiKeyEnv: String?
    public var timeoutMs = 120_000
    public var connectTimeoutMs = 10_000
    public var firstEventTimeoutMs = 10_000
    public var idleTimeoutMs = 30_000
    public var organization: String?
    public var project: String?
    /// Extra headers sent on every upstream call (e.g. `anthropic-beta`).
    public var headers: [HeaderField] = []
    /// Anthropic `max_tokens` when the client gives none.
    public var defaultMaxTokens = 4096
    /// `responses_mode` (openai kind): how `/v1/responses` requests reach this provider.
    public var responsesMode = ResponsesMode.native
    /// `clamp_temperature` (anthropic kind): a `temperature` above 1 is sent as 1 instead of
    /// rejected. Off by default (**policy**: a client asking for 1.5 should hear that it cannot).
    public var clampTemperature = false

    public init(name: String, kind: ProviderKind, baseURL: String, apiKeyEnv: String?) {
        self.name = name
        self.kind = kind
        self.baseURL = baseURL
        self.apiKeyEnv = apiKeyEnv
    }
}

public struct TargetConfig: Sendable, Equatable {
    public var provider: String
    public var model: String
    public var priority: Int = 1
    public var weight: Int = 1
    /// `continuation`: whether and how this target may finish a stream another call broke off by
    /// continuing the delivered text. `nil` = the provider kind's default (`prefill` for
    /// anthropic, `none` for openai and gemini).
    public var continuation: ContinuationMode? = nil
    /// `structured_outputs` (anthropic targets): the model takes `output_config` structured
    /// outputs, so `json_schema` uses them (and may come with `tools`) and tools keep `strict`.
    public var structuredOutputs = false

    public init(
        provider: String, model: String, priority: Int = 1, weight: Int = 1,
        continuation: ContinuationMode? = nil, structuredOutputs: Bool = false
    ) {
        self.provider = provider
        self.model = model
        self.priority = priority
        self.weight = weight
        self.continuation = continuation
        self.structuredOutputs = structuredOutputs
    }
}

public struct ModelConfig: Sendable, Equatable {
    public var name: String
    public var targets: [TargetConfig]
    /// `stream_mode`. Default `incremental`.
    public var streamMode: StreamMode = .incremental
}

/// Config `continuation` of a target: the dialect in which it continues a final assistant
/// message (README "Mid-stream recovery"). Every dialect sends the request again with the text
/// already delivered as a final assistant message, and expects only what follows it back.
public enum ContinuationMode: String, Sendable, Equatable, CaseIterable {
    /// The final assistant message alone asks for its continuation: Anthropic Messages (a
    /// prefill), Gemini 2.x (a final `model` turn), and on OpenAI-compatible servers llama.cpp's
    /// server and Ollama.
    case prefill
    /// OpenAI-compatible body flags `continue_final_message: true` and
    /// `add_generation_prompt: false` next to the final assistant message (vLLM, SGLang).
    case continueFinalMessage = "continue_final_message"
    /// `"prefix": true` on the final assistant message (DeepSeek's beta endpoint, Mistral).
    case prefix
    /// Config value `none`: the target cannot continue an assistant message. (Not named `none`,
    /// which would read as `Optional.none` on a `ContinuationMode?`.)
    case unsupported = "none"

    /// Whether the dialect is a flag of OpenAI-compatible request bodies (only `kind: openai`
    /// targets can send it).
    public var isOpenAIFlag: Bool { self == .continueFinalMessage || self == .prefix }
}

/// Config `stream_mode` of a model: how its streams reach the client.
public enum StreamMode: String, Sendable, Equatable, CaseIterable {
    /// Events go out as they arrive; a stream broken mid-way is continued where possible.
    case incremental
    /// The whole answer is held until the upstream stream completes, then sent as a normal
    /// stream; a failure before that restarts on any target. SSE heartbeats keep the
    /// connection alive meanwhile.
    case buffered
}

/// Config `responses_mode` of an openai-kind provider.
public enum ResponsesMode: String, Sendable, Equatable, CaseIterable {
    /// Forward `/v1/responses` requests to the provider's own `/responses` route, the client's
    /// body with only `model` replaced (built-in tools and every newer field work).
    case native
    /// Translate them to Chat Completions, for OpenAI-compatible servers without a Responses route.
    case chat
}

/// `gpt-*` → provider `openai`: model names matching `prefix` go to `provider` unchanged.
public struct PrefixRoute: Sendable, Equatable {
    public var prefix: String
    public var provider: String
}

public struct RetryConfig: Sendable, Equatable {
    public var attemptsPerTarget = 2
    public var initialBackoffMs = 1000
    public var maxBackoffMs = 8000
    public var multiplier = 2.0
    public var deadlineMs = 120_000
    public var waitRetryAfterMs = 5000
    public var budgetPercent = 20.0
    /// `budget_min_retries_per_s`: retries always allowed, per second over the budget window.
    public var budgetMinRetriesPerSecond = 10.0
}

public struct BreakerConfig: Sendable, Equatable {
    public var failureThreshold = 5
    public var openMs = 15_000
}

public struct StoreConfig: Sendable, Equatable {
    /// Which database keeps tasks, idempotency records and stored conversations.
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        /// One SQLite file (`path`) of this process: the zero set-up default.
        case sqlite
        /// A PostgreSQL database several Switchyards share (`url_env`).
        case postgres
    }

    /// `store.kind`; `postgres` when only `url_env` is given.
    public var kind = Kind.sqlite
    public var path = "switchyard.db"
    /// `store.url_env`: the environment variable holding the `postgres://` URL. The URL carries
    /// the database password, so it never sits in the file, like every other secret here.
    public var urlEnv: String?
    public var idempotencyTTLSeconds = 86_400
    /// `store.responses_ttl_s`: how long a stored Responses conversation is kept after its last
    /// turn (default 30 days).
    public var responsesTTLSeconds = 2_592_000
    /// `store.lease_ms` (PostgreSQL): how long a replica's claim on a task or an idempotency key
    /// lasts without renewal, so how soon another replica takes over the work of one that died
    /// (1 to 1⅓ leases after its last renewal). Renewed every third of it. Default 15 s.
    public var leaseMs = 15_000
}

/// `tasks:` the durable task runtime.
public struct TasksConfig: Sendable, Equatable {
    /// Steps run concurrently across all tasks (`tasks.workers`, default 4).
    public var workers = 4
}

/// `readiness:` what `GET /readyz` answers 200 for.
public struct ReadinessConfig: Sendable, Equatable {
    /// `readiness.require_provider`, default false: ready means the sidecar itself is (configuration
    /// loaded, listening, not draining), so an LLM outage or one bad key does not take the app's
    /// pod out of its Service. True also requires a usable provider that is up and not circuit-open.
    public var requireProvider = false
}

public struct LimitsConfig: Sendable, Equatable {
    public var maxBodyBytes = 8 << 20
    public var maxConnections = 1024
    public var maxHeaderBytes = 32 << 10
    public var clientTimeoutSeconds = 60
    /// A request head must arrive whole within this many seconds of its first byte, however
    /// steadily it trickles in (`client_timeout_s` restarts on every byte).
    public var headerTimeoutSeconds = 10
    /// A request body must arrive whole within this many seconds of the end of its head.
    public var bodyTimeoutSeconds = 60
    /// Open connections from one client address (0: no cap).
    public var maxConnectionsPerPeer = 256
    /// The same for loopback clients (127.0.0.0/8, ::1), where a sidecar's own app connects from:
    /// 0, the default, leaves them under `max_connections` alone.
    public var maxConnectionsPerLoopbackPeer = 0
    /// An SSE comment is written to a stream idle this long, so a vanished client is noticed
    /// (a suspended connection only sees a disconnect on its next write).
    public var streamHeartbeatMs = 15_000
}

/// One problem in a configuration file, located by its key path
/// (`models[0].targets[1].provider: no provider named "antropic"`).
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var problem: String
    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }
    public var description: String { path.isEmpty ? problem : "\(path): \(problem)" }
}

/// Every problem found, so an operator fixes a file in one pass.
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    public var errors: [ConfigError]
    public init(_ errors: [ConfigError]) { self.errors = errors }
    public var description: String { errors.map(\.description).joined(separator: "\n") }
}

/// A secret value (provider or client key). Its description is redacted so it cannot reach a
/// log line, an error message or a metric label by accident; only header writers read `value`.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    public let value: String
    public init(_ value: String) { self.value = value }
    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
}
