public import Logging
public import SwitchyardCore
public import SwitchyardEdge
import SwitchyardInbound
import SwitchyardProviders
public import SwitchyardRouting
import Synchronization

/// The HTTP surface: OpenAI-compatible and Anthropic-compatible endpoints, health, metrics.
/// Routes each request, checks client keys, assigns the request id and maps every failure to the
/// error envelope of the API the client spoke (OpenAI's, or Anthropic's under `/v1/messages`).
public final class Gateway: HTTPHandler, Sendable {
    let table: Mutex<RouteTable>
    public let router: Router
    public let metrics: GatewayMetrics
    let health: ProviderHealth
    let logger: Logger
    let draining = Atomic<Bool>(false)
    /// Unix seconds at start, the `created` of listed models.
    let startedAt: Int
    /// The task runtime and idempotency records; nil serves `/v1/tasks` with 503 and ignores `Idempotency-Key`.
    let tasks: GatewayTasks?

    public convenience init(
        table: RouteTable, router: Router, metrics: GatewayMetrics, upstream: any Upstream, logger: Logger
    ) {
        self.init(table: table, router: router, metrics: metrics, upstream: upstream, logger: logger, tasks: nil)
    }

    init(
        table: RouteTable, router: Router, metrics: GatewayMetrics, upstream: any Upstream, logger: Logger,
        tasks: GatewayTasks?
    ) {
        self.table = Mutex(table)
        self.router = router
        self.metrics = metrics
        self.health = ProviderHealth(upstream: upstream, metrics: metrics, logger: logger)
        self.logger = logger
        self.tasks = tasks
        self.startedAt = Int(Router.systemWallClock())
        exportSeries(table)
    }

    var currentTable: RouteTable { table.withLock { $0 } }

    /// Swaps in a reloaded configuration (SIGHUP); requests in flight keep the one they started with.
    public func reload(_ newTable: RouteTable) {
        table.withLock { $0 = newTable }
        tasks?.runtime.updateTable(newTable)
        metrics.updateLabels(providers: newTable.providerNames, models: Array(newTable.configuredModelNames))
        exportSeries(newTable)
    }

    /// The series the alerts read from the start (`GatewayMetrics+Operations.swift`): the breaker
    /// state of every configured target of a provider with a key (a disabled provider's targets
    /// never serve, so they must not hold off "every breaker open"), and the providers' counters.
    func exportSeries(_ table: RouteTable) {
        let usable = Set(table.providers.values.filter { $0.missingKeyEnv == nil }.map(\.config.name))
        var targets: [String: String] = [:]
        var edges: [(from: String, to: String)] = []
        for model in table.config.models {
            let ordered = model.targets.filter { usable.contains($0.provider) }.sorted { $0.priority < $1.priority }
            for (i, t) in ordered.enumerated() {
                targets["\(t.provider)/\(t.model)"] = t.provider
                for next in ordered[(i + 1)...] where next.provider != t.provider {
                    edges.append((t.provider, next.provider))
                }
            }
        }
        metrics.exportBreakers(
            targets, states: router.breakerSnapshot().mapValues(\.gaugeValue), usableProviders: usable)
        metrics.exportCounters(providers: table.providerNames.filter(usable.contains), fallbackEdges: edges)
    }

    /// Marks the gateway as draining: `/readyz` answers 503 from now on.
    public func beginDraining() { draining.store(true, ordering: .relaxed) }

