import Logging
import Prometheus
import SwitchyardCore
import SwitchyardEdge
import SwitchyardInbound
import SwitchyardProviders
import SwitchyardRouting

/// What one inbound request carries through the shared path besides the unified request: its
/// API's format, and for a Responses request the stored-conversation turn it belongs to.
struct InboundExchange: Sendable {
    let format: any InboundFormat
    /// Set on `/v1/responses`: what to store when the answer is complete.
    var turn: ResponsesTurn?
}

extension Gateway {
    /// The one request path of every inbound API (`/v1/chat/completions`, `/v1/responses`,
    /// `/v1/messages`):
    /// parse with the API's format, resolve the model, route through the shared router (retries,
    /// breakers, budget, failover, mid-stream recovery), answer as JSON or SSE in the API's shape,
    /// and count and log the request once, labelled with its API. `capture` receives the answer for
    /// an idempotency record (`Gateway+Idempotency.swift`).
    nonisolated(nonsending) func handleInbound(
        _ request: HTTPRequest, format: any InboundFormat, responder: HTTPResponder, table: RouteTable,
        requestID: String, keyName: String, capture: IdempotencyCapture? = nil
    ) async {
        let started = ContinuousClock.now
        metrics.inFlight.increment()
        defer { metrics.inFlight.decrement() }
        var log = RequestLog(requestID: requestID, keyName: keyName, api: format.api)
        var exchange = InboundExchange(format: format)

        var chat: ChatRequest
        do {
            chat = try format.parseRequest(request.body)
        } catch {
            return finishWithError(error, exchange, responder: responder, log: &log, started: started)
        }
        log.model = chat.model
        log.stream = chat.stream
        for name in format.forwardedHeaderNames {
            if let value = request.headers[name] { chat.nativeHeaders.append(HeaderField(name, value)) }
        }
        let clientBody = chat.raw
        if format.api == .responses {
            do {
                let turn = try await beginResponsesTurn(&chat, owner: keyName)
                exchange.turn = turn
            } catch {
                return finishWithError(error, exchange, responder: responder, log: &log, started: started)
            }
        }

        let targets: [RouteTarget]
        switch table.resolve(model: chat.model) {
        case .notFound:
            return finishWithError(
                .modelNotFound(chat.model), exchange, responder: responder, log: &log, started: started)
        case .unavailable(let reason):
            return finishWithError(
                APIError(
                    status: 503, type: "server_error", code: "no_available_provider",
                    message: "No provider can serve `\(chat.model)` right now: \(reason).", retryAfterSeconds: 30,
                    shouldRetry: false),
                exchange, responder: responder, log: &log, started: started)
        case .targets(let t, let configured):
            targets = t
            log.configuredModel = configured
        }

        if chat.stream {
            let mode = table.streamMode(model: chat.model)
            await streamInbound(
                consume chat, exchange, clientBody: clientBody, targets: targets, mode: mode, responder: responder,
                log: &log, started: started, capture: capture)
            return
        }
        switch await router.complete(chat, targets: targets, requestID: requestID) {
        case .failure(let f):
            log.attempts = f.attempts
            finishWithError(f.error, exchange, responder: responder, log: &log, started: started)
        case .success(let s):
            log.attempts = s.attempts
            log.provider = s.target.provider
            log.upstreamModel = s.target.model
            log.usage = s.response.usage
            var headers = baseHeaders(log.requestID, format: format, more: 3)
            addRoutingHeaders(&headers, target: s.target, attempts: s.attempts.count)
            // Passthrough bytes go out as they came (InboundFormat's contract); only a translated
            // answer is written from the unified response (which a passthrough does not build).
            var body: [UInt8]
            if let passthrough = s.response.passthroughBody {
                body = passthrough
            } else if let own = format.encodeResponse(s.response.response) {
                // Chat Completions needs no context: building one (the id string, a clock read,
                // a copy of the request) was 0.1 us of a translated request.
                body = own
            } else {
                let context = AnswerContext(
                    request: chat, clientBody: clientBody, id: Self.answerID(exchange, requestID: requestID),
                    created: Int(WallClock.seconds()),
                    model: s.target.model)
                body = format.encodeResponse(s.response.response, passthrough: nil, context: context)
            }
            if let turn = exchange.turn { body = await completeResponsesTurn(turn, body: body, requestID: requestID) }
            responder.respond(status: 200, headers: headers, body: body)
            capture?.completed(status: 200, headers: headers, body: body)
            finish(log: &log, status: 200, outcome: outcome(s.attempts), started: started)
        }
    }

    /// The id of an answer written here (a passthrough forwards the upstream's own), made only
    /// when one is.
    static func answerID(_ exchange: InboundExchange, requestID: String) -> String {
        ownAnswerID(exchange, requestID: requestID) ?? "chatcmpl-" + requestID
    }

    /// The answer id the turn or the client's API gives, if either does (else each answer
    /// writes a Chat Completions id of its own).
    static func ownAnswerID(_ exchange: InboundExchange, requestID: String) -> String? {
        exchange.turn?.id ?? exchange.format.answerID(requestID: requestID)
    }

