/// A circuit breaker's state as reported to `/readyz`, metrics and observers.
public enum BreakerState: String, Sendable, Equatable {
    case closed
    case open
    /// Open time is over: one probe request may go through.
    case halfOpen = "half_open"
}

/// Per-target circuit breaker as a pure state machine (docs/architecture.md, "Decisions and effects"): the owner calls one mutating
/// function per event, passing `now`, and acts on what it returns.
///
/// closed --threshold consecutive failures--> open --openDuration--> half-open (one probe at a
/// time) --probe success--> closed; --probe failure--> open again.
public struct CircuitBreaker: Sendable, Equatable {
    enum Phase: Sendable, Equatable {
        case closed(failures: Int)
        case open(until: ContinuousClock.Instant)
        case halfOpen(probing: Bool)
    }

    /// Whether a request may use the target.
    public enum Admission: Sendable, Equatable {
        case allowed
        /// Allowed as the single half-open probe: report its outcome or `releaseProbe()`.
        case probe
        /// Rejected; `until` is when the target may take traffic again (nil: a probe is in flight).
        case rejected(until: ContinuousClock.Instant?)
    }

    /// A state change, for observers and logs.
    public struct Transition: Sendable, Equatable {
        public var from: BreakerState
        public var to: BreakerState
        public init(from: BreakerState, to: BreakerState) {
            self.from = from
            self.to = to
        }
    }

    var phase: Phase = .closed(failures: 0)

    public init() {}

    public func state(now: ContinuousClock.Instant) -> BreakerState {
        switch phase {
        case .closed: .closed
        case .open(let until): now >= until ? .halfOpen : .open
        case .halfOpen: .halfOpen
        }
    }

    public mutating func admit(now: ContinuousClock.Instant) -> (Admission, Transition?) {
        switch phase {
        case .closed: return (.allowed, nil)
        case .open(let until):
            guard now >= until else { return (.rejected(until: until), nil) }
            phase = .halfOpen(probing: true)
            return (.probe, Transition(from: .open, to: .halfOpen))
        case .halfOpen(let probing):
            if probing { return (.rejected(until: nil), nil) }
            phase = .halfOpen(probing: true)
            return (.probe, nil)
        }
    }

    public mutating func recordSuccess() -> Transition? {
        switch phase {
        case .closed:
            phase = .closed(failures: 0)
            return nil
        case .open:
            // A request admitted before the breaker opened succeeded: the target works again.
            phase = .closed(failures: 0)
            return Transition(from: .open, to: .closed)
        case .halfOpen:
            phase = .closed(failures: 0)
            return Transition(from: .halfOpen, to: .closed)
        }
    }

    public mutating func recordFailure(
        now: ContinuousClock.Instant, threshold: Int, openDuration: Duration
    ) -> Transition? {
        switch phase {
        case .closed(let failures):
            let n = failures + 1
            if n >= max(threshold, 1) {
                phase = .open(until: now + openDuration)
                return Transition(from: .closed, to: .open)
            }
            phase = .closed(failures: n)
            return nil
        case .open:
            return nil
        case .halfOpen:
            phase = .open(until: now + openDuration)
            return Transition(from: .halfOpen, to: .open)
        }
    }

    /// The probe ended without a verdict (client error, cancellation, cooldown): let the next
    /// request probe.
    public mutating func releaseProbe() {
        if case .halfOpen = phase { phase = .halfOpen(probing: false) }
    }

    /// Closed with no failure counted: a success changes nothing (see `BreakersCalm`).
    var isCalm: Bool {
        if case .closed(let failures) = phase { return failures == 0 }
        return false
    }

    /// True while the breaker is open or half-open (a failure there re-opens it).
    public var isTripped: Bool {
        if case .closed = phase { return false }
        return true
    }
}
