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

/// The retry budget on a manual clock: instants are `t0` plus offsets, nothing waits.
@Suite struct RetryBudgetTests {
    let t0 = ContinuousClock.now

    func grants(_ b: inout RetryBudget, _ n: Int, at t: ContinuousClock.Instant, _ policy: RoutingPolicy) -> Int {
        var granted = 0
        for _ in 0..<n where b.tryRetry(now: t, policy: policy) { granted += 1 }
        return granted
    }

    @Test func theFloorIsTenRetriesPerSecondOverTheWindow() {
        var b = RetryBudget()
        let policy = RoutingPolicy()
        b.recordRequest(now: t0, window: policy.budgetWindow)
        #expect(grants(&b, 150, at: t0, policy) == 100)
    }

    @Test func percentOfRequestsOnceItExceedsTheFloor() {
        var b = RetryBudget()
        let policy = RoutingPolicy()
        for _ in 0..<1000 { b.recordRequest(now: t0, window: policy.budgetWindow) }
        #expect(grants(&b, 500, at: t0, policy) == 200)
    }

    @Test func windowSlides() {
        var b = RetryBudget()
        let policy = RoutingPolicy(budgetMinPerSecond: 0.1)
        b.recordRequest(now: t0, window: policy.budgetWindow)
        #expect(grants(&b, 1, at: t0, policy) == 1)
        #expect(grants(&b, 1, at: t0 + .seconds(9), policy) == 0)
        #expect(grants(&b, 1, at: t0 + .seconds(10), policy) == 1)
    }

    /// The sequence that showed the old floor too low: a 429 retried once, a 429 retried twice, then an isolated 500 a
    /// second later. The old floor (3 per window) refused the last retry.
    @Test func anIsolatedFaultAfterTwoIncidentsIsRetried() {
        var b = RetryBudget()
        let policy = RoutingPolicy()
        let w = policy.budgetWindow
        b.recordRequest(now: t0, window: w)
        #expect(grants(&b, 1, at: t0 + .milliseconds(10), policy) == 1)
        b.recordRequest(now: t0 + .seconds(1), window: w)
        #expect(grants(&b, 2, at: t0 + .seconds(1), policy) == 2)
        b.recordRequest(now: t0 + .seconds(2), window: w)
        #expect(grants(&b, 1, at: t0 + .seconds(2), policy) == 1)
    }

    /// A quiet sidecar (one request every 2 s for an hour) whose upstream fails sporadically,
    /// sometimes several requests in a row, each failure wanting up to 3 retries: every retry is
    /// granted.
    @Test func aQuietSidecarRetriesEverySporadicFault() {
        var b = RetryBudget()
        let policy = RoutingPolicy()
        var wanted = 0
        var granted = 0
        for i in 0..<1800 {
            let t = t0 + .seconds(2 * i)
            b.recordRequest(now: t, window: policy.budgetWindow)
            // Incidents: runs of 5 failing requests every 100 requests, plus every 7th request.
            let failing = i % 100 < 5 || i % 7 == 0
            guard failing else { continue }
            let retries = 1 + i % 3
            wanted += retries
            granted += grants(&b, retries, at: t + .milliseconds(500), policy)
        }
        #expect(wanted > 600)
        #expect(granted == wanted)
    }

    /// A sustained outage: every request fails and asks for 2 retries at once, for 30 s. In no
    /// 10 s window do granted retries exceed the budget: 20 % of the requests in the window, or
    /// the floor (100) while that is larger (under 50 requests/s). At 100 requests/s and above
    /// that is exactly 20 % of the requests.
    @Test(arguments: [20, 100, 250, 1000])
    func aSustainedOutageStaysWithinTheBudget(requestsPerSecond rate: Int) {
        var b = RetryBudget()
        let policy = RoutingPolicy()
        let step = Duration.seconds(1) / rate
        var retryTimes: [Duration] = []
        let seconds = 30
        for i in 0..<(rate * seconds) {
            let offset = step * i
            b.recordRequest(now: t0 + offset, window: policy.budgetWindow)
            for _ in 0..<2 where b.tryRetry(now: t0 + offset, policy: policy) { retryTimes.append(offset) }
        }
        let perWindow = max(100, rate * 10 / 5)
        var worst = 0
        for end in 1...seconds {
            let hi = Duration.seconds(end)
            let lo = hi - policy.budgetWindow
            worst = max(worst, retryTimes.filter { $0 > lo && $0 <= hi }.count)
        }
        #expect(worst <= perWindow, "at most \(perWindow) retries per window, saw \(worst)")
        let share = Double(retryTimes.count) / Double(rate * seconds)
        if rate >= 50 {
            #expect(share <= 0.2 + 0.001)
            #expect(share >= 0.19, "the budget should be used, not starved")
        } else {
            #expect(Double(retryTimes.count) <= Double(100 * (seconds / 10)) + 1)
        }
    }
}
