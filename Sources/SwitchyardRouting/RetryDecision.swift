import SwitchyardCore
import SwitchyardProviders

/// The facts of one failed upstream attempt, as the driver hands them to `RouterState.afterFailure`.
struct FailedAttempt: Sendable, Equatable {
    /// The target key, `provider/model`.
    var target: String
    var fault: AttemptFault
    /// The upstream's Retry-After hint in seconds (headers or body), if any.
    var retryAfter: Double?
    /// 1 for the first call to this target within the request.
    var attempt: Int
    /// The call was its target's half-open breaker probe.
    var probe: Bool
    /// The caller's task was cancelled (the client left) while the call ran.
    var callerGone: Bool = false
}

/// What the router does after a failed attempt: decided from facts by `RouterState.afterFailure`
/// (a pure step, like `CircuitBreaker`'s), performed by the driver, which is the only code that
/// sleeps, logs and notifies.
public enum RetryDecision: Sendable, Equatable {
    /// Wait `after` (one retry was taken from the budget), then call the same target again.
    case retry(after: Duration)
    /// The target asked for a longer wait (`seconds`) than the router waits out
    /// (`waitRetryAfterCap`): it takes no traffic until then; go on to the next target. A cooldown
    /// is not a breaker failure.
    case coolDown(seconds: Double)
    /// Go on to the next target at once.
    case nextTarget(NextTargetReason)
    /// Answer the client with this failure now: the request itself is at fault (a 400, 413 or
    /// 422, a content policy refusal), so another call would fail the same way.
    case fail
    /// The client went away: stop all work.
    case stop
}

/// Why the router leaves a target after a failure instead of retrying it.
public enum NextTargetReason: String, Sendable, Equatable, CaseIterable {
    /// The failure is this target's and retrying it is pointless (401, 404, a timeout, quota).
    case notRetryable = "not_retryable"
    /// This failure opened the target's breaker (or failed its probe).
    case breakerOpened = "breaker_opened"
    /// `attemptsPerTarget` calls were made.
    case attemptsSpent = "attempts_spent"
    /// The wait before a retry would end past the request deadline.
    case pastDeadline = "past_deadline"
    /// The retry budget is spent (see `RetryBudget`).
    case budgetSpent = "budget_spent"
}

extension RouterState {
    /// Decides what follows a failed attempt and records its effect on the target: a cooldown,
    /// a breaker failure (or a released probe), a retry taken from the budget. Pure: time, the
    /// time left and the jitter come in as arguments (`jitter` is asked only for a backoff).
    ///
    /// In order: a cancelled call stops; a retryable failure whose Retry-After exceeds the cap
    /// cools the target down; a failure that is the target's counts against its breaker; a
    /// final failure fails; a not-retryable one moves on; a retryable one retries unless the
    /// breaker opened, the attempts are spent, the wait (Retry-After, else `Backoff`) would pass
    /// the deadline, or the budget is spent.
    ///
    /// - Parameters:
    ///   - policy: the request's policy (taken when it started).
    ///   - remaining: what is left of the request deadline now.
    /// - Returns: the decision and the breaker's state change, if any, for the driver to report.
    mutating func afterFailure(
        _ failure: FailedAttempt, policy: RoutingPolicy, remaining: Duration, now: ContinuousClock.Instant,
        jitter: () -> Double
    ) -> (RetryDecision, CircuitBreaker.Transition?) {
        let key = failure.target
        let disposition = classify(failure.fault)
        if disposition == .cancelled || failure.callerGone {
            if failure.probe { releaseProbe(key) }
            return (.stop, nil)
        }
        if disposition == .retry, let hint = failure.retryAfter, hint > policy.waitRetryAfterCap.inSeconds {
            coolDown(key, until: now + .seconds(hint))
            if failure.probe { releaseProbe(key) }
            return (.coolDown(seconds: hint), nil)
        }
        var transition: CircuitBreaker.Transition?
        var tripped = false
        if countsAgainstBreaker(failure.fault) {
            (transition, tripped) = recordFailure(key, now: now)
        } else if failure.probe {
            releaseProbe(key)
        }
        switch disposition {
        case .final: return (.fail, transition)
        case .nextTarget, .cancelled: return (.nextTarget(.notRetryable), transition)
        case .retry: break
        }
        if tripped { return (.nextTarget(.breakerOpened), transition) }
        if failure.attempt >= max(policy.attemptsPerTarget, 1) { return (.nextTarget(.attemptsSpent), transition) }
        let delay =
            failure.retryAfter.map { Duration.seconds($0) }
            ?? Backoff.delay(retry: failure.attempt, policy: policy, jitter: jitter())
        guard delay < remaining else { return (.nextTarget(.pastDeadline), transition) }
        guard budget.tryRetry(now: now, policy: policy) else { return (.nextTarget(.budgetSpent), transition) }
        return (.retry(after: delay), transition)
    }
}

