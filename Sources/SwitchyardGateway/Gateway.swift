public import Logging
public import SwitchyardCore
public import SwitchyardEdge
import SwitchyardInbound
import SwitchyardLoop
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
    /// Whether `logger` writes the access-log and rejection lines (`info`), read once: `Logger.logLevel` copies
    /// the handler out of the logger on every read, and every request asks.
    let logsRequests: Bool
    /// The logger's handler when it is a `JSONLogHandler` without metadata of its own: the access
    /// line is then written straight into its line (`RequestLog.writeFields`), bytes for bytes
    /// what swift-log's path writes, at a tenth of the cost. Any other handler (text logs, a
    /// test's capture, one with metadata to merge) gets the line through swift-log.
    let accessLogHandler: JSONLogHandler?
    let draining = Atomic<Bool>(false)
    /// Unix seconds at start, the `created` of listed models.
    let startedAt: Int
    /// Tasks, idempotency records and stored responses; nil serves `/v1/tasks` with 503, ignores
    /// `Idempotency-Key` and stores no response.
    let storage: GatewayStorage?
    /// When `switchyard_tasks` was last counted (`refreshTaskGauge`).
    let taskGaugeCountedAt = Mutex<ContinuousClock.Instant?>(nil)
    /// The loops whose handlers this gateway runs, settled before `/metrics` is read (see there);
    /// nil in process (`Gateway.inProcess`), where no edge sends answers.
    let loops: EventLoopGroup?

    public convenience init(
        table: RouteTable, router: Router, metrics: GatewayMetrics, upstream: any Upstream, logger: Logger
    ) {
        self.init(
            table: table, router: router, metrics: metrics, upstream: upstream, logger: logger, storage: nil, loops: nil
        )
    }

    init(
        table: RouteTable, router: Router, metrics: GatewayMetrics, upstream: any Upstream, logger: Logger,
        storage: GatewayStorage?, loops: EventLoopGroup?
    ) {
        self.table = Mutex(table)
        self.router = router
        self.metrics = metrics
        self.health = ProviderHealth(upstream: upstream, metrics: metrics, logger: logger)
        self.logger = logger
        self.logsRequests = logger.logLevel <= .info
        self.accessLogHandler = (logger.handler as? JSONLogHandler).flatMap { $0.metadata.isEmpty ? $0 : nil }
        self.storage = storage
        self.loops = loops
        self.startedAt = Int(WallClock.seconds())
        exportSeries(table)
    }

    var currentTable: RouteTable { table.withLock { $0 } }

    /// Swaps in a reloaded configuration (SIGHUP); requests in flight keep the one they started with.
    public func reload(_ newTable: RouteTable) {
        table.withLock { $0 = newTable }
        storage?.steps.updateTable(newTable)
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

    /// Looks the request up in `Endpoints` and answers what no endpoint should: 401 (every
    /// `/v1/` path needs a client key when keys are configured, served or not), 404 and 405, each
    /// in the shape of the API the path belongs to, counted and logged as rejections.
    public nonisolated(nonsending) func handle(_ request: HTTPRequest, responder: HTTPResponder) async {
        let requestID = RequestID.from(request.headers["x-request-id"])
        let table = currentTable
        let match = Endpoints.match(request.path)
        let format = match.format
        var keyName = Owner.anonymous
        if request.path.hasPrefix(Endpoints.authenticatedPrefix), table.authRequired {
            guard let name = authenticate(request, table) else {
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
        guard case .endpoint(let endpoint, let parameters) = match else {
            return unknownPath(request, responder, requestID: requestID, format: format)
        }
        guard let handler = endpoint.handler(for: request.method) else {
            return methodNotAllowed(request, responder, requestID, endpoint.allow, format: format)
        }
        // One slab for the handler's async frames instead of one per call level (`TaskFrames`).
        await TaskFrames.reserve()
        await handler(
            self,
            EndpointCall(
                request: request, responder: responder, requestID: requestID, keyName: keyName, table: table,
                parameters: parameters, format: format))
    }

    /// `GET /healthz`: the process answers.
    func healthz(_ c: EndpointCall) {
        respondJSON(c.responder, status: 200, ["status": "ok"], requestID: c.requestID)
    }

    /// `GET /readyz`: the sidecar's readiness (see `readiness()`), each provider's health in the body.
    func readyz(_ c: EndpointCall) {
        let sidecar = readiness()
        let upstream = providerReadiness()
        var providers = JSONObject()
        for (name, s) in health.snapshot.sorted(by: { $0.key < $1.key }) {
            providers[name] = ["up": .bool(s.up), "detail": .string(s.detail)]
        }
        let strict = c.table.config.readiness.requireProvider
        let (ready, reason) = !sidecar.ready || !strict || upstream.ready ? sidecar : upstream
        var body: JSONObject = [
            "status": .string(ready ? "ready" : "unready"), "reason": .string(reason),
            "providers_ready": .bool(upstream.ready), "providers_reason": .string(upstream.reason),
            "providers": .object(providers),
        ]
        // The task store's state is detail, not readiness: chat is served without it.
        if let store = storeReadiness() { body["store"] = store }
        respondJSON(c.responder, status: ready ? 200 : 503, body, requestID: c.requestID)
    }

    /// `GET /metrics`: Prometheus text. The edge sends a full answer before its handler has
    /// counted the request (the count follows at once, in the same job: see `EventLoop.settle`),
    /// so the loops are settled first: a client that reads `/metrics` after its answer, on any
    /// connection, finds its request counted.
    func metricsExposition(_ c: EndpointCall) async {
        await loops?.settle()
        await refreshTaskGauge()
        for loop in loops?.loops ?? [] {
            metrics.eventLoop(
                loop.index, connections: loop.connectionCount, upstreamConnections: loop.upstreamConnectionCount,
                cpuTime: loop.cpuTime)
        }
        metrics.logLinesDropped(total: LogSink.stderr.droppedLines)
        c.responder.respond(
            status: 200, headers: ["Content-Type": "text/plain; version=0.0.4; charset=utf-8"],
            body: metrics.exposition())
    }

    /// `POST` of an inbound API (`/v1/chat/completions`, `/v1/responses`, `/v1/messages`): the shared request path,
    /// through the idempotency records when the client sent `Idempotency-Key`.
    nonisolated(nonsending) func inbound(_ c: EndpointCall) async {
        if let key = c.request.headers["idempotency-key"] {
            await handleIdempotent(
                c.request, format: c.format, responder: c.responder, table: c.table, requestID: c.requestID,
                keyName: c.keyName, idempotencyKey: key)
        } else {
            await handleInbound(
                c.request, format: c.format, responder: c.responder, table: c.table, requestID: c.requestID,
                keyName: c.keyName)
        }
    }

    /// The API whose error shape a path answers in (the edge's own pages too): its endpoint's, else
    /// that of the closest API (`Endpoints.format(near:)`): Anthropic's under `/v1/messages`,
    /// OpenAI's everywhere else.
    static func errorFormat(path: String) -> any InboundFormat { Endpoints.match(path).format }

    /// The client key's name: `Authorization: Bearer <key>` (scheme case-insensitive), else
    /// `x-api-key: <key>` (what the Anthropic SDKs send); spaces and tabs around a key are ignored,
    /// and each is compared in constant time against every configured key, read as bytes: no
    /// string is made of the key on every request.
    func authenticate(_ request: HTTPRequest, _ table: RouteTable) -> String? {
        if var header = request.headers["authorization"] {
            let name = header.withUTF8 { bytes -> String? in
                let scheme = "bearer ".utf8
                guard bytes.count > scheme.count else { return nil }
                for (i, expected) in scheme.enumerated()
                where bytes[i] | (bytes[i] >= 0x41 && bytes[i] <= 0x5A ? 0x20 : 0) != expected {
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

    /// With room for `capacity` fields, so adding the answer's others grows no list.
    func baseHeaders(_ requestID: String, capacity: Int = 2) -> HTTPHeaders {
        var headers = HTTPHeaders()
        headers.reserveCapacity(capacity)
        headers.add("Content-Type", "application/json")
        headers.add("x-request-id", requestID)
        return headers
    }

    /// `baseHeaders` plus the headers of the client's API (Anthropic's `request-id`), with room
    /// for `more`.
    func baseHeaders(_ requestID: String, format: any InboundFormat, more: Int = 0) -> HTTPHeaders {
        let own = format.responseHeaders(requestID: requestID)
        var headers = baseHeaders(requestID, capacity: 2 + own.count + more)
        for (k, v) in own { headers.add(k, v) }
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
        var headers = baseHeaders(requestID, format: format, more: 2 + extra.count)
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
