import SwitchyardCore
import SwitchyardRouting
import Testing

/// The classification table as it stands in the README: one row per case.
struct ClassificationRow: Sendable, CustomTestStringConvertible {
    var name: String
    var fault: AttemptFault
    var disposition: Disposition
    var breaker: Bool
    var testDescription: String { name }
}

private func p(_ kind: ProviderError.Kind, _ status: Int, shouldRetry: Bool? = nil) -> AttemptFault {
    .provider(ProviderError(kind: kind, status: status, message: "m", shouldRetry: shouldRetry))
}

let classificationTable: [ClassificationRow] = [
    .init(name: "connect failure", fault: .transport(.connect("refused")), disposition: .retry, breaker: true),
    .init(name: "connection reset", fault: .transport(.transport("reset")), disposition: .retry, breaker: true),
    .init(name: "408", fault: p(.requestTimeout, 408), disposition: .retry, breaker: true),
    .init(name: "409", fault: p(.conflict, 409), disposition: .retry, breaker: true),
    .init(name: "429 rate limited", fault: p(.rateLimited, 429), disposition: .retry, breaker: true),
    .init(name: "500", fault: p(.serverError, 500), disposition: .retry, breaker: true),
    .init(name: "502", fault: p(.serverError, 502), disposition: .retry, breaker: true),
    .init(name: "503", fault: p(.overloaded, 503), disposition: .retry, breaker: true),
    .init(name: "504", fault: p(.gatewayTimeout, 504), disposition: .retry, breaker: true),
    .init(name: "529 overloaded", fault: p(.overloaded, 529), disposition: .retry, breaker: true),
    .init(name: "malformed 2xx body", fault: p(.malformedResponse, 200), disposition: .retry, breaker: true),
    .init(name: "stream error event overloaded", fault: p(.overloaded, 200), disposition: .retry, breaker: true),
    .init(name: "connect timeout", fault: .transport(.timeout(.connect)), disposition: .nextTarget, breaker: true),
    .init(name: "first-byte timeout", fault: .transport(.timeout(.firstByte)), disposition: .nextTarget, breaker: true),
    .init(name: "idle timeout", fault: .transport(.timeout(.idle)), disposition: .nextTarget, breaker: true),
    .init(name: "total timeout", fault: .transport(.timeout(.total)), disposition: .nextTarget, breaker: true),
    .init(name: "401", fault: p(.authentication, 401), disposition: .nextTarget, breaker: true),
    .init(name: "403", fault: p(.permissionDenied, 403), disposition: .nextTarget, breaker: true),
    .init(name: "402 billing", fault: p(.billing, 402), disposition: .nextTarget, breaker: true),
    .init(name: "failed precondition", fault: p(.preconditionFailed, 400), disposition: .nextTarget, breaker: true),
    .init(name: "404", fault: p(.notFound, 404), disposition: .nextTarget, breaker: true),
    .init(name: "quota exhausted", fault: p(.quotaExhausted, 429), disposition: .nextTarget, breaker: true),
    .init(name: "context length", fault: p(.contextLengthExceeded, 400), disposition: .nextTarget, breaker: false),
    .init(name: "other status (3xx)", fault: p(.other, 302), disposition: .nextTarget, breaker: true),
    .init(name: "400", fault: p(.badRequest, 400), disposition: .final, breaker: false),
    .init(name: "content policy", fault: p(.contentPolicy, 400), disposition: .final, breaker: false),
    .init(name: "413", fault: p(.requestTooLarge, 413), disposition: .final, breaker: false),
    .init(name: "422", fault: p(.unprocessable, 422), disposition: .final, breaker: false),
    .init(name: "cancelled", fault: .transport(.cancelled), disposition: .cancelled, breaker: false),
    .init(
        name: "503 + x-should-retry false", fault: p(.overloaded, 503, shouldRetry: false), disposition: .nextTarget,
        breaker: true),
    .init(
        name: "429 + x-should-retry true", fault: p(.rateLimited, 429, shouldRetry: true), disposition: .retry,
        breaker: true),
    .init(
        name: "400 + x-should-retry true", fault: p(.badRequest, 400, shouldRetry: true), disposition: .retry,
        breaker: false),
    .init(
        name: "400 + x-should-retry false", fault: p(.badRequest, 400, shouldRetry: false), disposition: .final,
        breaker: false),
    .init(
        name: "401 + x-should-retry true", fault: p(.authentication, 401, shouldRetry: true), disposition: .nextTarget,
        breaker: true),
]

@Suite struct ClassificationTests {
    @Test(arguments: classificationTable)
    func row(_ row: ClassificationRow) {
        #expect(classify(row.fault) == row.disposition)
        #expect(countsAgainstBreaker(row.fault) == row.breaker)
    }

    @Test func outcomeLabelsArePayloadFree() {
        #expect(AttemptFault.transport(.timeout(.firstByte)).outcome.rawValue == "timeout_first_byte")
        #expect(AttemptFault.transport(.connect("secret host")).outcome.rawValue == "connect")
        #expect(p(.overloaded, 503).outcome.rawValue == "http_503")
        #expect(p(.overloaded, 200).outcome.rawValue == "stream_error_overloaded")
        #expect(p(.malformedResponse, 200).outcome.rawValue == "malformed_response")
    }

    /// Each label reads back as the outcome it came from, so a label in a log or a task step
    /// names exactly one outcome.
    @Test(arguments: [
        AttemptOutcome.ok, .http(503), .http(429), .connect, .transport, .cancelled, .timeout(.firstByte),
        .timeout(.total), .firstEventTimeout, .streamError(.overloaded), .malformedResponse, .streamTruncated,
    ])
    func outcomeLabelsReadBack(_ outcome: AttemptOutcome) {
        #expect(AttemptOutcome(rawValue: outcome.rawValue) == outcome)
    }

    @Test func unknownLabelsDoNotReadAsOutcomes() {
        for label in ["", "http_", "http_abc", "http_5", "timeout_forever", "stream_error_", "OK"] {
            #expect(AttemptOutcome(rawValue: label) == nil, "\(label)")
        }
    }

    @Test func transportFaultsMapToGatewayErrors() {
        #expect(AttemptFault.transport(.connect("x")).apiError.status == 502)
        #expect(AttemptFault.transport(.connect("x")).apiError.code == "upstream_unreachable")
        #expect(AttemptFault.transport(.timeout(.total)).apiError.status == 504)
        #expect(AttemptFault.transport(.timeout(.total)).apiError.code == "upstream_timeout")
    }
}
