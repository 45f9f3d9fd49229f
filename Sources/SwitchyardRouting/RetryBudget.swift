/// Caps retries at a share of requests over a sliding window (Envoy's retry budget, Finagle's
/// `RetryBudget`), so a sustained outage does not multiply upstream load. Pure: callers pass `now`.
///
/// Allowed retries in the window = `max(floor, percent/100 · requests)`.
public struct RetryBudget: Sendable, Equatable {
    private var requests = InstantQueue()
    private var retries = InstantQueue()

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
        requests.drop(upTo: cutoff)
        retries.drop(upTo: cutoff)
    }
}

/// Instants in arrival order with amortised O(1) removal from the front: at thousands of
/// requests per second the window holds tens of thousands of entries, and shifting the array on
/// every request was a measurable share of the hot path.
struct InstantQueue: Sendable, Equatable {
    private var items: [ContinuousClock.Instant] = []
    private var head = 0

    var count: Int { items.count - head }

    mutating func append(_ i: ContinuousClock.Instant) { items.append(i) }

    /// Drops every instant at or before `cutoff`.
    mutating func drop(upTo cutoff: ContinuousClock.Instant) {
        while head < items.count, items[head] <= cutoff { head += 1 }
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 1024, head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
    }

    static func == (a: InstantQueue, b: InstantQueue) -> Bool {
        a.items[a.head...].elementsEqual(b.items[b.head...])
    }
}
