import Logging
import SwitchyardCore
import SwitchyardEdge
import SwitchyardInbound
import SwitchyardTasks
import Synchronization

/// Where the gateway keeps Responses turns (`store: true`), and how long.
final class ResponsesStorage: Sendable {
    let store: any ResponseStore
    /// `store.responses_ttl_s`.
    let ttl: Duration
    /// Expired turns are deleted at most this often, after a save (reads never see them anyway).
    let purgeInterval: Duration
    private let lastPurge = Mutex<ContinuousClock.Instant?>(nil)

    init(store: any ResponseStore, ttl: Duration, purgeInterval: Duration = .seconds(600)) {
        self.store = store
        self.ttl = ttl
        self.purgeInterval = purgeInterval
    }

    /// Whether a purge is due now (and, if so, marks it done).
    func purgeDue() -> Bool {
        let now = ContinuousClock.now
        return lastPurge.withLock { last in
            if let l = last, now - l < purgeInterval { return false }
            last = now
            return true
        }
    }
}

/// A `/v1/responses` request's place in a stored conversation.
struct ResponsesTurn: Sendable {
    /// The id the gateway gives a translated answer (`resp_` + 32 random hex digits; a native
    /// answer keeps the upstream's).
    let id: String
    let owner: String
    let previousID: String?
    let store: Bool
    /// This turn's input items in stored form.
    let inputItems: [JSON]
}

extension Gateway {
    /// Reads `store` and `previous_response_id`; for a continuation, folds the stored history into
    /// the request (404 `previous_response_not_found` when it is unknown, expired, deleted or
    /// another key's).
    func beginResponsesTurn(_ chat: inout ChatRequest, owner: String) async throws(APIError) -> ResponsesTurn {
        let id = "resp_" + RequestID.random128()
        let previous = chat.raw["previous_response_id"]?.stringValue
        let turn = ResponsesTurn(
            id: id, owner: owner, previousID: previous, store: chat.raw["store"]?.boolValue ?? true,
            inputItems: ResponsesConversation.storedInput(of: chat, responseID: id))
        guard let previous else { return turn }
        let notFound = APIError(
            status: 404, type: "invalid_request_error", code: "previous_response_not_found",
            message: "Previous response with id '\(previous.prefix(128))' not found.", param: "previous_response_id")
        guard let storage = storage?.responses else { throw notFound }
        let history: [JSON]?
        do {
            history = try await storage.store.history(before: previous, owner: owner)
        } catch {
            throw storeFailure(error)
        }
        guard let history else { throw notFound }
        chat = try ResponsesConversation.expand(chat, history: history)
        return turn
    }

    /// Stores a finished turn (when `store` is on) and returns the answer body, in which a native
    /// answer's `previous_response_id` is set to the one the client sent (the upstream never saw
    /// it: the gateway sent the whole history instead). A failed save is logged, not fatal.
    func completeResponsesTurn(_ turn: ResponsesTurn, body: [UInt8], requestID: String) async -> [UInt8] {
        guard case .object(var response)? = try? JSON.parse(body) else { return body }
        var out = body
        if let previous = turn.previousID, response["previous_response_id"]?.stringValue == nil {
            response["previous_response_id"] = .string(previous)
            out = JSON.object(response).serialized()
        }
        guard turn.store, let storage = storage?.responses else { return out }
        let record = ResponseRecord(
            id: response["id"]?.stringValue ?? turn.id, owner: turn.owner, previousID: turn.previousID,
            inputItems: turn.inputItems, response: response)
        do {
            try await storage.store.saveResponse(record, ttl: storage.ttl)
            if storage.purgeDue() { _ = try await storage.store.purgeExpiredResponses() }
        } catch {
            logger.error(
                "response not stored",
                metadata: ["request_id": .string(requestID), "error": .string(storeErrorKind(error))])
        }
        return out
    }

