/// Caps retries at a share of requests over a sliding window (Envoy's retry budget, Finagle's
/// `RetryBudget`), so a sustained outage does not multiply upstream load. Pure: callers pass `now`.
///
/// Allowed retries in the window = `max(floor, percent/100 · requests)`.
public struct RetryBudget: Sendable, Equatable {
    private var requests: [ContinuousClock.Instant] = []
    private var retries: [ContinuousClock.Instant] = []

    public init() {}

    public mutating func recordRequest(now: ContinuousClock.Instant, window: Duration) {
        prune(now: now, window: window)
        requests.append(now)
    }

    /// Takes one retry from the budget; false when it is spent.
    public mutating func tryRetry(now: ContinuousClock.Instant, policy: RoutingPolicy) -> Bool {
        prune(now: now, window: policy.budgetWindow)
        let allowed = max(Double(policy.budgetFloor), policy.budgetPercent / 100 * Double(requests.count))
        guard Double(retries.count) + 1 <= allowed else { return false }
        retries.append(now)
        return true
    }

    private mutating func prune(now: ContinuousClock.Instant, window: Duration) {
        let cutoff = now - window
        if let i = requests.firstIndex(where: { $0 > cutoff }) { requests.removeFirst(i) } else { requests.removeAll() }
        if let i = retries.firstIndex(where: { $0 > cutoff }) { retries.removeFirst(i) } else { retries.removeAll() }
    }
}
