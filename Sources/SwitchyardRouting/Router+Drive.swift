import Logging
import SwitchyardCore
import SwitchyardProviders
import Synchronization

/// A failed attempt as the driver sees it.
struct AttemptFailure {
    var fault: AttemptFault
    /// Record label (`fault.outcome` unless the attempt knows better, e.g. `stream_truncated`).
    var outcome: String
    init(_ fault: AttemptFault, outcome: String? = nil) {
        self.fault = fault
        self.outcome = outcome ?? fault.outcome
    }
    /// Upstream Retry-After hint in seconds (headers or body).
    var retryAfter: Double? {
        if case .provider(let e) = fault { return e.retryAfterSeconds }
        return nil
    }
}

enum AttemptResult<Value> {
    case success(Value, status: Int)
    case failure(AttemptFailure)
}

/// The winner of a routed request.
struct Won<Value> {
    var value: Value
    var target: RouteTarget
    var attempts: [AttemptRecord]
    /// The winning attempt was its target's half-open probe and its verdict is still open
    /// (streams settle at their end).
    var probe: Bool
}

extension Router {
    /// Runs the plan: targets in order, attempts per target, waits, breakers, budget, deadline.
    /// `attempt` performs one upstream call; everything else happens here.
    func drive<Value>(
        request: ChatRequest, targets: [RouteTarget], requestID: String, streaming: Bool,
        attempt: (RouteTarget, UpstreamRequest) async -> AttemptResult<Value>
    ) async -> Result<Won<Value>, RouteFailure> {
        let log = RequestLogger(base: logger, requestID: requestID)
        let start = now()
        let policy = state.withLock {
            $0.budget.recordRequest(now: start, window: $0.policy.budgetWindow)
            return $0.policy
        }
        let deadline = streaming ? (policy.streamDeadline ?? policy.deadline) : policy.deadline
        let wholeStreamDeadline = streaming ? policy.streamDeadline : nil
        let attemptsPerTarget = max(policy.attemptsPerTarget, 1)
        let plan = TargetPlan.order(targets, random: random)

        var records: [AttemptRecord] = []
        var last: AttemptFailure?
        var encodeError: APIError?
        var unavailableUntil: [ContinuousClock.Instant?] = []
        var previous: String?
        var deadlineHit = false

        func fail(_ error: APIError) -> Result<Won<Value>, RouteFailure> {
            .failure(RouteFailure(error: error, attempts: records))
        }
        func remaining() -> Duration { deadline - (now() - start) }

        targets: for target in plan {
            if Task.isCancelled { return fail(RouterErrors.cancelled) }
            guard remaining() > .zero else {
                deadlineHit = true
                break
            }
            let key = target.key
            let encoded: EncodedRequest
            do {
                encoded = try target.codec.encode(request, for: target.context)
            } catch {
                log.debug(
                    "target cannot encode request", metadata: ["target": "\(key)", "code": "\(error.code ?? "")"])
                encodeError = encodeError ?? error
                continue
            }
            let admitAt = now()
            let (admission, transition) = state.withLock { $0.admit(key, now: admitAt) }
            if let transition { breakerChanged(key, transition, log.logger) }
            let probe: Bool
            switch admission {
            case .skipped(let reason, let until):
                unavailableUntil.append(until)
                log.debug("target skipped", metadata: ["target": "\(key)", "reason": "\(reason)"])
                observer?.targetSkipped(requestID: requestID, target: key, reason: reason)
                continue targets
            case .allowed(let p):
                probe = p
            }
            if let from = previous, from != key {
                observer?.fallback(requestID: requestID, from: from, to: key, reason: last?.outcome ?? "unavailable")
                log.debug("falling back", metadata: ["from": "\(from)", "to": "\(key)"])
            }
            previous = key

            var n = 1
            while true {
                let left = remaining()
                var req = UpstreamRequest(
                    url: target.baseURL + encoded.path + (encoded.query.isEmpty ? "" : "?" + encoded.query),
                    headers: Self.merge(encoded.headers, over: target.headers), body: encoded.body,
                    connectTimeout: min(target.timeouts.connect, left))
                if streaming {
                    req.firstByteTimeout = min(target.timeouts.firstEvent, left)
                    req.idleTimeout = target.timeouts.idle
                    req.timeout = wholeStreamDeadline.map { $0 - (now() - start) }
                } else {
                    req.timeout = min(target.timeouts.total, left)
                }
                observer?.attemptStarted(requestID: requestID, target: key, attempt: n)
                log.debug(
                    "upstream attempt",
                    metadata: ["target": "\(key)", "attempt": "\(n)", "provider": "\(target.provider)"])
                let t0 = now()
                // Each call decodes with a seed of its own, so ids a codec synthesises (Gemini
                // tool calls without a native id) never repeat across requests or turns.
                var called = target
                called.context.idSeed = nextIDSeed()
                let result = await attempt(called, req)
                let took = now() - t0

                let failure: AttemptFailure
                switch result {
                case .success(let value, let status):
                    let record = AttemptRecord(
                        target: key, provider: target.provider, model: target.model, attempt: n, outcome: "ok",
                        status: status, duration: took)
                    records.append(record)
                    finished(record, requestID, log)
                    // A stream's verdict comes at its end (RoutedStream settles it).
                    if !streaming, let t = state.withLock({ $0.recordSuccess(key) }) {
                        breakerChanged(key, t, log.logger)
                    }
                    return .success(Won(value: value, target: target, attempts: records, probe: probe))
                case .failure(let f):
                    failure = f
                }
                let record = AttemptRecord(
                    target: key, provider: target.provider, model: target.model, attempt: n, outcome: failure.outcome,
                    status: failure.fault.status, duration: took)
                records.append(record)
                finished(record, requestID, log)

                let disposition = classify(failure.fault)
                if disposition == .cancelled || Task.isCancelled {
                    if probe { state.withLock { $0.releaseProbe(key) } }
                    return fail(RouterErrors.cancelled)
                }
                last = failure

                // A Retry-After longer than we will wait: cool the target down, not a breaker failure.
                let cap = policy.waitRetryAfterCap.seconds
                if disposition == .retry, let hint = failure.retryAfter, hint > cap {
                    let until = now() + .seconds(hint)
                    state.withLock {
                        $0.coolDown(key, until: until)
                        if probe { $0.releaseProbe(key) }
                    }
                    log.debug("target cooling down", metadata: ["target": "\(key)", "seconds": "\(hint)"])
                    continue targets
                }

                var tripped = false
                if countsAgainstBreaker(failure.fault) {
                    let failedAt = now()
                    let r = state.withLock { $0.recordFailure(key, now: failedAt) }
                    if let t = r.transition { breakerChanged(key, t, log.logger) }
                    tripped = r.tripped
                } else if probe {
                    state.withLock { $0.releaseProbe(key) }
                }

                switch disposition {
                case .final:
                    return fail(clientError(failure, calls: records.count))
                case .nextTarget, .cancelled:
                    continue targets
                case .retry:
                    break
                }
                guard !tripped, n < attemptsPerTarget else { continue targets }

                let delay =
                    failure.retryAfter.map { Duration.seconds($0) }
                    ?? Backoff.delay(retry: n, policy: policy, jitter: random())
                guard delay < remaining() else {
                    log.debug("retry wait would pass the deadline", metadata: ["target": "\(key)"])
                    continue targets
                }
                let budgetAt = now()
                guard state.withLock({ $0.budget.tryRetry(now: budgetAt, policy: $0.policy) }) else {
                    log.debug("retry budget exhausted", metadata: ["target": "\(key)"])
                    observer?.budgetExhausted(requestID: requestID, target: key)
                    continue targets
                }
                observer?.retryScheduled(requestID: requestID, target: key, attempt: n + 1, delay: delay)
                log.debug("retry scheduled", metadata: ["target": "\(key)", "delay": "\(delay)"])
                do {
                    try await sleep(delay)
                } catch {
                    return fail(RouterErrors.cancelled)
                }
                if Task.isCancelled { return fail(RouterErrors.cancelled) }
                n += 1
            }
        }

        if let last { return fail(clientError(last, calls: records.count)) }
        if deadlineHit { return fail(RouterErrors.deadlineExceeded) }
        if let encodeError { return fail(encodeError) }
        if !unavailableUntil.isEmpty {
            let at = now()
            let earliest = unavailableUntil.compactMap { $0 }.min()
            let wait = earliest.map { ($0 - at).seconds } ?? 1
            let seconds = max(1, Int(wait.rounded(.up)))
            log.warning("all targets unavailable", metadata: ["retry_after": "\(seconds)"])
            observer?.allTargetsUnavailable(requestID: requestID, retryAfterSeconds: seconds)
            return fail(RouterErrors.allUnavailable(retryAfterSeconds: seconds))
        }
        return fail(APIError.internalError("No upstream target is configured for this model."))
    }