    public func handle(_ request: HTTPRequest, responder: HTTPResponder) async {
        let requestID = RequestID.from(request.headers["x-request-id"])
        let path = request.path
        switch path {
        case "/healthz":
            guard request.method == "GET" || request.method == "HEAD" else {
                return methodNotAllowed(request, responder, requestID, "GET")
            }
            respondJSON(responder, status: 200, ["status": "ok"], requestID: requestID)
        case "/readyz":
            guard request.method == "GET" || request.method == "HEAD" else {
                return methodNotAllowed(request, responder, requestID, "GET")
            }
            let sidecar = readiness()
            let upstream = providerReadiness()
            var providers = JSONObject()
            for (name, s) in health.snapshot.sorted(by: { $0.key < $1.key }) {
                providers[name] = ["up": .bool(s.up), "detail": .string(s.detail)]
            }
            let strict = currentTable.config.readiness.requireProvider
            let (ready, reason) = !sidecar.ready || !strict || upstream.ready ? sidecar : upstream
            var body: JSONObject = [
                "status": .string(ready ? "ready" : "unready"), "reason": .string(reason),
                "providers_ready": .bool(upstream.ready), "providers_reason": .string(upstream.reason),
                "providers": .object(providers),
            ]
            // The task store's state is detail, not readiness: chat is served without it.
            if let store = storeReadiness() { body["store"] = store }
            respondJSON(responder, status: ready ? 200 : 503, body, requestID: requestID)
        case "/metrics":
            guard request.method == "GET" else { return methodNotAllowed(request, responder, requestID, "GET") }
            await tasks?.runtime.refreshTaskGauge()
            responder.respond(
                status: 200, headers: ["Content-Type": "text/plain; version=0.0.4; charset=utf-8"],
                body: metrics.exposition())
        default:
            guard path.hasPrefix("/v1/") else {
                return unknownPath(request, responder, requestID: requestID)
            }
            let table = currentTable
            var keyName = "anonymous"
            if table.authRequired {
                guard let name = authenticate(request, table) else {
                    let format = Self.errorFormat(path: path)
                    var error = APIError.invalidAPIKey
                    if format.api == .anthropicMessages {
                        error.message =
                            "Incorrect or missing API key. Send it as `x-api-key: <key>` or `Authorization: Bearer <key>`."
                    }
                    let sent = request.headers["authorization"] != nil || request.headers["x-api-key"] != nil
                    return reject(
                        request, responder, error, reason: .unauthenticated, requestID: requestID, format: format,
                        detail: sent ? "not_configured" : "missing")
                }
                keyName = name
            }
            if path == Self.countTokensPath {
                guard request.method == "POST" else {
                    return methodNotAllowed(request, responder, requestID, "POST", format: MessagesFormat())
                }
                await countTokens(request, responder: responder, table: table, requestID: requestID, keyName: keyName)
            } else if let format = Self.inboundFormat(path: path) {
                guard request.method == "POST" else {
                    return methodNotAllowed(request, responder, requestID, "POST", format: format)
                }
                if let key = request.headers["idempotency-key"] {
                    await handleIdempotent(
                        request, format: format, responder: responder, table: table, requestID: requestID,
                        keyName: keyName, idempotencyKey: key)
                } else {
                    await handleInbound(
                        request, format: format, responder: responder, table: table, requestID: requestID,
                        keyName: keyName)
                }
            } else if path.hasPrefix("/v1/responses/") {
                await handleStoredResponse(request, responder: responder, requestID: requestID, keyName: keyName)
            } else if path == "/v1/tasks" || path.hasPrefix("/v1/tasks/") {
                await handleTasks(request, responder: responder, requestID: requestID, keyName: keyName)
            } else if path == "/v1/models" {
                guard request.method == "GET" else { return methodNotAllowed(request, responder, requestID, "GET") }
                listModels(responder, table: table, requestID: requestID)
            } else if path.hasPrefix("/v1/models/") {
                guard request.method == "GET" else { return methodNotAllowed(request, responder, requestID, "GET") }
                showModel(String(path.dropFirst("/v1/models/".count)), responder, table: table, requestID: requestID)
            } else {
                unknownPath(request, responder, requestID: requestID)
            }
        }
    }

    /// The inbound API served at `path`, if any: each is one `InboundFormat` on the shared path.
    static func inboundFormat(path: String) -> (any InboundFormat)? {
        switch path {
        case "/v1/chat/completions": ChatCompletionsFormat()
        case "/v1/responses": ResponsesFormat()
        case "/v1/messages": MessagesFormat()
        default: nil
        }
    }

    /// `POST /v1/messages/count_tokens` (Anthropic's token count, `Gateway+Messages.swift`).
    static let countTokensPath = "/v1/messages/count_tokens"

    /// The API whose error shape a path answers in: Anthropic's under `/v1/messages`, OpenAI's
    /// everywhere else.
    static func errorFormat(path: String) -> any InboundFormat {
        if path == "/v1/messages" || path.hasPrefix("/v1/messages/") { return MessagesFormat() }
        return inboundFormat(path: path) ?? ChatCompletionsFormat()
    }

    /// The client key's name: `Authorization: Bearer <key>` (scheme case-insensitive), else
    /// `x-api-key: <key>` (what the Anthropic SDKs send); spaces and tabs around a key are ignored,
    /// and each is compared in constant time against every configured key, read as bytes: no
    /// string is made of the key on every request.
    func authenticate(_ request: HTTPRequest, _ table: RouteTable) -> String? {
        if var header = request.headers["authorization"] {
            let name = header.withUTF8 { bytes -> String? in
                let scheme: [UInt8] = Array("bearer ".utf8)
                guard bytes.count > scheme.count else { return nil }
                for i in 0..<scheme.count
                where bytes[i] | (bytes[i] >= 0x41 && bytes[i] <= 0x5A ? 0x20 : 0) != scheme[i] {
                    return nil
                }
                return Self.authenticate(UnsafeBufferPointer(rebasing: bytes[scheme.count...]), table)
            }
            if let name { return name }
        }
        guard var key = request.headers["x-api-key"] else { return nil }
        return key.withUTF8 { Self.authenticate($0, table) }
    }

