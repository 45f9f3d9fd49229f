import SwitchyardCore
import SwitchyardProviders
import SwitchyardRouting

/// An upstream's non-streaming answer through one codec, as the router handles it. Input: a byte
/// picking the client request (`FuzzCodecs.requests`), a byte picking the status, for non-2xx a
/// byte picking the hint header's name and a line with its value, then the body.
/// What must hold: a 2xx body decodes to an answer the client gets as JSON, or to a typed
/// error; a non-2xx body decodes to a provider error whose Retry-After hint, classification
/// and client-facing error are well formed (a status the SDKs understand, OpenAI's envelope).
enum ResponseFuzz {
    static let statuses = [
        200, 200, 200, 201, 400, 401, 402, 403, 404, 408, 409, 413, 422, 429, 500, 502, 503, 504, 529, 418,
    ]
    static let hintHeaders = ["retry-after", "retry-after-ms", "x-should-retry", "x-unrelated"]
    /// A fixed wall clock, so HTTP-date hints are reproducible.
    static let now = 1_750_000_000.0

    static func run(_ bytes: [UInt8], kind: ProviderKind) throws(FuzzFailure) {
        var input = FuzzInput(bytes)
        let request = input.pick(FuzzCodecs.requests)
        let status = input.pick(statuses)
        let target = FuzzCodecs.target(kind, switches: 0)
        let codec = kind.codec
        if (200..<300).contains(status) {
            let decoded: DecodedResponse
            do {
                decoded = try codec.decodeResponse(
                    input.rest, request: request, target: target, id: "chatcmpl-fuzz", created: 1_750_000_000)
            } catch {
                return try checkProviderError(error, headers: [], "\(kind) decodeResponse")
            }
            let body = decoded.passthroughBody ?? decoded.response.serialized()
            try check(
                JSONFuzz.checkParses(body, "the \(kind) answer as the client gets it").objectValue != nil,
                "the \(kind) answer is not an object")
            return
        }
        let name = input.pick(hintHeaders)
        let value = String(decoding: input.take(until: 0x0A), as: UTF8.self)
        let headers = [HeaderField(name, value)]
        let error = codec.decodeError(status: status, headers: headers, body: input.rest)
        try checkProviderError(error, headers: headers, "\(kind) decodeError")
    }

    /// What the router does with a provider error: fold in the header hint, classify, answer.
    static func checkProviderError(_ error: ProviderError, headers: [HeaderField], _ what: String) throws(FuzzFailure) {
        var e = error
        e.retryAfterSeconds = RetryAfter.seconds(headers: headers, bodyHint: e.retryAfterSeconds, now: now)
        if let hint = e.retryAfterSeconds {
            try check(hint.isFinite && hint >= 0, "\(what): Retry-After hint \(hint)")
        }
        let fault = AttemptFault.provider(e)
        _ = classify(fault)
        _ = countsAgainstBreaker(fault)
        _ = fault.outcome
        let api = fault.apiError
        try check((400...599).contains(api.status), "\(what): client status \(api.status)")
        if let s = api.retryAfterSeconds { try check(s >= 1, "\(what): Retry-After \(s)") }
        try RequestFuzz.checkEnvelope(api.body, what)
    }
}