    /// The request's own headers, then the target's (credentials, configured extras) except those
    /// the request sets itself: a header the codec wrote for this request (a native client's
    /// `anthropic-version`) replaces the provider's default of the same name instead of going out
    /// twice.
    static func merge(_ own: [HeaderField], over target: [HeaderField]) -> [HeaderField] {
        guard !own.isEmpty else { return target }
        let names = Set(own.map { $0.name.lowercased() })
        return own + target.filter { !names.contains($0.name.lowercased()) }
    }

    /// The error the client gets for the last failure: `x-should-retry: false` once Switchyard
    /// made more than one call, and a Retry-After (≥ 1 s) on every 429/503.
    func clientError(_ failure: AttemptFailure, calls: Int) -> APIError {
        var e = failure.fault.apiError
        if calls > 1 { e.shouldRetry = false }
        if e.status == 429 || e.status == 503, e.retryAfterSeconds == nil {
            e.retryAfterSeconds = max(1, Int((failure.retryAfter ?? 1).rounded(.up)))
        }
        return e
    }

    func finished(_ record: AttemptRecord, _ requestID: String, _ log: RequestLogger) {
        observer?.attemptFinished(requestID: requestID, record: record)
        log.debug(
            "upstream attempt finished",
            metadata: [
                "target": "\(record.target)", "attempt": "\(record.attempt)", "outcome": "\(record.outcome)",
                "duration": "\(record.duration)",
            ])
    }

    func breakerChanged(_ key: String, _ t: CircuitBreaker.Transition, _ log: Logger) {
        observer?.breakerChanged(target: key, from: t.from, to: t.to)
        let metadata: Logger.Metadata = ["target": "\(key)", "from": "\(t.from.rawValue)", "to": "\(t.to.rawValue)"]
        if t.to == .open {
            log.warning("circuit breaker opened", metadata: metadata)
        } else {
            log.info("circuit breaker state changed", metadata: metadata)
        }
    }
}
