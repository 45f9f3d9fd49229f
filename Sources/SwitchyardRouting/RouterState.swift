/// The router's shared mutable state, kept in one `Mutex` (docs/architecture.md, "Decisions and effects"): every method is a short
/// pure step that returns what happened; the driver logs and notifies after the lock.
struct RouterState: Sendable {
    var policy: RoutingPolicy
    var breakers: [String: CircuitBreaker] = [:]
    /// Retry-After cooldowns: the target takes no traffic before this instant.
    var cooldowns: [String: ContinuousClock.Instant] = [:]
    var budget = RetryBudget()
    /// Targets that rejected a prefilled continuation: not asked to continue before this instant.
    var noContinuation: [String: ContinuousClock.Instant] = [:]

    init(policy: RoutingPolicy) { self.policy = policy }

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
        breakers[key, default: CircuitBreaker()].recordSuccess()
    }

    /// Counts a target failure; `tripped` is true when the breaker is now open (stop using it).
    mutating func recordFailure(
        _ key: String, now: ContinuousClock.Instant
    ) -> (
        transition: CircuitBreaker.Transition?, tripped: Bool
    ) {
        let t = breakers[key, default: CircuitBreaker()].recordFailure(
            now: now, threshold: policy.breakerFailureThreshold, openDuration: policy.breakerOpenDuration)
        return (t, breakers[key]?.isTripped ?? false)
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