    /// `chat` is consumed: it ends in the encoder's context, moved rather than copied (a copy and a
    /// destroy of every field of the request per stream).
    nonisolated(nonsending) func streamInbound(
        _ chat: consuming ChatRequest, _ exchange: InboundExchange, clientBody: JSONObject,
        targets: [RouteTarget], mode: StreamMode, responder: HTTPResponder, log: inout RequestLog,
        started: ContinuousClock.Instant, capture: IdempotencyCapture?
    ) async {
        let routed: RoutedStream
        // Buffered streams also hand off at the first upstream event: the 200 and headers go out
        // then, and the edge's heartbeat comments keep the connection alive while the router
        // holds the answer back (a failure before the first event is still a plain HTTP error).
        switch await router.stream(chat, targets: targets, requestID: log.requestID, mode: mode) {
        case .failure(let f):
            log.attempts = f.attempts
            return finishWithError(f.error, exchange, responder: responder, log: &log, started: started)
        case .success(let s):
            routed = s
        }
        // The first target's names, read once without copying the target (each copy and destroy
        // of one is a retain and a release of every field).
        let (provider, model) = routed.targetNames
        log.provider = provider
        log.upstreamModel = model
        // One list with room for every field (a literal, its conversion and the routing headers'
        // growth were three allocations per stream).
        let own = exchange.format.responseHeaders(requestID: log.requestID)
        var headers = HTTPHeaders()
        headers.reserveCapacity(6 + own.count)
        headers.add("Content-Type", "text/event-stream")
        headers.add("Cache-Control", "no-cache")
        headers.add("x-request-id", log.requestID)
        for (k, v) in own { headers.add(k, v) }
        addRoutingHeaders(&headers, provider: provider, model: model, attempts: routed.upstreamCalls)
        let writer = responder.startStream(status: 200, headers: headers)
        metrics.openStreams.increment()
        defer { metrics.openStreams.decrement() }
        // A Chat Completions stream's id is made from the request id's letters and digits by its
        // encoder, when a chunk written there needs it (`streamIDSource`); the `chatcmpl-` + request
        // id of a plain answer was built for it and dropped.
        let ownID = Self.ownAnswerID(exchange, requestID: log.requestID)
        let deferred = ownID == nil && exchange.format.api == .chatCompletions
        var context = AnswerContext(
            request: chat, clientBody: clientBody,
            id: ownID ?? (deferred ? "" : AnswerContext.streamIDPart(log.requestID, prefix: "chatcmpl-")),
            created: Int(WallClock.seconds()), model: model, keepsFinalAnswer: capture != nil || exchange.turn != nil)
        if deferred { context.streamIDSource = log.requestID }
        var encoder = exchange.format.makeStreamEncoder(context: context)
        var firstSent = false
        var ending = RequestOutcome.ok
        var status = 200
        var stored = false
        loop: while let item = await routed.next() {
            var out: [UInt8]
            switch item {
            case .events(let events):
                // After a mid-stream continuation the events name the target finishing the answer.
                out = encoder.encode(events, model: routed.answeringModel)
                if let e = encoder.failure {
                    ending = .streamError
                    status = e.status
                }
            case .failed(let error):
                out = encoder.fail(error)
                ending = .streamError
                status = error.status
                log.streamError = error.code ?? error.type
            }
            // A stored turn is committed before its last event goes out: a client that chains the
            // next request as soon as it reads `response.completed` must find it.
            if !stored, let turn = exchange.turn, let final = encoder.finalBody {
                stored = true
                _ = await completeResponsesTurn(turn, body: final, requestID: log.requestID)
            }
            if !out.isEmpty {
                if !firstSent {
                    firstSent = true
                    let ttft = ContinuousClock.now - started
                    log.ttft = ttft
                    metrics.timeToFirstToken(provider: provider, ttft)
                }
                if !writer.write(out) {
                    ending = .clientDisconnected
                    status = 499
                    break loop
                }
            }
            if ending == .streamError { break loop }
        }
        // The edge cancels the handler when the client hangs up, which can end the loop above
        // before any write failed.
        if writer.isClientGone && ending != .clientDisconnected {
            ending = .clientDisconnected
            status = 499
        }
        writer.finish()
        if ending == .ok, let final = encoder.finalBody {
            capture?.streamCompleted(headers: headers, finalBody: final)
        }
        log.attempts = routed.attempts
        log.continuations = routed.continuations
        let answering = routed.answeringNames
        log.provider = answering.provider
        log.upstreamModel = answering.model
        if let usage = routed.usage ?? encoder.usage { log.usage = usage }
        finish(
            log: &log, status: status, outcome: ending == .ok ? outcome(routed.attempts) : ending,
            started: started)
    }

    func addRoutingHeaders(_ headers: inout HTTPHeaders, target: RouteTarget, attempts: Int) {
        addRoutingHeaders(&headers, provider: target.provider, model: target.model, attempts: attempts)
    }

