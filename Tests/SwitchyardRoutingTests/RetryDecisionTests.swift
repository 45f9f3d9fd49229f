import SwitchyardCore
import SwitchyardProviders
import Testing

@testable import SwitchyardRouting

/// `RouterState.afterFailure`, the router's decision after a failed attempt, on facts alone:
/// no upstream, no clock, no sleeping (the driver that performs it is tested in RouterCompleteTests).
@Suite struct RetryDecisionTests {
    let t0 = ContinuousClock.now
    let key = "a/m"
    /// Two attempts per target, 1 s → 8 s backoff, 5 s Retry-After cap, breaker at 5 failures.
    let policy = RoutingPolicy()

    func failure(
        _ fault: AttemptFault, attempt: Int = 1, retryAfter: Double? = nil, probe: Bool = false
    )
        -> FailedAttempt
    {
        FailedAttempt(target: key, fault: fault, retryAfter: retryAfter, attempt: attempt, probe: probe)
    }

    func p(_ kind: ProviderError.Kind, _ status: Int) -> AttemptFault {
        .provider(ProviderError(kind: kind, status: status, message: "m"))
    }

    func decide(
        _ state: inout RouterState, _ f: FailedAttempt, remaining: Duration = .seconds(60), jitter: Double = 0
    ) -> RetryDecision {
        state.afterFailure(f, policy: policy, remaining: remaining, now: t0, jitter: { jitter }).0
    }

    func failures(_ state: RouterState) -> Int {
        if case .closed(let n)? = state.breakers[key]?.phase { return n }
        return -1
    }

    /// Every row of the classification table, first attempt, time and budget to spare: the
    /// disposition becomes the decision, and only the target's own faults count against its breaker.
    @Test(arguments: classificationTable)
    func eachClassifiedFaultDecidesAsItsDisposition(_ row: ClassificationRow) {
        var state = RouterState(policy: policy)
        let decision = decide(&state, failure(row.fault))
        let expected: RetryDecision =
            switch row.disposition {
            case .retry: .retry(after: .seconds(1))
            case .nextTarget: .nextTarget(.notRetryable)
            case .final: .fail
            case .cancelled: .stop
            }
        #expect(decision == expected)
        if row.breaker {
            #expect(failures(state) == 1)
        } else {
            #expect(state.breakers[key] == nil, "not the target's fault: its breaker never hears of it")
        }
    }

    @Test func theWaitIsTheRetryAfterHintUpToTheCapElseBackoffWithJitter() {
        var state = RouterState(policy: policy)
        #expect(decide(&state, failure(p(.rateLimited, 429), retryAfter: 2.5)) == .retry(after: .seconds(2.5)))
        #expect(decide(&state, failure(p(.overloaded, 503)), jitter: 0.5) == .retry(after: .seconds(0.875)))
        #expect(decide(&state, failure(p(.overloaded, 503), retryAfter: 5)) == .retry(after: .seconds(5)))
    }

    @Test func jitterIsDrawnOnlyForABackoff() {
        var state = RouterState(policy: policy)
        var draws = 0
        let hinted = state.afterFailure(
            failure(p(.rateLimited, 429), retryAfter: 1), policy: policy, remaining: .seconds(60), now: t0
        ) {
            draws += 1
            return 0
        }
        #expect(hinted.0 == .retry(after: .seconds(1)) && draws == 0)
        let final = state.afterFailure(failure(p(.badRequest, 400)), policy: policy, remaining: .seconds(60), now: t0) {
            draws += 1
            return 0
        }
        #expect(final.0 == .fail && draws == 0)
    }

    @Test func aHintOverTheCapCoolsTheTargetDownWithoutCountingAFailure() {
        var state = RouterState(policy: policy)
        for _ in 1...10 {
            #expect(decide(&state, failure(p(.rateLimited, 429), retryAfter: 30)) == .coolDown(seconds: 30))
        }
        #expect(state.breakers[key] == nil, "a cooldown is not a breaker failure")
        #expect(state.admit(key, now: t0 + .seconds(29)).0 == .skipped(reason: .cooldown, until: t0 + .seconds(30)))
        #expect(state.admit(key, now: t0 + .seconds(30)).0 == .allowed(probe: false))
    }

    /// A hint over the cap on a failure that is not retryable says nothing about waiting.
    @Test func aHintOnANotRetryableFailureDoesNotCoolDown() {
        var state = RouterState(policy: policy)
        #expect(decide(&state, failure(p(.quotaExhausted, 429), retryAfter: 3600)) == .nextTarget(.notRetryable))
        #expect(state.cooldowns[key] == nil)
    }

