import SwitchyardCore
import SwitchyardGateway
import SwitchyardTestSupport
import SwitchyardUpstream
import Testing

/// Non-stream and pre-hand-off faults on the primary, through the real gateway: which ones are
/// retried, which move on, which come back at once, and what the client sees when all fail.
@Suite struct FaultMatrixRetryTests {
    struct RetryableFault: Sendable, CustomTestStringConvertible {
        var name: String
        var options = FaultRig.Options()
        var stream = false
        var accept = MockHTTPServer.AcceptBehaviour.serve
        /// What the primary answers every time.
        var response = MockResponse()
        /// Upstream calls in total, the fallback's success included (attempts_per_target is 2).
        var attempts: Int
        /// Outcome label of the primary's attempts in `switchyard_upstream_attempts_total`
        /// (`a|b`: either, when the kernel's timing decides).
        var outcome: String
        var testDescription: String { name }
    }

    static let retryable: [RetryableFault] = [
        RetryableFault(
            name: "500", response: Wire.openAIError(status: 500, type: "server_error", code: nil, message: "boom"),
            attempts: 3, outcome: "http_500"),
        RetryableFault(
            name: "502", response: .text(status: 502, "<html>Bad Gateway</html>"), attempts: 3, outcome: "http_502"),
        RetryableFault(
            name: "503",
            response: Wire.openAIError(status: 503, type: "server_error", code: nil, message: "unavailable"),
            attempts: 3, outcome: "http_503"),
        RetryableFault(
            name: "504", response: .text(status: 504, "upstream timed out"), attempts: 3, outcome: "http_504"),
        RetryableFault(
            name: "408",
            response: Wire.openAIError(status: 408, type: "timeout", code: nil, message: "request timeout"),
            attempts: 3, outcome: "http_408"),
        RetryableFault(
            name: "429 without Retry-After",
            response: Wire.openAIError(
                status: 429, type: "requests", code: "rate_limit_exceeded", message: "slow down"),
            attempts: 3, outcome: "http_429"),
        RetryableFault(
            name: "Anthropic 529 overloaded_error", options: FaultRig.Options(primaryKind: "anthropic"),
            response: .json(
                status: 529, ["type": "error", "error": ["type": "overloaded_error", "message": "Overloaded"]]),
            attempts: 3, outcome: "http_529"),
        RetryableFault(
            name: "connection reset after the request", response: MockResponse(beforeHead: [.reset]), attempts: 3,
            outcome: "transport"),
        // An RST right after accept races curl's connect check: it reads as a refused connect or
        // as a broken transfer; both are retried.
        RetryableFault(
            name: "connection reset on accept", accept: .resetImmediately, attempts: 3, outcome: "connect|transport"),
        RetryableFault(
            name: "connection refused", options: FaultRig.Options(primaryRefused: true), attempts: 3, outcome: "connect"
        ),
        RetryableFault(
            name: "stream: headers then silence (first_event_timeout_ms)",
            options: FaultRig.Options(primaryLimits: "first_event_timeout_ms: 250"), stream: true,
            response: .headersThenSilence(headers: [HeaderField("Content-Type", "text/event-stream")]),
            attempts: 2, outcome: "timeout_first_event|timeout_first_byte"),
        RetryableFault(
            name: "slow non-streaming body (timeout_ms)", options: FaultRig.Options(primaryLimits: "timeout_ms: 250"),
            response: .chunked(
                [.text(#"{"id":"chatcmpl-slow","#), .stall], headers: [HeaderField("Content-Type", "application/json")]),
            attempts: 2, outcome: "timeout_total"),
        RetryableFault(
            name: "stream: 503 before the stream", stream: true,
            response: Wire.openAIError(status: 503, type: "server_error", code: nil, message: "unavailable"),
            attempts: 3, outcome: "http_503"),
        RetryableFault(
            name: "stream: reset before the head", stream: true, response: MockResponse(beforeHead: [.reset]),
            attempts: 3, outcome: "transport"),
        RetryableFault(
            name: "stream: Anthropic overloaded_error event before any content",
            options: FaultRig.Options(primaryKind: "anthropic"), stream: true,
            response: .sse(events: [
                #"event: message_start\#ndata: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"p-model","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":1}}}"#,
                #"event: ping\#ndata: {"type":"ping"}"#,
                #"event: error\#ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            ]),
            attempts: 3, outcome: "stream_error_overloaded"),
        RetryableFault(
            name: "Gemini 503 UNAVAILABLE", options: FaultRig.Options(primaryKind: "gemini"),
            response: .json(
                status: 503, ["error": ["code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"]]),
            attempts: 3, outcome: "http_503"),
        RetryableFault(
            name: "Gemini 429 per-day quota (next target at once)", options: FaultRig.Options(primaryKind: "gemini"),
            response: .json(
                status: 429,
                [
                    "error": [
                        "code": 429, "message": "Quota exceeded.", "status": "RESOURCE_EXHAUSTED",
                        "details": [
                            [
                                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                                "violations": [["quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"]],
                            ]
                        ],
                    ]
                ]),
            attempts: 2, outcome: "http_429"),
        RetryableFault(
            name: "stream: only malformed events", stream: true,
            response: .sse(events: ["data: {nope", "data: [DONE]"]),
            attempts: 3, outcome: "stream_truncated"),
        RetryableFault(
            name: "truncated non-streaming body",
            response: .chunked(
                [.text(#"{"id":"chatcmpl-cut","#), .close], headers: [HeaderField("Content-Type", "application/json")]),
            attempts: 3, outcome: "transport"),
        RetryableFault(
            name: "500 with x-should-retry: false (next target at once)",
            response: Wire.openAIError(
                status: 500, type: "server_error", code: nil, message: "boom",
                headers: [HeaderField("x-should-retry", "false")]),
            attempts: 2, outcome: "http_500"),
        RetryableFault(
            name: "malformed 200 body", response: .json(Array(#"{"id":"x","choices":[{"index":0,"mess"#.utf8)),
            attempts: 3, outcome: "malformed_response"),
    ]

    @Test(arguments: retryable)
    func retryableFaultEndsInFallbackSuccess(_ row: RetryableFault) async throws {
        let response = row.response
        try await FaultRig.run(row.options, primary: { _ in response }) { rig in
            rig.primary.acceptBehaviour = row.accept
            let r = try await rig.chat(stream: row.stream)
            #expect(r.head.status == 200, "body: \(r.text)")
            #expect(r.header("x-switchyard-provider") == "fallback")
            #expect(r.header("x-switchyard-model") == "f-model")
            #expect(r.header("x-switchyard-attempts") == String(row.attempts))
            if row.stream {
                let s = ClientStream(r.text)
                #expect(s.text == FaultRig.fallbackReply)
                #expect(s.endsWithDone)
            } else {
                #expect(
                    r.json?["choices"]?.arrayValue?.first?["message"]?["content"] == .string(FaultRig.fallbackReply))
            }
            let primaryCalls = row.attempts - 1
            if row.options.primaryRefused {
                #expect(rig.primary.acceptedConnections == 0)
            } else if row.accept == .resetImmediately {
                #expect(rig.primary.acceptedConnections == primaryCalls)
                #expect(rig.primary.requestCount == 0)
            } else {
                #expect(rig.primary.requestCount == primaryCalls)
            }
            #expect(rig.fallback.requestCount == 1)
            let m = try await rig.metrics()
            let primaryAttempts = row.outcome.split(separator: "|").map {
                metricValue(m, "switchyard_upstream_attempts_total", ["provider": "primary", "outcome": String($0)])
            }
            #expect(primaryAttempts.reduce(0, +) == Double(primaryCalls))
            #expect(
                metricValue(m, "switchyard_upstream_attempts_total", ["provider": "fallback", "outcome": "ok"]) == 1)
            #expect(metricValue(m, "switchyard_fallbacks_total", ["from": "primary", "to": "fallback"]) == 1)
        }
    }

    // MARK: Retry-After

    static let rateLimited = Wire.openAIError(
        status: 429, type: "requests", code: "rate_limit_exceeded", message: "Rate limit reached")

    /// A Retry-After within `wait_retry_after_ms` is waited out on the same target.
    @Test(arguments: [
        (HeaderField("Retry-After", "1"), Duration.seconds(1)),
        (HeaderField("retry-after-ms", "400"), Duration.milliseconds(400)),
    ])
    func shortRetryAfterIsWaitedOutOnThePrimary(_ header: HeaderField, _ wait: Duration) async throws {
        var limited = Self.rateLimited
        limited.headers.append(header)
        try await FaultRig.run(primary: scripted([limited], then: { FaultRig.primaryLLM.respond($0) })) { rig in
            let r = try await rig.chat()
            #expect(r.head.status == 200)
            #expect(r.header("x-switchyard-provider") == "primary")
            #expect(r.header("x-switchyard-attempts") == "2")
            #expect(r.json?["choices"]?.arrayValue?.first?["message"]?["content"] == .string(FaultRig.primaryReply))
            let calls = rig.primary.requests
            try #require(calls.count == 2)
            #expect(calls[1].arrival - calls[0].arrival >= wait)
            #expect(rig.fallback.requestCount == 0)
        }
    }

    /// A Retry-After beyond `wait_retry_after_ms` cools the primary down: fall back at once, and
    /// the next request does not call the primary at all.
    @Test func longRetryAfterFallsBackAndSkipsTheCoolingPrimary() async throws {
        var limited = Self.rateLimited
        limited.headers.append(HeaderField("Retry-After", "60"))
        try await FaultRig.run(primary: { [limited] _ in limited }) { rig in
            let first = try await rig.chat()
            #expect(first.head.status == 200)
            #expect(first.header("x-switchyard-provider") == "fallback")
            #expect(first.header("x-switchyard-attempts") == "2")
            #expect(rig.primary.requestCount == 1)

            let second = try await rig.chat()
            #expect(second.head.status == 200)
            #expect(second.header("x-switchyard-provider") == "fallback")
            #expect(second.header("x-switchyard-attempts") == "1")
            #expect(rig.primary.requestCount == 1)
            #expect(rig.fallback.requestCount == 2)
        }
    }

    /// Every target cooling down after a long Retry-After: the next request makes no call and
    /// gets a 503 whose Retry-After says when the first target comes back.
    @Test func everyTargetCoolingDownIsA503WithRetryAfter() async throws {
        var limited = Self.rateLimited
        limited.headers.append(HeaderField("Retry-After", "60"))
        try await FaultRig.run(primary: { [limited] _ in limited }, fallback: { [limited] _ in limited }) { rig in
            let started = ContinuousClock.now
            let first = try await rig.chat()
            #expect(first.head.status == 429)
            #expect(first.json?["error"]?["code"] == "rate_limit_exceeded")
            #expect(first.header("retry-after") == "60")
            #expect(first.header("x-should-retry") == "false")

            let second = try await rig.chat()
            #expect(second.head.status == 503)
            #expect(second.json?["error"]?["code"] == "upstream_unavailable")
            let retryAfter = try #require(second.header("retry-after").flatMap { Int($0) })
            // The cooldown began during the first request; what is left of it shrinks by the time
            // the two requests took (seconds on a loaded machine), never below that.
            let elapsed = Int((ContinuousClock.now - started) / .seconds(1)) + 1
            #expect((60 - elapsed...60).contains(retryAfter), "\(retryAfter) s left after \(elapsed) s")
            #expect(rig.primary.requestCount == 1)
            #expect(rig.fallback.requestCount == 1)
        }
    }

    // MARK: Client errors

    struct ClientFault: Sendable, CustomTestStringConvertible {
        var code: String
        var param: String?
        var message: String
        var testDescription: String { code }
    }

    /// Client faults come back at once, with the upstream's status and error object, after one call.
    @Test(arguments: [
        ClientFault(code: "invalid_value", param: "temperature", message: "Invalid value for 'temperature'."),
        ClientFault(code: "content_policy_violation", message: "Your request was rejected by the safety system."),
    ])
    func clientErrorIsReturnedAfterOneCall(_ row: ClientFault) async throws {
        let upstreamError: JSON = [
            "error": [
                "message": .string(row.message), "type": "invalid_request_error",
                "param": row.param.map(JSON.string) ?? nil,
                "code": .string(row.code),
            ]
        ]
        try await FaultRig.run(primary: { _ in .json(status: 400, upstreamError) }) { rig in
            let r = try await rig.chat()
            #expect(r.head.status == 400)
            let error = try #require(r.json?["error"], "body: \(r.text)")
            #expect(error["message"] == .string(row.message))
            #expect(error["type"] == "invalid_request_error")
            #expect(error["param"] == (row.param.map(JSON.string) ?? .null))
            #expect(error["code"] == .string(row.code))
            #expect(r.header("x-switchyard-attempts") == "1")
            #expect(rig.primary.requestCount == 1)
            #expect(rig.fallback.requestCount == 0)
        }
    }

    @Test func contextLengthExceededMovesToTheNextTarget() async throws {
        let tooLong = Wire.openAIError(
            status: 400, type: "invalid_request_error", code: "context_length_exceeded",
            message: "This model's maximum context length is 8192 tokens.")
        try await FaultRig.run(primary: { _ in tooLong }) { rig in
            let r = try await rig.chat()
            #expect(r.head.status == 200)
            #expect(r.header("x-switchyard-provider") == "fallback")
            #expect(r.header("x-switchyard-attempts") == "2")
            #expect(rig.primary.requestCount == 1)
        }
    }

    static let upstreamAuthText = "Incorrect API key provided: sk-prov************9a8b. You can find your API key at"
    static let unauthorized = Wire.openAIError(
        status: 401, type: "invalid_request_error", code: "invalid_api_key", message: upstreamAuthText)

    @Test func providerAuthFailureMovesToTheNextTarget() async throws {
        try await FaultRig.run(primary: { _ in Self.unauthorized }) { rig in
            let r = try await rig.chat()
            #expect(r.head.status == 200)
            #expect(r.header("x-switchyard-provider") == "fallback")
            #expect(r.header("x-switchyard-attempts") == "2")
            #expect(rig.primary.requestCount == 1)
        }
    }

    @Test func providerAuthFailureEverywhereIsA502WithoutTheUpstreamText() async throws {
        try await FaultRig.run(primary: { _ in Self.unauthorized }, fallback: { _ in Self.unauthorized }) { rig in
            let r = try await rig.chat()
            #expect(r.head.status == 502)
            #expect(r.json?["error"]?["code"] == "upstream_auth_failed")
            #expect(r.header("x-should-retry") == "false")
            #expect(!r.text.contains("Incorrect API key"))
            #expect(!r.text.contains("sk-prov"))
            #expect(!rig.h.logs.captured.contains("Incorrect API key"))
            #expect(rig.primary.requestCount == 1)
            #expect(rig.fallback.requestCount == 1)
        }
    }

    // MARK: Every target fails

    struct AllFail: Sendable, CustomTestStringConvertible {
        var name: String
        var options = FaultRig.Options()
        var stream = false
        var response: MockResponse
        var status: Int
        var code: String
        var retryAfter: String?
        /// Upstream calls in total (2 per target unless the fault moves on at once).
        var calls = 4
        var testDescription: String { name }
    }

    static let allFail: [AllFail] = [
        AllFail(
            name: "503",
            response: Wire.openAIError(status: 503, type: "server_error", code: nil, message: "unavailable"),
            status: 503, code: "upstream_overloaded", retryAfter: "1"),
        AllFail(name: "429", response: rateLimited, status: 429, code: "rate_limit_exceeded", retryAfter: "1"),
        AllFail(
            name: "500", response: Wire.openAIError(status: 500, type: "server_error", code: nil, message: "boom"),
            status: 502, code: "upstream_error"),
        AllFail(name: "reset", response: MockResponse(beforeHead: [.reset]), status: 502, code: "upstream_unreachable"),
        AllFail(
            name: "timeout",
            options: FaultRig.Options(primaryLimits: "timeout_ms: 250", fallbackLimits: "timeout_ms: 250"),
            response: MockResponse(beforeHead: [.stall]), status: 504, code: "upstream_timeout", calls: 2),
        AllFail(
            name: "stream: 503 before the stream", stream: true,
            response: Wire.openAIError(status: 503, type: "server_error", code: nil, message: "unavailable"),
            status: 503, code: "upstream_overloaded", retryAfter: "1"),
    ]

    @Test(arguments: allFail)
    func everyTargetFailing(_ row: AllFail) async throws {
        let response = row.response
        try await FaultRig.run(row.options, primary: { _ in response }, fallback: { _ in response }) { rig in
            let r = try await rig.chat(stream: row.stream)
            #expect(r.head.status == row.status)
            #expect(r.header("content-type") == "application/json")
            let error = try #require(r.json?["error"]?.objectValue, "body: \(r.text)")
            #expect(error.keys.sorted() == ["code", "message", "param", "type"])
            #expect(error["code"] == .string(row.code))
            #expect(r.header("x-should-retry") == "false")
            #expect(r.header("retry-after") == row.retryAfter)
            #expect(r.header("x-switchyard-attempts") == String(row.calls))
            #expect(r.header("x-switchyard-provider") == nil)
            #expect(rig.primary.requestCount == row.calls / 2)
            #expect(rig.fallback.requestCount == row.calls / 2)
        }
    }
}
