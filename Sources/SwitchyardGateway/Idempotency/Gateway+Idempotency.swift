import Logging
import SwitchyardCore
import SwitchyardEdge
import SwitchyardInbound

/// The gateway's idempotent requests: records in `store`, requests sharing a key serialised in
/// this process by `slots`, kept `ttl` (`store.idempotency_ttl_s`).
struct IdempotentRequests: Sendable {
    let store: any IdempotencyStore
    let slots = IdempotencyCoordinator()
    let ttl: Duration
}

extension Gateway {
    /// `POST /v1/chat/completions`, `/v1/responses` or `/v1/messages` with `Idempotency-Key`
    /// (scoped to the client key NAME and the route).
    ///
    /// - First call: claims the key in the store (`in_flight`), runs the request, stores its
    ///   final answer if it succeeded (a streamed answer is assembled into the API's non-streaming
    ///   answer as it passes), or releases the key if it failed, so a retry runs again.
    /// - Repeat with the same body (byte-exact, `IdempotencyHash`): the stored answer with
    ///   `x-switchyard-replayed: true` and no upstream call, as JSON or, for a streaming request,
    ///   re-emitted as the API's events. Survives restarts; records expire after `store.idempotency_ttl_s`.
    /// - Repeat while the first still runs in this process: waits for it, then replays (or runs,
    ///   if the first failed). In flight in another process (a replica on a shared store, which
    ///   also records the answer a moment after its client got it): the same wait, by asking the
    ///   store again every 50 ms for up to the request deadline (`retry.deadline_ms`, the longest
    ///   the first may run); still in flight after that, 409 `idempotency_in_flight`, Retry-After 1.
    /// - Same key, different body: 422 `idempotency_key_reused`.
    ///
    /// A key claimed by a process that died mid-request stays `in_flight` (409) until it expires.
    func handleIdempotent(
        _ request: HTTPRequest, format: any InboundFormat, responder: HTTPResponder, table: RouteTable,
        requestID: String, keyName: String, idempotencyKey: String
    ) async {
        guard let idempotency = storage?.idempotency else {
            return await handleInbound(
                request, format: format, responder: responder, table: table, requestID: requestID, keyName: keyName)
        }
        let key = idempotencyKey
        // Chat keys keep their unprefixed form (records written before other routes existed).
        let storedKey = format.api == .chatCompletions ? key : format.api.label + "\u{0}" + key
        guard !key.isEmpty, key.utf8.count <= 255, key.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
            return respondError(
                responder,
                .invalidRequest(
                    "`Idempotency-Key` must be 1 to 255 printable ASCII characters.", param: "Idempotency-Key",
                    code: "invalid_idempotency_key"),
                requestID: requestID, format: format)
        }
        let hash = IdempotencyHash.of(request.body)
        let slot = keyName + "\u{0}" + storedKey
        await idempotency.slots.acquire(slot)
        defer { idempotency.slots.release(slot) }
        var begin: IdempotencyBegin
        do {
            begin = try await idempotency.store.begin(
                owner: keyName, key: storedKey, requestHash: hash, ttl: idempotency.ttl)
            let deadline = ContinuousClock.now + .milliseconds(table.config.retry.deadlineMs)
            if begin == .inFlight {
                logger.debug(
                    "idempotency key in flight elsewhere; waiting", metadata: ["request_id": .string(requestID)])
            }
            while begin == .inFlight, ContinuousClock.now < deadline, !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(50))
                begin = try await idempotency.store.begin(
                    owner: keyName, key: storedKey, requestHash: hash, ttl: idempotency.ttl)
            }
        } catch {
            return respondError(responder, storeAPIError(error), requestID: requestID, format: format)
        }
        switch begin {
        case .mismatch:
            respondError(
                responder,
                APIError(
                    status: 422, type: "invalid_request_error", code: "idempotency_key_reused",
                    message: "This Idempotency-Key was already used with a different request body.",
                    param: "Idempotency-Key"),
                requestID: requestID, format: format)
        case .inFlight:
            respondError(
                responder,
                APIError(
                    status: 409, type: "invalid_request_error", code: "idempotency_in_flight",
                    message: "A request with this Idempotency-Key is still being processed; retry shortly.",
                    param: "Idempotency-Key", retryAfterSeconds: 1),
                requestID: requestID, format: format)
        case .completed(let record):
            replay(
                record, format: format, request: request, responder: responder, requestID: requestID, keyName: keyName)
        case .new:
            let capture = IdempotencyCapture()
            await handleInbound(
                request, format: format, responder: responder, table: table, requestID: requestID, keyName: keyName,
                capture: capture)
            do {
                if let result = capture.result {
                    try await idempotency.store.complete(
                        owner: keyName, key: storedKey, status: 200, body: result.body, headers: result.headers)
                } else {
                    try await idempotency.store.abandon(owner: keyName, key: storedKey)
                }
            } catch {
                logger.error(
                    "idempotency record not written",
                    metadata: ["request_id": .string(requestID), "error": .string(storeErrorKind(error))])
            }
        }
    }

    private func replay(
        _ record: IdempotencyRecord, format: any InboundFormat, request: HTTPRequest, responder: HTTPResponder,
        requestID: String, keyName: String
    ) {
        let started = ContinuousClock.now
        var log = RequestLog(requestID: requestID, keyName: keyName, api: format.api)
        let chat = try? format.parseRequest(request.body)
        log.model = chat?.model
        log.stream = chat?.stream ?? false
        var headers = HTTPHeaders()
        for h in record.headers { headers.add(h.name, h.value) }
        log.upstreamModel = headers["x-switchyard-model"]
        headers.add("x-request-id", requestID)
        for (k, v) in format.responseHeaders(requestID: requestID) { headers.add(k, v) }
        headers.add("x-switchyard-replayed", "true")
        if headers["content-type"] == IdempotencyCapture.streamContentType {
            headers.add("Cache-Control", "no-cache")
            let writer = responder.startStream(status: record.status, headers: headers)
            if let chat { writer.write(format.replayStream(record.body, request: chat)) }
            writer.finish()
        } else {
            responder.respond(status: record.status, headers: headers, body: record.body)
        }
        finish(log: &log, status: record.status, outcome: .replayed, started: started)
    }
}
