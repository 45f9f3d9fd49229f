import Logging
import SwitchyardCore
import SwitchyardEdge
import SwitchyardTasks
import Synchronization

/// What the gateway keeps beyond one request: durable tasks, idempotency records and stored
/// Responses turns. A gateway without it (`Gateway.init` with no storage) answers `/v1/tasks`
/// with 503, ignores `Idempotency-Key` and stores no response.
struct GatewayStorage: Sendable {
    let tasks: TaskService
    let runtime: TaskRuntime
    let steps: GatewayStepRunner
    let idempotency: IdempotentRequests
    /// Stored Responses turns (`store.responses_ttl_s`).
    let responses: ResponsesStorage
    /// The failure that stopped the store's last write (a full disk), nil while writes work.
    let writeFailure: @Sendable () -> StoreError?
    /// `switchyard_tasks` is counted at most this often, however often `/metrics` is read.
    static let gaugeMaxAge = Duration.seconds(1)
}

extension Gateway {
    /// Runs one `/v1/tasks…` operation: 503 when tasks are not enabled, store failures in OpenAI's
    /// envelope, one log line per request. `body` answers and returns the status it sent. Tasks
    /// belong to the calling key's NAME; another key's task answers 404 as if it did not exist.
    func taskEndpoint(_ c: EndpointCall, _ body: (TaskService) async throws(StoreError) -> Int) async {
        let started = ContinuousClock.now
        var status = 200
        defer {
            logTaskRequest(c.request, requestID: c.requestID, keyName: c.keyName, status: status, started: started)
        }
        guard let service = storage?.tasks else {
            status = 503
            return respondError(
                c.responder,
                APIError(
                    status: 503, type: "server_error", code: "tasks_unavailable", message: "Tasks are not enabled."),
                requestID: c.requestID)
        }
        do {
            status = try await body(service)
        } catch {
            let apiError = taskAPIError(error)
            status = apiError.status
            respondError(c.responder, apiError, requestID: c.requestID)
        }
    }

    /// `POST /v1/tasks`: validates every step, then creates, plans and schedules the task (202).
    func createTask(_ c: EndpointCall, _ service: TaskService) async throws(StoreError) -> Int {
        let create: TaskCreateRequest
        do {
            create = try TaskCreateRequest.parse(body: c.request.body) { model in
                if case .notFound = c.table.resolve(model: model) { return false }
                return true
            }
        } catch {
            respondError(c.responder, error, requestID: c.requestID)
            return error.status
        }
        respondTask(
            c.responder, try await service.create(owner: c.keyName, create), status: 202, requestID: c.requestID)
        return 202
    }

    /// `GET /v1/tasks/{id}`.
    func showTask(_ c: EndpointCall, _ service: TaskService) async throws(StoreError) -> Int {
        respondTask(c.responder, try await service.task(id: c["id"], owner: c.keyName), requestID: c.requestID)
        return 200
    }

    /// `POST /v1/tasks/{id}/pause|resume|cancel`.
    func controlTask(
        _ c: EndpointCall, _ service: TaskService, _ action: TaskControl
    ) async throws(StoreError) -> Int {
        respondTask(
            c.responder, try await service.control(action, id: c["id"], owner: c.keyName), requestID: c.requestID)
        return 200
    }

    /// `GET /v1/tasks?state=&agent=&limit=&after=`: newest first, OpenAI list shape.
    func listTasks(_ c: EndpointCall, _ service: TaskService) async throws(StoreError) -> Int {
        let query = Self.queryItems(c.request.query)
        var state: TaskState?
        if let s = query["state"] {
            guard let parsed = TaskState(rawValue: s) else {
                let e = APIError.invalidRequest(
                    "`state` must be one of " + TaskState.allCases.map(\.rawValue).joined(separator: ", ") + ".",
                    param: "state")
                respondError(c.responder, e, requestID: c.requestID)
                return e.status
            }
            state = parsed
        }
        var limit = 20
        if let l = query["limit"] {
            guard let parsed = Int(l), (1...100).contains(parsed) else {
                let e = APIError.invalidRequest("`limit` must be an integer from 1 to 100.", param: "limit")
                respondError(c.responder, e, requestID: c.requestID)
                return e.status
            }
            limit = parsed
        }
        let listing = try await service.list(
            TaskQuery(owner: c.keyName, state: state, agent: query["agent"], limit: limit, after: query["after"]))
        respondJSON(c.responder, status: 200, TaskRendering.list(listing), requestID: c.requestID)
        return 200
    }

