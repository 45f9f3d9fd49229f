import Logging
import SwitchyardCore
import SwitchyardProviders
import Synchronization

/// A failed attempt as the driver sees it.
struct AttemptFailure {
    var fault: AttemptFault
    /// What the record says (`fault.outcome` unless the attempt knows better, e.g. `stream_truncated`).
    var outcome: AttemptOutcome
    init(_ fault: AttemptFault, outcome: AttemptOutcome? = nil) {
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
    /// `attempt` performs one upstream call; it is handed `request` rather than capturing it:
    /// a closure's capture copied the whole request (a retain and a release of each of its
    /// fields) on every routed call. The decisions are pure steps (`RouterState.admit`,
    /// `RouterState.afterFailure`, `DriveRecord.exhausted`); this executor performs them: it
    /// encodes, calls, sleeps, logs and notifies the observer.
    nonisolated(nonsending) func drive<Value>(
        request: ChatRequest, targets: [RouteTarget], requestID: String, streaming: Bool,
        attempt: nonisolated(nonsending) (ChatRequest, RouteTarget, UpstreamRequest) async -> AttemptResult<Value>
    ) async -> Result<Won<Value>, RouteFailure> {
        let log = RequestLogger(base: logger, requestID: requestID, level: logLevel)
        let start = now()
        let policy = state.withLock {
            $0.budget.recordRequest(now: start, window: $0.policy.budgetWindow)
            return $0.policy
        }
        let deadline = streaming ? (policy.streamDeadline ?? policy.deadline) : policy.deadline
        let limits = AttemptLimits(
            start: start, deadline: deadline, streamDeadline: streaming ? policy.streamDeadline : nil,
            streaming: streaming)
        var record = DriveRecord()
        var previous: String?
        // One reading of the clock per target serves its deadline check, its admission and its
        // first call's start; the first target's is `start`. Five readings per plain request
        // (with `took`) were 2% of its CPU in process (perf of `switchyard-bench gateway`); the
        // instants they replace were microseconds of CPU work apart (an encode, a lock).
        var at = start
        var first = true

        for target in TargetPlan.order(targets, random: random) {
            if Task.isCancelled {
                return .failure(RouteFailure(error: RouterErrors.cancelled, attempts: record.attempts))
            }
            if !first { at = now() }
            first = false
            guard limits.left(at) > .zero else {
                record.deadlineHit = true
                break
            }
            let key = target.key
            let encoded: EncodedRequest
            do {
                encoded = try target.codec.encode(request, for: target.context)
            } catch {
                log.debug(
                    "target cannot encode request", metadata: ["target": "\(key)", "code": "\(error.code ?? "")"])
                record.encodeError = record.encodeError ?? error
                continue
            }
            let (admission, transition) = state.withLock { [at] in $0.admit(key, now: at) }
            if let transition { breakerChanged(key, transition, log.logger) }
            guard case .allowed(let probe) = admission else {
                if case .skipped(let reason, let until) = admission {
                    record.unavailableUntil.append(until)
                    log.debug("target skipped", metadata: ["target": "\(key)", "reason": "\(reason.rawValue)"])
                    observer?.targetSkipped(requestID: requestID, target: key, reason: reason)
                }
                continue
            }
            if let from = previous, from != key {
                observer?.fallback(requestID: requestID, from: from, to: key, reason: record.last?.outcome)
                log.debug("falling back", metadata: ["from": "\(from)", "to": "\(key)"])
            }
            previous = key
            let ended = await attempts(
                request, on: target, encoded: encoded, probe: probe, policy: policy, limits: limits, admittedAt: at,
                record: &record, requestID: requestID, log: log, attempt: attempt)
            switch ended {
            case .won(let won): return .success(won)
            case .stop(let error): return .failure(RouteFailure(error: error, attempts: record.attempts))
            case .nextTarget: continue
            }
        }

        let (error, unavailableFor) = record.exhausted(now: now())
        if let seconds = unavailableFor {
            log.warning("all targets unavailable", metadata: ["retry_after": "\(seconds)"])
            observer?.allTargetsUnavailable(requestID: requestID, retryAfterSeconds: seconds)
        }
        return .failure(RouteFailure(error: error, attempts: record.attempts))
    }

    /// How the calls to one target ended.
    enum TargetEnding<Value> {
        case won(Won<Value>)
        /// Answer the client with this error (its own fault, or it left).
        case stop(APIError)
        case nextTarget
    }

    /// Calls one admitted target until it answers or `RouterState.afterFailure` says to stop
    /// retrying it; performs each decision (records, breaker reports, waits).
    private nonisolated(nonsending) func attempts<Value>(
        _ request: ChatRequest, on target: RouteTarget, encoded: EncodedRequest, probe: Bool, policy: RoutingPolicy,
        limits: AttemptLimits, admittedAt: ContinuousClock.Instant,
        record: inout DriveRecord, requestID: String, log: RequestLogger,
        attempt: nonisolated(nonsending) (ChatRequest, RouteTarget, UpstreamRequest) async -> AttemptResult<Value>
    ) async -> TargetEnding<Value> {
        let key = target.key
        var n = 1
        while true {
            let startedAt = n == 1 ? admittedAt : now()
            let req = target.upstreamRequest(
                encoded, left: limits.left(startedAt), streaming: limits.streaming,
                streamLeft: limits.streamLeft(startedAt))
            observer?.attemptStarted(requestID: requestID, target: key, attempt: n)
            log.debug(
                "upstream attempt", metadata: ["target": "\(key)", "attempt": "\(n)", "provider": "\(target.provider)"])
            // Each call decodes with a seed of its own, so ids a codec synthesises (Gemini tool calls
            // without a native id) never repeat across requests or turns. Made only for such a
            // codec: the seed's string and the target's copy cost every other call an allocation
            // and a retain and release of each of the target's fields.
            let result: AttemptResult<Value>
            if target.codec.synthesizesIDs {
                var called = target
                called.context.idSeed = nextIDSeed()
                result = await attempt(request, called, req)
            } else {
                result = await attempt(request, target, req)
            }
            let took = now() - startedAt

            let failure: AttemptFailure
            switch result {
            case .success(let value, let status):
                let won = AttemptRecord(
                    target: key, provider: target.provider, model: target.model, attempt: n, outcome: .ok,
                    status: status, duration: took)
                record.attempts.append(won)
                finished(won, requestID, log)
                // A stream's verdict comes at its end (RoutedStream settles it).
                if !limits.streaming, let t = recordSuccess(key) {
                    breakerChanged(key, t, log.logger)
                }
                return .won(Won(value: value, target: target, attempts: record.attempts, probe: probe))
            case .failure(let f):
                failure = f
            }
            let failed = AttemptRecord(
                target: key, provider: target.provider, model: target.model, attempt: n, outcome: failure.outcome,
                status: failure.fault.status, duration: took)
            record.attempts.append(failed)
            finished(failed, requestID, log)

            let facts = FailedAttempt(
                target: key, fault: failure.fault, retryAfter: failure.retryAfter, attempt: n, probe: probe,
                callerGone: Task.isCancelled)
            let decidedAt = now()
            let (decision, transition) = state.withLock {
                $0.afterFailure(
                    facts, policy: policy, remaining: limits.left(decidedAt), now: decidedAt, jitter: random)
            }
            if let transition { breakerChanged(key, transition, log.logger) }
            if decision != .stop { record.last = failure }
            switch decision {
            case .stop:
                return .stop(RouterErrors.cancelled)
            case .fail:
                return .stop(DriveRecord.clientError(failure, calls: record.attempts.count))
            case .coolDown(let seconds):
                log.debug("target cooling down", metadata: ["target": "\(key)", "seconds": "\(seconds)"])
                return .nextTarget
            case .nextTarget(.pastDeadline):
                log.debug("retry wait would pass the deadline", metadata: ["target": "\(key)"])
                return .nextTarget
            case .nextTarget(.budgetSpent):
                log.debug("retry budget exhausted", metadata: ["target": "\(key)"])
                observer?.budgetExhausted(requestID: requestID, target: key)
                return .nextTarget
            case .nextTarget:
                return .nextTarget
            case .retry(let delay):
                observer?.retryScheduled(requestID: requestID, target: key, attempt: n + 1, delay: delay)
                log.debug("retry scheduled", metadata: ["target": "\(key)", "delay": "\(delay)"])
                do {
                    try await sleep(delay)
                } catch {
                    return .stop(RouterErrors.cancelled)
                }
                if Task.isCancelled { return .stop(RouterErrors.cancelled) }
                n += 1
            }
        }
    }

    func finished(_ record: AttemptRecord, _ requestID: String, _ log: RequestLogger) {
        observer?.attemptFinished(requestID: requestID, record: record)
        log.debug(
            "upstream attempt finished",
            metadata: [
                "target": "\(record.target)", "attempt": "\(record.attempt)", "outcome": "\(record.outcome.rawValue)",
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

/// The request's time limits: what is left of its deadline at a given instant, and of a whole
/// stream's limit when the policy sets one.
struct AttemptLimits {
    let start: ContinuousClock.Instant
    let deadline: Duration
    let streamDeadline: Duration?
    let streaming: Bool

    func left(_ now: ContinuousClock.Instant) -> Duration { deadline - (now - start) }
    func streamLeft(_ now: ContinuousClock.Instant) -> Duration? { streamDeadline.map { $0 - (now - start) } }
}