    /// `key` without surrounding spaces and tabs, if not empty, authenticated by `table`.
    private static func authenticate(_ key: UnsafeBufferPointer<UInt8>, _ table: RouteTable) -> String? {
        var start = 0
        var end = key.count
        while start < end, key[start] == 0x20 || key[start] == 0x09 { start += 1 }
        while end > start, key[end - 1] == 0x20 || key[end - 1] == 0x09 { end -= 1 }
        guard start < end else { return nil }
        return table.authenticate(bearer: UnsafeBufferPointer(rebasing: key[start..<end]))
    }

    /// The sidecar itself: configuration loaded and listening (or nobody would be asking), not
    /// draining. This is what `/readyz` answers by default, so an LLM outage or one bad key does
    /// not take the app's pod out of its Service (the parts of the app that never call an LLM
    /// keep serving); providers stay visible in `/readyz`'s detail, the metrics and the alerts.
    func readiness() -> (ready: Bool, reason: String) {
        draining.load(ordering: .relaxed) ? (false, "draining") : (true, "ok")
    }

    /// Whether a provider can serve: one with a key that passes its health check (or has not been
    /// checked yet) and has a target that is not circuit-open. Required for readiness only with
    /// `readiness.require_provider: true`.
    func providerReadiness() -> (ready: Bool, reason: String) {
        let table = currentTable
        let usable = table.providers.values.filter { $0.missingKeyEnv == nil }
        if usable.isEmpty { return (false, "no provider has an API key") }
        let breakers = router.breakerSnapshot()
        let healthy = health.snapshot
        for p in usable where healthy[p.config.name]?.up != false {
            let states = breakers.filter { $0.key.hasPrefix(p.config.name + "/") }
            if states.isEmpty || states.values.contains(where: { $0 != .open }) { return (true, "ok") }
        }
        return (false, "every provider is down or circuit-open")
    }

    // MARK: Responses

    func baseHeaders(_ requestID: String) -> HTTPHeaders {
        ["Content-Type": "application/json", "x-request-id": requestID]
    }

    /// `baseHeaders` plus the headers of the client's API (Anthropic's `request-id`).
    func baseHeaders(_ requestID: String, format: any InboundFormat) -> HTTPHeaders {
        var headers = baseHeaders(requestID)
        for (k, v) in format.responseHeaders(requestID: requestID) { headers.add(k, v) }
        return headers
    }

    func respondJSON(_ responder: HTTPResponder, status: Int, _ body: JSONObject, requestID: String) {
        responder.respond(status: status, headers: baseHeaders(requestID), body: JSON.object(body).serialized())
    }

    /// An error answer in the shape of the API the client spoke (`format`; OpenAI's envelope for
    /// routes that have none of their own).
    func respondError(
        _ responder: HTTPResponder, _ error: APIError, requestID: String,
        format: any InboundFormat = ChatCompletionsFormat(), extra: [(String, String)] = []
    ) {
        var headers = baseHeaders(requestID, format: format)
        if let s = error.retryAfterSeconds { headers.add("Retry-After", String(s)) }
        if let r = error.shouldRetry { headers.add("x-should-retry", r ? "true" : "false") }
        for (k, v) in extra { headers.add(k, v) }
        responder.respond(
            status: format.errorStatus(error), headers: headers, body: format.encodeError(error, requestID: requestID))
    }

    /// The error of a page the edge answers itself (413 over the body limit, 400 for a malformed
    /// request, 503 while stopping), before any handler ran.
    static func edgeError(_ status: Int, _ message: String, maxBodyBytes: Int) -> APIError {
        switch status {
        case 413:
            APIError(
                status: 413, type: "invalid_request_error", code: "request_too_large",
                message: "Request body is larger than the limit of \(maxBodyBytes) bytes.")
        case 400..<500:
            APIError(status: status, type: "invalid_request_error", code: nil, message: message)
        default:
            APIError(status: status, type: "server_error", code: nil, message: message)
        }
    }

    func methodNotAllowed(
        _ request: HTTPRequest, _ responder: HTTPResponder, _ requestID: String, _ allowed: String,
        format: any InboundFormat = ChatCompletionsFormat()
    ) {
        reject(
            request, responder,
            APIError(
                status: 405, type: "invalid_request_error", code: "method_not_allowed",
                message: "Method not allowed; use \(allowed)."),
            reason: .methodNotAllowed, requestID: requestID, format: format, extra: [("Allow", allowed)])
    }
}