    func addRoutingHeaders(_ headers: inout HTTPHeaders, provider: String, model: String, attempts: Int) {
        headers.add("x-switchyard-provider", provider)
        headers.add("x-switchyard-model", model)
        headers.add("x-switchyard-attempts", String(attempts))
    }

    /// `ok`, `retried` (more than one call to the answering target) or `fallback` (another target answered).
    func outcome(_ attempts: [AttemptRecord]) -> RequestOutcome {
        guard let first = attempts.first, let last = attempts.last else { return .ok }
        if first.target != last.target { return .fallback }
        return attempts.count > 1 ? .retried : .ok
    }

    func finishWithError(
        _ error: APIError, _ exchange: InboundExchange, responder: HTTPResponder, log: inout RequestLog,
        started: ContinuousClock.Instant
    ) {
        var extra: [(String, String)] = []
        if !log.attempts.isEmpty { extra.append(("x-switchyard-attempts", String(log.attempts.count))) }
        respondError(responder, error, requestID: log.requestID, format: exchange.format, extra: extra)
        log.errorCode = error.code ?? error.type
        // The router gives up with `RouterErrors.cancelled` when the edge cancelled the handler
        // because the client hung up (the answer above goes nowhere).
        let gone = error == RouterErrors.cancelled || responder.isClientGone
        finish(
            log: &log, status: gone ? 499 : exchange.format.errorStatus(error),
            outcome: gone ? .clientDisconnected : .error, started: started)
    }

    func finish(log: inout RequestLog, status: Int, outcome: RequestOutcome, started: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - started
        metrics.requestFinished(
            api: log.api, model: log.configuredModel, provider: log.provider, outcome: outcome, status: status,
            duration: elapsed, usage: log.usage)
        writeAccessLine(log, status: status, outcome: outcome, elapsed: elapsed)
    }

    /// The request's access-log line, when the level writes it (`logsRequests`, read once):
    /// composed in place into the line of the gateway's `JSONLogHandler` when there is one
    /// (`accessLogHandler`), else through swift-log.
    func writeAccessLine(_ log: RequestLog, status: Int, outcome: RequestOutcome, elapsed: Duration) {
        guard logsRequests else { return }
        if let handler = accessLogHandler {
            handler.write(level: .info, message: "request") { o in
                log.writeFields(into: &o, status: status, outcome: outcome, elapsed: elapsed)
            }
        } else {
            log.emit(to: logger, status: status, outcome: outcome, elapsed: elapsed)
        }
    }
}

/// The facts of one request for its single structured log line. Holds no message content and
/// no key material: the client key appears by its configured name only.
struct RequestLog {
    var requestID: String
    var keyName: String
    var api: InboundAPI = .chatCompletions
    var model: String?
    var configuredModel: String?
    var stream = false
    var provider: String?
    var upstreamModel: String?
    var attempts: [AttemptRecord] = []
    var usage: Usage?
    var ttft: Duration?
    var errorCode: String?
    var streamError: String?
    /// Set for a request that is not a model answer (`count_tokens`).
    var operation: String?
    var continuations: [ContinuationRecord] = []

    /// Called through `Gateway.writeAccessLine`, only when the line will be written (`info`) and
    /// the logger's handler is not one `writeFields` writes for.
    func emit(to logger: Logger, status: Int, outcome: RequestOutcome, elapsed: Duration) {
        // Room for every field from the start: the literal's table of seven grew (a rehash of
        // every entry) as the optional fields were added.
        var m = Logger.Metadata(minimumCapacity: 18)
        m["request_id"] = .string(requestID)
        m["client_key"] = .string(keyName)
        m["api"] = .string(api.label)
        m["status"] = .stringConvertible(status)
        m["outcome"] = .string(outcome.rawValue)
        m["latency_ms"] = .string(ms(elapsed))
        m["stream"] = .stringConvertible(stream)
        if let model { m["model"] = .string(String(model.prefix(128))) }
        if let provider { m["provider"] = .string(provider) }
        if let upstreamModel { m["upstream_model"] = .string(upstreamModel) }
        if let ttft { m["ttft_ms"] = .string(ms(ttft)) }
        if let u = usage {
            m["prompt_tokens"] = .stringConvertible(u.promptTokens)
            m["completion_tokens"] = .stringConvertible(u.completionTokens)
        }
        if let errorCode { m["error"] = .string(errorCode) }
        if let operation { m["operation"] = .string(operation) }
        if let streamError { m["stream_error"] = .string(streamError) }
        if !attempts.isEmpty {
            m["targets"] = .array(
                attempts.map { a in
                    .dictionary([
                        "target": .string(a.target), "attempt": .stringConvertible(a.attempt),
                        "outcome": .string(a.outcome.rawValue),
                        "ms": .string(ms(a.duration)),
                    ])
                })
        }
        if !continuations.isEmpty {
            m["continuations"] = .array(
                continuations.map { c in
                    .dictionary(["from": .string(c.from), "to": .string(c.to), "outcome": .string(c.outcome.rawValue)])
                })
        }
        logger.info("request", metadata: m)
    }

    func ms(_ d: Duration) -> String {
        String((d.inMilliseconds * 1000).rounded() / 1000)
    }
}