    /// `GET /v1/responses/{id}` and `GET /v1/responses/{id}/input_items` (`listing`): the calling
    /// key's stored turn; anything else (unknown, expired, another key's) is 404.
    func storedResponse(_ c: EndpointCall, listing: Bool) async {
        await storedResponseCall(c) { storage throws in
            guard let record = try await storage.store.response(id: c["id"], owner: c.keyName) else { return false }
            if listing {
                respondJSON(
                    c.responder, status: 200, try Self.inputItemsPage(record.inputItems, query: c.request.query),
                    requestID: c.requestID)
            } else {
                if Self.queryItems(c.request.query)["stream"] == "true" {
                    throw APIError.unsupportedParameter(
                        "stream", provider: "this gateway",
                        detail: "stream: a stored response is returned whole; omit `stream`.")
                }
                respondJSON(c.responder, status: 200, record.response, requestID: c.requestID)
            }
            return true
        }
    }

    /// `DELETE /v1/responses/{id}`: the calling key's stored turn; another key's is 404.
    func deleteStoredResponse(_ c: EndpointCall) async {
        await storedResponseCall(c) { storage throws in
            guard try await storage.store.deleteResponse(id: c["id"], owner: c.keyName) else { return false }
            respondJSON(
                c.responder, status: 200, ["id": .string(c["id"]), "object": "response.deleted", "deleted": true],
                requestID: c.requestID)
            return true
        }
    }

    /// Runs a stored-response operation and logs it as one request of the Responses API. `body`
    /// answers and returns true, returns false for "no such response" (404), or throws an
    /// `APIError` or a store failure.
    private func storedResponseCall(
        _ c: EndpointCall, _ body: (ResponsesStorage) async throws -> Bool
    ) async {
        let started = ContinuousClock.now
        var log = RequestLog(requestID: c.requestID, keyName: c.keyName, api: .responses)
        let exchange = InboundExchange(format: c.format)
        let notFound = APIError(
            status: 404, type: "invalid_request_error", code: "not_found",
            message: "Response with id '\(c["id"].prefix(128))' not found.", param: "response_id")
        guard let storage = storage?.responses else {
            return finishWithError(notFound, exchange, responder: c.responder, log: &log, started: started)
        }
        do {
            guard try await body(storage) else {
                return finishWithError(notFound, exchange, responder: c.responder, log: &log, started: started)
            }
            finish(log: &log, status: 200, outcome: .ok, started: started)
        } catch let error as APIError {
            finishWithError(error, exchange, responder: c.responder, log: &log, started: started)
        } catch {
            finishWithError(storeFailure(error), exchange, responder: c.responder, log: &log, started: started)
        }
    }

    /// One page of a turn's input items: `order` `desc` (default) or `asc`, `after` an item id,
    /// `limit` 1–100 (default 20); `{"object":"list","data","first_id","last_id","has_more"}`.
    static func inputItemsPage(_ items: [JSON], query q: String) throws(APIError) -> JSONObject {
        let query = queryItems(q)
        let order = query["order"] ?? "desc"
        guard order == "asc" || order == "desc" else {
            throw .invalidRequest("`order` must be asc or desc.", param: "order", code: "invalid_value")
        }
        var limit = 20
        if let l = query["limit"] {
            guard let n = Int(l), (1...100).contains(n) else {
                throw .invalidRequest(
                    "`limit` must be an integer from 1 to 100.", param: "limit", code: "invalid_value")
            }
            limit = n
        }
        var list = order == "asc" ? items : items.reversed()
        if let after = query["after"] {
            guard let i = list.firstIndex(where: { $0["id"]?.stringValue == after }) else {
                throw .invalidRequest("No input item with id '\(after.prefix(128))'.", param: "after")
            }
            list = Array(list[(i + 1)...])
        }
        let page = Array(list.prefix(limit))
        return [
            "object": "list", "data": .array(page), "first_id": page.first?["id"] ?? .null,
            "last_id": page.last?["id"] ?? .null, "has_more": .bool(list.count > limit),
        ]
    }

    func storeFailure(_ error: any Error) -> APIError {
        logger.error("response store failed", metadata: ["error": .string(storeErrorKind(error))])
        return .internalError("The response store failed; try again.")
    }

    func storeErrorKind(_ error: any Error) -> String {
        (error as? StoreError)?.kind.rawValue ?? "error"
    }
}
