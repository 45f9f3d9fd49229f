import SwitchyardRouting
import Testing

@Suite struct CircuitBreakerTests {
    let t0 = ContinuousClock.now
    typealias T = CircuitBreaker.Transition

    @Test func opensAfterThresholdConsecutiveFailures() {
        var b = CircuitBreaker()
        for i in 1...4 {
            let t = b.recordFailure(now: t0, threshold: 5, openDuration: .seconds(15))
            #expect(t == nil, "failure \(i)")
        }
        let t = b.recordFailure(now: t0, threshold: 5, openDuration: .seconds(15))
        #expect(t == T(from: .closed, to: .open))
        #expect(b.state(now: t0) == .open)
        let a = b.admit(now: t0 + .seconds(14)).0
        #expect(a == .rejected(until: t0 + .seconds(15)))
    }

    @Test func successResetsTheCount() {
        var b = CircuitBreaker()
        for _ in 1...4 { _ = b.recordFailure(now: t0, threshold: 5, openDuration: .seconds(15)) }
        _ = b.recordSuccess()
        for _ in 1...4 { _ = b.recordFailure(now: t0, threshold: 5, openDuration: .seconds(15)) }
        #expect(b.state(now: t0) == .closed)
    }

    @Test func halfOpenAllowsExactlyOneProbe() {
        var b = CircuitBreaker()
        _ = b.recordFailure(now: t0, threshold: 1, openDuration: .seconds(15))
        let later = t0 + .seconds(15)
        #expect(b.state(now: later) == .halfOpen)
        let (first, transition) = b.admit(now: later)
        #expect(first == .probe)
        #expect(transition == T(from: .open, to: .halfOpen))
        let second = b.admit(now: later).0
        #expect(second == .rejected(until: nil))
        let closed = b.recordSuccess()
        #expect(closed == T(from: .halfOpen, to: .closed))
        let after = b.admit(now: later).0
        #expect(after == .allowed)
    }

    @Test func probeFailureReopens() {
        var b = CircuitBreaker()
        _ = b.recordFailure(now: t0, threshold: 1, openDuration: .seconds(15))
        let later = t0 + .seconds(20)
        let probe = b.admit(now: later).0
        #expect(probe == .probe)
        let t = b.recordFailure(now: later, threshold: 5, openDuration: .seconds(15))
        #expect(t == T(from: .halfOpen, to: .open))
        let a = b.admit(now: later + .seconds(14)).0
        #expect(a == .rejected(until: later + .seconds(15)))
    }

    @Test func releasedProbeLetsTheNextRequestProbe() {
        var b = CircuitBreaker()
        _ = b.recordFailure(now: t0, threshold: 1, openDuration: .seconds(1))
        let first = b.admit(now: t0 + .seconds(1)).0
        #expect(first == .probe)
        b.releaseProbe()
        let second = b.admit(now: t0 + .seconds(1)).0
        #expect(second == .probe)
    }
}

@Suite struct RetryBudgetTests {
    let t0 = ContinuousClock.now

    func grants(_ b: inout RetryBudget, _ n: Int, at t: ContinuousClock.Instant, _ policy: RoutingPolicy) -> Int {
        var granted = 0
        for _ in 0..<n where b.tryRetry(now: t, policy: policy) { granted += 1 }
        return granted
    }

    @Test func floorAllowsRetriesAtLowTraffic() {
        var b = RetryBudget()
        let policy = RoutingPolicy()
        b.recordRequest(now: t0, window: policy.budgetWindow)
        #expect(grants(&b, 10, at: t0, policy) == 3)
    }

    @Test func percentOfRequestsAboveTheFloor() {
        var b = RetryBudget()
        let policy = RoutingPolicy()
        for _ in 0..<50 { b.recordRequest(now: t0, window: policy.budgetWindow) }
        #expect(grants(&b, 100, at: t0, policy) == 10)
    }

    @Test func windowSlides() {
        var b = RetryBudget()
        let policy = RoutingPolicy(budgetFloor: 1)
        b.recordRequest(now: t0, window: policy.budgetWindow)
        #expect(grants(&b, 1, at: t0, policy) == 1)
        #expect(grants(&b, 1, at: t0 + .seconds(9), policy) == 0)
        #expect(grants(&b, 1, at: t0 + .seconds(10), policy) == 1)
    }
}