    func respondTask(_ responder: HTTPResponder, _ snapshot: TaskSnapshot, status: Int = 200, requestID: String) {
        responder.respond(
            status: status, headers: baseHeaders(requestID), body: TaskRendering.task(snapshot).serialized())
    }

    /// Sets `switchyard_tasks{state}` from the store: every task in it, whichever process moved
    /// it. One grouped count, at most once per `gaugeMaxAge` however often `/metrics` is read.
    func refreshTaskGauge() async {
        guard let storage else { return }
        let now = ContinuousClock.now
        let due = taskGaugeCountedAt.withLock { last -> Bool in
            if let last, now - last < GatewayStorage.gaugeMaxAge { return false }
            last = now
            return true
        }
        guard due, let counts = try? await storage.tasks.store.taskCounts() else { return }
        for (state, count) in counts { metrics.tasks(state: state.rawValue, count: count) }
    }

    /// A failure of any store (idempotency records too) in OpenAI's envelope.
    func storeAPIError(_ error: any Error) -> APIError {
        if let error = error as? StoreError { return taskAPIError(error) }
        logger.error("store failure", metadata: ["error": .string(storeErrorKind(error))])
        return .internalError("The store failed.")
    }

    /// `/readyz`'s `store` detail: `{"ok": true}`, or the failure that stopped the last write
    /// (`{"ok": false, "error": "disk_full", "detail": …}`); nil without a task runtime.
    func storeReadiness() -> JSON? {
        guard let storage else { return nil }
        guard let failure = storage.writeFailure() else { return ["ok": true] }
        return ["ok": false, "error": .string(failure.kind.rawValue), "detail": .string(failure.message)]
    }

    /// Store failures in OpenAI's envelope. Messages name no path, key or payload.
    func taskAPIError(_ error: StoreError) -> APIError {
        switch error.kind {
        case .notFound:
            return APIError(status: 404, type: "invalid_request_error", code: "not_found", message: "No such task.")
        case .rejected:
            return APIError(
                status: 409, type: "invalid_request_error", code: "invalid_state_transition",
                message: error.rejection?.reason ?? error.message)
        case .invalidArgument:
            let param = error.message.contains("after") ? "after" : "limit"
            return .invalidRequest("Invalid `\(param)`: \(error.message).", param: param)
        case .busy:
            return APIError(
                status: 503, type: "server_error", code: "store_busy",
                message: "The task store is busy; retry shortly.",
                retryAfterSeconds: 1)
        case .diskFull:
            return APIError(
                status: 507, type: "server_error", code: "store_full",
                message: "The task store's disk is full: nothing was stored. Chat completions without an "
                    + "Idempotency-Key still work; tasks resume once space is freed.")
        case .readOnly:
            return APIError(
                status: 503, type: "server_error", code: "store_read_only",
                message: "The task store cannot be written (read-only file or file system); nothing was stored.")
        default:
            logger.error("task store failure", metadata: ["error": .string(error.description)])
            return .internalError("The task store failed.")
        }
    }

    /// `a=1&b=two%20words` → decoded pairs (`+` is a space); the last value of a repeated name wins.
    static func queryItems(_ query: String) -> [String: String] {
        var items: [String: String] = [:]
        for pair in query.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = percentDecoded(String(kv[0]).replacingPlus())
            items[name] = kv.count > 1 ? percentDecoded(String(kv[1]).replacingPlus()) : ""
        }
        return items
    }

    private func logTaskRequest(
        _ request: HTTPRequest, requestID: String, keyName: String, status: Int, started: ContinuousClock.Instant
    ) {
        logger.info(
            "request",
            metadata: [
                "request_id": .string(requestID), "client_key": .string(keyName), "method": .string(request.method),
                "route": .string(Self.taskRoute(request.path)), "status": .stringConvertible(status),
                "latency_ms": .string(String((ContinuousClock.now - started).inMilliseconds)),
            ])
    }

    /// The path with the task id replaced, for logs: `/v1/tasks/{id}/pause`.
    static func taskRoute(_ path: String) -> String {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count > 3 else { return path }
        return (parts[..<3] + ["{id}"] + parts[4...]).joined(separator: "/")
    }
}

extension String {
    fileprivate func replacingPlus() -> String { String(map { $0 == "+" ? " " : $0 }) }
}
