import Logging
import SwitchyardCore
import SwitchyardEdge
import SwitchyardStore
import SwitchyardTasks

/// What the gateway holds for durable tasks, idempotent requests and stored responses.
struct GatewayTasks: Sendable {
    let runtime: TaskRuntime
    let idempotency: IdempotencyCoordinator
    /// `store.idempotency_ttl_s`.
    let idempotencyTTL: Duration
    /// Stored Responses turns (`store.responses_ttl_s`).
    var responses: ResponsesStorage? = nil
    var store: TaskStore { runtime.store }
}

extension Gateway {
    /// `/v1/tasks…`: create, list, show, pause, resume, cancel, events. Tasks belong to the
    /// calling key's NAME; another key's task answers 404 as if it did not exist.
    func handleTasks(_ request: HTTPRequest, responder: HTTPResponder, requestID: String, keyName: String) async {
        let started = ContinuousClock.now
        var status = 200
        defer { logTaskRequest(request, requestID: requestID, keyName: keyName, status: status, started: started) }
        guard let tasks else {
            status = 503
            return respondError(
                responder,
                APIError(
                    status: 503, type: "server_error", code: "tasks_unavailable", message: "Tasks are not enabled."),
                requestID: requestID)
        }
        let runtime = tasks.runtime
        let parts = request.path.dropFirst("/v1/tasks".count).split(separator: "/", omittingEmptySubsequences: false)
            .dropFirst().map(String.init)
        let method = request.method
        do throws(StoreError) {
            switch (parts.count, parts.last ?? "") {
            case (0, _):
                if method == "POST" {
                    let create: TaskCreateRequest
                    do {
                        create = try TaskCreateRequest.parse(body: request.body, table: currentTable)
                    } catch {
                        status = error.status
                        return respondError(responder, error, requestID: requestID)
                    }
                    let snapshot = try await runtime.create(
                        owner: keyName, agent: create.agent, metadata: create.metadata, steps: create.steps)
                    status = 202
                    return respondTask(responder, snapshot, status: 202, requestID: requestID)
                }
                guard method == "GET" else {
                    status = 405
                    return methodNotAllowed(request, responder, requestID, "GET, POST")
                }
                status = try await listTasks(
                    request, responder: responder, runtime: runtime, requestID: requestID, owner: keyName)
            case (1, let id) where !id.isEmpty:
                guard method == "GET" else {
                    status = 405
                    return methodNotAllowed(request, responder, requestID, "GET")
                }
                respondTask(
                    responder, try await runtime.snapshotOrNotFound(id: id, owner: keyName), requestID: requestID)
            case (2, "events") where !parts[0].isEmpty:
                guard method == "GET" else {
                    status = 405
                    return methodNotAllowed(request, responder, requestID, "GET")
                }
                try await streamTaskEvents(
                    request, responder: responder, runtime: runtime, id: parts[0], owner: keyName, requestID: requestID)
            case (2, let action) where !parts[0].isEmpty && ["pause", "resume", "cancel"].contains(action):
                guard method == "POST" else {
                    status = 405
                    return methodNotAllowed(request, responder, requestID, "POST")
                }
                let id = parts[0]
                let snapshot: TaskSnapshot
                switch action {
                case "pause": snapshot = try await runtime.pause(id: id, owner: keyName)
                case "resume": snapshot = try await runtime.resume(id: id, owner: keyName)
                default: snapshot = try await runtime.cancel(id: id, owner: keyName)
                }
                respondTask(responder, snapshot, requestID: requestID)
            default:
                status = 404
                unknownPath(request, responder, requestID: requestID)
            }
        } catch {
            let apiError = taskAPIError(error)
            status = apiError.status
            respondError(responder, apiError, requestID: requestID)
        }
    }

    /// `GET /v1/tasks?state=&agent=&limit=&after=`: newest first, OpenAI list shape.
    private func listTasks(
        _ request: HTTPRequest, responder: HTTPResponder, runtime: TaskRuntime, requestID: String, owner: String
    ) async throws(StoreError) -> Int {
        let query = Self.queryItems(request.query)
        var state: TaskState?
        if let s = query["state"] {
            guard let parsed = TaskState(rawValue: s) else {
                let e = APIError.invalidRequest(
                    "`state` must be one of " + TaskState.allCases.map(\.rawValue).joined(separator: ", ") + ".",
                    param: "state")
                respondError(responder, e, requestID: requestID)
                return e.status
            }
            state = parsed
        }
        var limit = 20
        if let l = query["limit"] {
            guard let parsed = Int(l), (1...100).contains(parsed) else {
                let e = APIError.invalidRequest("`limit` must be an integer from 1 to 100.", param: "limit")
                respondError(responder, e, requestID: requestID)
                return e.status
            }
            limit = parsed
        }
        let agent = query["agent"]
        let after = query["after"]
        let (filter, pageSize) = (state, limit)
        let (page, snapshots) = try await runtime.store.perform { store throws(StoreError) in
            let page = try store.listTasks(owner: owner, state: filter, agent: agent, limit: pageSize, after: after)
            var snapshots: [TaskSnapshot] = []
            for task in page.tasks {
                if let snapshot = try store.task(id: task.id, owner: owner) { snapshots.append(snapshot) }
            }
            return (page, snapshots)
        }
        respondJSON(
            responder, status: 200,
            [
                "object": "list", "data": .array(snapshots.map(TaskRendering.task)), "has_more": .bool(page.hasMore),
                "first_id": page.firstID.map(JSON.string) ?? .null, "last_id": page.lastID.map(JSON.string) ?? .null,
            ],
            requestID: requestID)
        return 200
    }

    func respondTask(_ responder: HTTPResponder, _ snapshot: TaskSnapshot, status: Int = 200, requestID: String) {
        responder.respond(
            status: status, headers: baseHeaders(requestID), body: TaskRendering.task(snapshot).serialized())
    }

    /// `/readyz`'s `store` detail: `{"ok": true}`, or the failure that stopped the last write
    /// (`{"ok": false, "error": "disk_full", "detail": …}`); nil without a task runtime.
    func storeReadiness() -> JSON? {
        guard let store = tasks?.store else { return nil }
        guard let failure = store.lastWriteFailure else { return ["ok": true] }
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
        let (s, atto) = (ContinuousClock.now - started).components
        logger.info(
            "request",
            metadata: [
                "request_id": .string(requestID), "client_key": .string(keyName), "method": .string(request.method),
                "route": .string(Self.taskRoute(request.path)), "status": .stringConvertible(status),
                "latency_ms": .string(String(Double(s) * 1000 + Double(atto) / 1e15)),
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