/// What a routed request has been through so far, and the error the client gets when no target
/// is left: the last failure's; else the deadline's, when it ran out before any call; else the
/// reason no target could take the request (it cannot be encoded for any of them); else every
/// target was behind an open breaker or a cooldown (503 with a Retry-After until the earliest
/// reopens, at least 1 s).
struct DriveRecord {
    var attempts: [AttemptRecord] = []
    var last: AttemptFailure?
    var encodeError: APIError?
    /// When each skipped target takes traffic again (nil: its probe is in flight).
    var unavailableUntil: [ContinuousClock.Instant?] = []
    var deadlineHit = false

    /// The error once every target is spent, and the Retry-After of the all-unavailable case.
    func exhausted(now: ContinuousClock.Instant) -> (error: APIError, unavailableFor: Int?) {
        if let last { return (Self.clientError(last, calls: attempts.count), nil) }
        if deadlineHit { return (RouterErrors.deadlineExceeded, nil) }
        if let encodeError { return (encodeError, nil) }
        if !unavailableUntil.isEmpty {
            let earliest = unavailableUntil.compactMap { $0 }.min()
            let wait = earliest.map { ($0 - now).inSeconds } ?? 1
            let seconds = max(1, Int(wait.rounded(.up)))
            return (RouterErrors.allUnavailable(retryAfterSeconds: seconds), seconds)
        }
        return (APIError.internalError("No upstream target is configured for this model."), nil)
    }

    /// The error the client gets for a failure: `x-should-retry: false` once Switchyard made more
    /// than one call, and a Retry-After (≥ 1 s) on every 429/503.
    static func clientError(_ failure: AttemptFailure, calls: Int) -> APIError {
        var e = failure.fault.apiError
        if calls > 1 { e.shouldRetry = false }
        if e.status == 429 || e.status == 503, e.retryAfterSeconds == nil {
            e.retryAfterSeconds = max(1, Int((failure.retryAfter ?? 1).rounded(.up)))
        }
        return e
    }
}

extension RouteTarget {
    /// One attempt's upstream request: `encoded` at this target, every timeout capped by `left`
    /// (what remains of the request deadline). A stream gets its first-event and idle limits, and
    /// its whole-stream limit (`streamLeft`) when the policy sets one; a plain call its total limit.
    func upstreamRequest(
        _ encoded: EncodedRequest, left: Duration, streaming: Bool, streamLeft: Duration?
    ) -> UpstreamRequest {
        var request: UpstreamRequest
        if let usual = streaming ? usual?.stream : usual?.plain, encoded.path == usual.usual.path,
            encoded.query == usual.usual.query, encoded.headers == usual.usual.headers
        {
            // The codec's usual request: the URL and header list made with the target.
            request = UpstreamRequest(
                url: usual.url, headers: usual.mergedHeaders, body: encoded.body,
                connectTimeout: min(timeouts.connect, left))
        } else {
            // Written into one string: the concatenations made two or three.
            var url = ""
            url.reserveCapacity(baseURL.utf8.count + encoded.path.utf8.count + encoded.query.utf8.count + 1)
            url += baseURL
            url += encoded.path
            if !encoded.query.isEmpty {
                url += "?"
                url += encoded.query
            }
            request = UpstreamRequest(
                url: url, headers: Self.merge(encoded.headers, over: headers), body: encoded.body,
                connectTimeout: min(timeouts.connect, left))
        }
        if streaming {
            request.firstByteTimeout = min(timeouts.firstEvent, left)
            request.idleTimeout = timeouts.idle
            request.timeout = streamLeft
        } else {
            request.timeout = min(timeouts.total, left)
        }
        return request
    }

    /// The request's own headers, then the target's (credentials, configured extras) except those
    /// the request sets itself: a header the codec wrote for this request (a native client's
    /// `anthropic-version`) replaces the provider's default of the same name instead of going out
    /// twice.
    /// One array is made (the set of lowercased names and the filtered copy were four
    /// allocations per attempt); both lists hold a few fields, so a scan beats hashing.
    static func merge(_ own: [HeaderField], over target: [HeaderField]) -> [HeaderField] {
        guard !own.isEmpty else { return target }
        var merged: [HeaderField] = []
        merged.reserveCapacity(own.count + target.count)
        merged.append(contentsOf: own)
        for field in target where !own.contains(where: { HeaderField.namesEqual($0.name, field.name) }) {
            merged.append(field)
        }
        return merged
    }
}
