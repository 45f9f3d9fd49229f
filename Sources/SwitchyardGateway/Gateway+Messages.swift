import SwitchyardCore
import SwitchyardEdge
import SwitchyardInbound
import SwitchyardProviders
import SwitchyardRouting

extension Gateway {
    /// `POST /v1/messages/count_tokens`: exact when the model has an Anthropic target, whose
    /// count endpoint receives the client's body (only `model` replaced) and headers through the
    /// router (retries, breakers, fallback among the Anthropic targets); the answer goes back as
    /// Anthropic sent it. When the model has no Anthropic target, or every Anthropic target failed
    /// on its side (not a 4xx the client caused), the answer is `MessagesTokenEstimate`'s,
    /// marked `x-switchyard-token-count: estimate`. Logged as one line with `operation:
    /// count_tokens`; not counted as a model request.
    func countTokens(
        _ request: HTTPRequest, responder: HTTPResponder, table: RouteTable, requestID: String, keyName: String
    ) async {
        let format = MessagesFormat()
        let started = ContinuousClock.now
        var log = RequestLog(requestID: requestID, keyName: keyName, api: .anthropicMessages)
        log.operation = "count_tokens"
        func fail(_ error: APIError) {
            if !log.attempts.isEmpty {
                respondError(
                    responder, error, requestID: requestID, format: format,
                    extra: [("x-switchyard-attempts", String(log.attempts.count))])
            } else {
                respondError(responder, error, requestID: requestID, format: format)
            }
            log.errorCode = error.code ?? error.type
            writeAccessLine(log, status: format.errorStatus(error), outcome: .error, elapsed: .now - started)
        }
        var chat: ChatRequest
        do {
            chat = try MessagesRequest.parse(body: request.body, countsTokens: true)
        } catch {
            return fail(error)
        }
        log.model = chat.model
        for name in format.forwardedHeaderNames {
            if let value = request.headers[name] { chat.nativeHeaders.append(HeaderField(name, value)) }
        }
        let targets: [RouteTarget]
        switch table.resolve(model: chat.model) {
        case .notFound:
            return fail(.modelNotFound(chat.model))
        case .unavailable:
            targets = []
        case .targets(let t, let configured):
            targets = t
            log.configuredModel = configured
        }
        let anthropic = targets.filter { $0.codec.kind == .anthropic }
        if !anthropic.isEmpty {
            switch await router.complete(chat, targets: anthropic, requestID: requestID) {
            case .success(let s):
                log.attempts = s.attempts
                log.provider = s.target.provider
                log.upstreamModel = s.target.model
                log.usage = s.response.response.usage
                var headers = baseHeaders(requestID, format: format)
                addRoutingHeaders(&headers, target: s.target, attempts: s.attempts.count)
                headers.add("x-switchyard-token-count", "exact")
                let body = s.response.passthroughBody ?? JSON.object(["input_tokens": .int(0)]).serialized()
                responder.respond(status: 200, headers: headers, body: body)
                writeAccessLine(log, status: 200, outcome: outcome(s.attempts), elapsed: .now - started)
                return
            case .failure(let f):
                log.attempts = f.attempts
                let status = f.error.status
                if (400..<500).contains(status), ![408, 409, 429, 499].contains(status) { return fail(f.error) }
                log.streamError = f.error.code ?? f.error.type
            }
        }
        let n = MessagesTokenEstimate.inputTokens(chat)
        log.usage = Usage(promptTokens: n, completionTokens: 0)
        var headers = baseHeaders(requestID, format: format)
        headers.add("x-switchyard-token-count", "estimate")
        if !log.attempts.isEmpty { headers.add("x-switchyard-attempts", String(log.attempts.count)) }
        responder.respond(status: 200, headers: headers, body: JSON.object(["input_tokens": .int(n)]).serialized())
        writeAccessLine(log, status: 200, outcome: .estimated, elapsed: .now - started)
    }
}
