import Synchronization

/// Whether every breaker the router has is closed with no failure counted, readable without the
/// router's lock. `RouterState` keeps it as it changes its breakers (under the lock); a reader
/// that sees `true` may skip a `recordSuccess` of a target it admitted, which would change nothing.
final class BreakersCalm: Sendable {
    let value = Atomic(true)
}

/// The router's shared mutable state, kept in one `Mutex` (docs/architecture.md, "Decisions and effects"): every method is a short
/// pure step that returns what happened; the driver logs and notifies after the lock.
struct RouterState: Sendable {
    var policy: RoutingPolicy
    /// Changed only by the methods below, which keep `unsettled` and `calm`.
    private(set) var breakers: [String: CircuitBreaker] = [:]
    /// How many breakers are not `.closed(failures: 0)`; `calm` says whether it is 0.
    private var unsettled = 0
    let calm: BreakersCalm
    /// Retry-After cooldowns: the target takes no traffic before this instant.
    var cooldowns: [String: ContinuousClock.Instant] = [:]
    var budget = RetryBudget()
    /// Targets that rejected a prefilled continuation: not asked to continue before this instant.
    var noContinuation: [String: ContinuousClock.Instant] = [:]

    init(policy: RoutingPolicy, calm: BreakersCalm = BreakersCalm()) {
        self.policy = policy
        self.calm = calm
    }

    /// Keeps `unsettled` and `calm` after a breaker went from calm (`+1`) or to calm (`-1`).
    /// Only a success (to calm) and a failure (from calm) change that: an admission and a
    /// released probe move between open and half-open, or keep a closed breaker as it is.
    private mutating func settled(_ change: Int) {
        unsettled += change
        calm.value.store(unsettled == 0, ordering: .releasing)
    }

    enum Admission: Equatable {
        case allowed(probe: Bool)
        /// `until`: when the target may take traffic again (nil: a probe is in flight).
        case skipped(reason: SkipReason, until: ContinuousClock.Instant?)
    }

    mutating func admit(_ key: String, now: ContinuousClock.Instant) -> (Admission, CircuitBreaker.Transition?) {
        if let until = cooldowns[key] {
            if now < until { return (.skipped(reason: .cooldown, until: until), nil) }
            cooldowns[key] = nil
        }
        let (admission, transition) = breakers[key, default: CircuitBreaker()].admit(now: now)
        switch admission {
        case .allowed: return (.allowed(probe: false), transition)
        case .probe: return (.allowed(probe: true), transition)
        case .rejected(let until):
            return (.skipped(reason: until == nil ? .probeInFlight : .breakerOpen, until: until), transition)
        }
    }

    mutating func recordSuccess(_ key: String) -> CircuitBreaker.Transition? {
        let (transition, wasCalm) = Self.recordSuccess(&breakers[key, default: CircuitBreaker()])
        if !wasCalm { settled(-1) }
        return transition
    }

    private static func recordSuccess(_ b: inout CircuitBreaker) -> (CircuitBreaker.Transition?, wasCalm: Bool) {
        let wasCalm = b.isCalm
        return (b.recordSuccess(), wasCalm)
    }

    /// Counts a target failure; `tripped` is true when the breaker is now open (stop using it).
    mutating func recordFailure(
        _ key: String, now: ContinuousClock.Instant
    ) -> (
        transition: CircuitBreaker.Transition?, tripped: Bool
    ) {
        let (t, wasCalm, isCalm, tripped) = Self.recordFailure(
            &breakers[key, default: CircuitBreaker()], now: now, threshold: policy.breakerFailureThreshold,
            openDuration: policy.breakerOpenDuration)
        if wasCalm && !isCalm { settled(1) }
        return (t, tripped)
    }

    private static func recordFailure(
        _ b: inout CircuitBreaker, now: ContinuousClock.Instant, threshold: Int, openDuration: Duration
    ) -> (CircuitBreaker.Transition?, wasCalm: Bool, isCalm: Bool, tripped: Bool) {
        let wasCalm = b.isCalm
        let t = b.recordFailure(now: now, threshold: threshold, openDuration: openDuration)
        return (t, wasCalm, b.isCalm, b.isTripped)
    }

    mutating func releaseProbe(_ key: String) {
        breakers[key]?.releaseProbe()
    }

    mutating func coolDown(_ key: String, until: ContinuousClock.Instant) {
        cooldowns[key] = max(cooldowns[key] ?? until, until)
    }

    /// Whether `key` may be asked to continue a stream now.
    mutating func mayContinue(_ key: String, now: ContinuousClock.Instant) -> Bool {
        guard let until = noContinuation[key] else { return true }
        if now < until { return false }
        noContinuation[key] = nil
        return true
    }

    mutating func refuseContinuation(_ key: String, now: ContinuousClock.Instant) {
        noContinuation[key] = now + policy.continuationBanDuration
    }

    func snapshot(now: ContinuousClock.Instant) -> [String: BreakerState] {
        breakers.mapValues { $0.state(now: now) }
    }
}