    @Test func theFailureThatOpensTheBreakerMovesOnAndReportsTheTransition() {
        var state = RouterState(policy: policy)
        for _ in 1...4 { _ = decide(&state, failure(p(.overloaded, 503))) }
        let (decision, transition) = state.afterFailure(
            failure(p(.overloaded, 503)), policy: policy, remaining: .seconds(60), now: t0, jitter: { 0 })
        #expect(decision == .nextTarget(.breakerOpened))
        #expect(transition == CircuitBreaker.Transition(from: .closed, to: .open))
    }

    @Test func theLastAttemptOfATargetMovesOn() {
        var state = RouterState(policy: policy)
        #expect(decide(&state, failure(p(.overloaded, 503), attempt: 2)) == .nextTarget(.attemptsSpent))
        #expect(failures(state) == 1)
    }

    @Test func aWaitThatWouldPassTheDeadlineMovesOnWithoutSpendingBudget() {
        var state = RouterState(policy: policy)
        let before = state.budget
        #expect(decide(&state, failure(p(.overloaded, 503)), remaining: .seconds(1)) == .nextTarget(.pastDeadline))
        #expect(
            decide(&state, failure(p(.rateLimited, 429), retryAfter: 3), remaining: .seconds(2))
                == .nextTarget(.pastDeadline))
        #expect(state.budget == before)
    }

    @Test func aSpentBudgetMovesOn() {
        var tight = policy
        tight.budgetMinPerSecond = 0.1  // one retry per 10 s window
        tight.budgetPercent = 0
        var state = RouterState(policy: tight)
        let f = failure(p(.overloaded, 503))
        let first = state.afterFailure(f, policy: tight, remaining: .seconds(60), now: t0, jitter: { 0 }).0
        let second = state.afterFailure(f, policy: tight, remaining: .seconds(60), now: t0, jitter: { 0 }).0
        #expect(first == .retry(after: .seconds(1)))
        #expect(second == .nextTarget(.budgetSpent))
    }

    /// A probe whose verdict is not the target's (a client error, the client leaving, a cooldown)
    /// is released, so the next request may probe; a target failure re-opens the breaker.
    @Test func aHalfOpenProbeIsReleasedOrRecorded() {
        var state = RouterState(policy: policy)
        var opened = policy
        opened.breakerFailureThreshold = 1
        state.policy = opened
        _ = state.afterFailure(failure(p(.overloaded, 503)), policy: opened, remaining: .seconds(60), now: t0) { 0 }
        let later = t0 + opened.breakerOpenDuration
        for fault in [p(.badRequest, 400), AttemptFault.transport(.cancelled)] {
            #expect(state.admit(key, now: later).0 == .allowed(probe: true))
            _ = state.afterFailure(
                failure(fault, probe: true), policy: opened, remaining: .seconds(60), now: later, jitter: { 0 })
        }
        #expect(state.admit(key, now: later).0 == .allowed(probe: true))
        let (decision, transition) = state.afterFailure(
            failure(p(.overloaded, 503), probe: true), policy: opened, remaining: .seconds(60), now: later,
            jitter: { 0 })
        #expect(decision == .nextTarget(.breakerOpened))
        #expect(transition == CircuitBreaker.Transition(from: .halfOpen, to: .open))
    }

    @Test func aCallerThatLeftStopsWhateverTheFault() {
        var state = RouterState(policy: policy)
        var f = failure(p(.overloaded, 503))
        f.callerGone = true
        #expect(decide(&state, f) == .stop)
        #expect(state.breakers[key] == nil)
    }

    // MARK: Giving up

    func record(_ fault: AttemptFault, retryAfter: Double? = nil) -> AttemptFailure {
        var f = AttemptFailure(fault)
        if case .provider(var e) = fault, let retryAfter {
            e.retryAfterSeconds = retryAfter
            f = AttemptFailure(.provider(e))
        }
        return f
    }

    func attempt(_ n: Int) -> AttemptRecord {
        AttemptRecord(
            target: key, provider: "a", model: "m", attempt: n, outcome: .http(503), status: 503, duration: .zero)
    }

    @Test func theLastFailureWinsThenTheDeadlineThenEncodingThenUnavailability() {
        var r = DriveRecord()
        r.unavailableUntil = [t0 + .seconds(3)]
        r.encodeError = .invalidRequest("no", param: "n")
        r.deadlineHit = true
        r.last = record(p(.overloaded, 503))
        r.attempts = [attempt(1), attempt(2)]
        let last = r.exhausted(now: t0)
        #expect(last.error.status == 503 && last.error.shouldRetry == false && last.error.retryAfterSeconds == 1)
        #expect(last.unavailableFor == nil)
        r.last = nil
        #expect(r.exhausted(now: t0).error == RouterErrors.deadlineExceeded)
        r.deadlineHit = false
        #expect(r.exhausted(now: t0).error.param == "n")
        r.encodeError = nil
        let unavailable = r.exhausted(now: t0 + .milliseconds(200))
        #expect(unavailable.error == RouterErrors.allUnavailable(retryAfterSeconds: 3))
        #expect(unavailable.unavailableFor == 3)
        r.unavailableUntil = [nil]
        #expect(r.exhausted(now: t0).unavailableFor == 1, "a probe in flight: ask again in a second")
        r.unavailableUntil = []
        #expect(r.exhausted(now: t0).error.status == 500)
    }

    @Test func aSingleCallKeepsTheUpstreamsRetryHeaderAndRetryAfterIsWholeSeconds() {
        let once = DriveRecord.clientError(record(p(.rateLimited, 429), retryAfter: 2.2), calls: 1)
        #expect(once.shouldRetry == nil && once.retryAfterSeconds == 3)
        let twice = DriveRecord.clientError(record(p(.badRequest, 400)), calls: 2)
        #expect(twice.shouldRetry == false && twice.retryAfterSeconds == nil)
    }

    // MARK: Limits of one attempt

    @Test func everyTimeoutIsCappedByWhatIsLeftOfTheDeadline() {
        let target = RouteTarget(
            provider: "a", model: "m", codec: OpenAICodec(), baseURL: "http://x", headers: [HeaderField("k", "v")],
            timeouts: TargetTimeouts(
                connect: .seconds(10), total: .seconds(120), firstEvent: .seconds(10), idle: .seconds(30)))
        let encoded = EncodedRequest(path: "/p", query: "q=1", headers: [HeaderField("c", "t")], body: [1])
        let plain = target.upstreamRequest(encoded, left: .seconds(4), streaming: false, streamLeft: nil)
        #expect(plain.url == "http://x/p?q=1" && plain.headers.map(\.name) == ["c", "k"])
        #expect(plain.connectTimeout == .seconds(4) && plain.timeout == .seconds(4))
        #expect(plain.firstByteTimeout == nil && plain.idleTimeout == nil)
        let stream = target.upstreamRequest(encoded, left: .seconds(60), streaming: true, streamLeft: .seconds(90))
        #expect(stream.connectTimeout == .seconds(10) && stream.firstByteTimeout == .seconds(10))
        #expect(stream.idleTimeout == .seconds(30) && stream.timeout == .seconds(90))
    }

    /// The request's own headers go first and replace the target's of the same name in any
    /// letter case; the target's others follow in order; no query, no `?`.
    @Test func theRequestsHeadersReplaceTheTargetsOfTheSameName() {
        let target = RouteTarget(
            provider: "a", model: "m", codec: OpenAICodec(), baseURL: "http://x/v1",
            headers: [
                HeaderField("Authorization", "Bearer k"), HeaderField("anthropic-VERSION", "old"),
                HeaderField("X-Extra", "1"), HeaderField("Anthropic-Version", "older"),
            ])
        let encoded = EncodedRequest(
            path: "/messages", headers: [HeaderField("Anthropic-Version", "new"), HeaderField("Content-Type", "j")],
            body: [])
        let request = target.upstreamRequest(encoded, left: .seconds(4), streaming: false, streamLeft: nil)
        #expect(request.url == "http://x/v1/messages")
        #expect(
            request.headers == [
                HeaderField("Anthropic-Version", "new"), HeaderField("Content-Type", "j"),
                HeaderField("Authorization", "Bearer k"), HeaderField("X-Extra", "1"),
            ])
        let bare = target.upstreamRequest(
            EncodedRequest(path: "/models", headers: [], body: []), left: .seconds(4), streaming: false,
            streamLeft: nil)
        #expect(bare.headers == target.headers)
    }

    /// The codec's usual request (OpenAI's chat path and JSON header) gets the URL and header list
    /// made with the target; they follow the target's base URL, headers and codec when those
    /// change, and any other request (another path, a query, other headers) builds its own.
    @Test func theUsualRequestUsesTheTargetsOwnURLAndHeadersAsTheyAre() throws {
        var target = RouteTarget(
            provider: "a", model: "m", codec: OpenAICodec(), baseURL: "http://x/v1",
            headers: [HeaderField("Authorization", "Bearer k"), HeaderField("content-type", "old")])
        let chat = try ChatRequest.parse(
            body: Array(#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#.utf8))
        func sent(_ target: RouteTarget, _ encoded: EncodedRequest) -> UpstreamRequest {
            target.upstreamRequest(encoded, left: .seconds(4), streaming: false, streamLeft: nil)
        }
        let encoded = try target.codec.encode(chat, for: target.context)
        var request = sent(target, encoded)
        #expect(request.url == "http://x/v1/chat/completions")
        #expect(
            request.headers == [
                HeaderField("Content-Type", "application/json"), HeaderField("Authorization", "Bearer k"),
            ])
        target.baseURL = "http://y"
        request = sent(target, encoded)
        #expect(request.url == "http://y/chat/completions")
        #expect(
            request.headers == [
                HeaderField("Content-Type", "application/json"), HeaderField("Authorization", "Bearer k"),
            ])
        target.headers = [HeaderField("X-Extra", "1")]
        request = sent(target, encoded)
        #expect(request.url == "http://y/chat/completions")
        #expect(request.headers == [HeaderField("Content-Type", "application/json"), HeaderField("X-Extra", "1")])
        var other = encoded
        other.query = "a=1"
        #expect(sent(target, other).url == "http://y/chat/completions?a=1")
        other = encoded
        other.headers = [HeaderField("Content-Type", "text/plain")]
        #expect(
            sent(target, other).headers == [HeaderField("Content-Type", "text/plain"), HeaderField("X-Extra", "1")])
        other = encoded
        other.path = "/responses"
        #expect(sent(target, other).url == "http://y/responses")
        target.codec = AnthropicCodec()
        #expect(sent(target, encoded).url == "http://y/chat/completions")
        #expect(sent(target, EncodedRequest(path: "/messages", headers: [], body: [])).url == "http://y/messages")
    }

    /// A Gemini target keeps the URL and merged headers of its model's usual request, plain and
    /// streamed, and sends what a target without them builds per attempt (the codec without its
    /// usual request); a context whose model changed after the target was made builds its own.
    @Test func aGeminiTargetSendsItsUsualURLAndHeadersPlainAndStreamed() throws {
        /// Gemini's codec without a usual request: every attempt builds its URL and headers.
        struct Uncached: ProviderCodec {
            let inner = GeminiCodec()
            var kind: ProviderKind { inner.kind }
            var healthPath: String { inner.healthPath }
            func authHeaders(apiKey: String) -> [HeaderField] { inner.authHeaders(apiKey: apiKey) }
            func encode(_ request: ChatRequest, for target: TargetContext) throws(APIError) -> EncodedRequest {
                try inner.encode(request, for: target)
            }
            func decodeResponse(
                _ body: [UInt8], request: ChatRequest, target: TargetContext, id: String, created: Int
            ) throws(ProviderError) -> DecodedResponse {
                try inner.decodeResponse(body, request: request, target: target, id: id, created: created)
            }
            func decodeError(status: Int, headers: [HeaderField], body: [UInt8]) -> ProviderError {
                inner.decodeError(status: status, headers: headers, body: body)
            }
            func makeStreamDecoder(request: ChatRequest, target: TargetContext) -> any StreamDecoder {
                inner.makeStreamDecoder(request: request, target: target)
            }
        }
        let headers = [HeaderField("x-goog-api-key", "k"), HeaderField("content-type", "old"), HeaderField("X-A", "1")]
        for model in ["gemini-2.0-flash", "models/gemini-2.5-pro", "tunedModels/t-1", "gemini exp+1?x=ü"] {
            var target = RouteTarget(
                provider: "g", model: model, codec: GeminiCodec(), baseURL: "http://g/", headers: headers)
            let uncached = RouteTarget(
                provider: "g", model: model, codec: Uncached(), baseURL: "http://g/", headers: headers)
            #expect(uncached.usual == nil)
            for stream in [false, true] {
                var request = try ChatRequest.parse(
                    body: Array(#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#.utf8))
                request.stream = stream
                func sent(_ target: RouteTarget) throws -> UpstreamRequest {
                    target.upstreamRequest(
                        try target.codec.encode(request, for: target.context), left: .seconds(4), streaming: stream,
                        streamLeft: nil)
                }
                let usual = try #require(stream ? target.usual?.stream : target.usual?.plain)
                let built = try sent(uncached)
                #expect(usual.url == built.url)
                #expect(usual.mergedHeaders == built.headers)
                let cached = try sent(target)
                #expect(cached.url == built.url)
                #expect(cached.headers == built.headers)
                #expect(built.url.hasSuffix(stream ? ":streamGenerateContent?alt=sse" : ":generateContent"))
                #expect(built.headers.first == HeaderField("Content-Type", "application/json"))
                #expect(built.headers.count == 3)
            }
            target.context.upstreamModel = "other"
            let request = try ChatRequest.parse(
                body: Array(#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#.utf8))
            let moved = target.upstreamRequest(
                try target.codec.encode(request, for: target.context), left: .seconds(4), streaming: false,
                streamLeft: nil)
            #expect(moved.url == "http://g//v1beta/models/other:generateContent")
        }
    }
}
