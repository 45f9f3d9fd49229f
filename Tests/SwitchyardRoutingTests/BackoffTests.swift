import SwitchyardCore
import SwitchyardRouting
import Testing

@Suite struct BackoffTests {
    @Test(arguments: [
        (1, 0.0, 1.0), (1, 0.999, 0.75025), (2, 0.0, 2.0), (3, 0.0, 4.0), (4, 0.0, 8.0), (9, 0.0, 8.0), (4, 0.5, 7.0),
    ])
    func exponentialWithJitter(retry: Int, jitter: Double, expected: Double) {
        let d = Backoff.delay(retry: retry, policy: RoutingPolicy(), jitter: jitter)
        #expect(abs(seconds(d) - expected) < 1e-9)
    }

    @Test func customPolicy() {
        let policy = RoutingPolicy(initialBackoff: .milliseconds(100), maxBackoff: .milliseconds(250), multiplier: 3)
        #expect(abs(seconds(Backoff.delay(retry: 2, policy: policy, jitter: 0)) - 0.25) < 1e-9)
        #expect(abs(seconds(Backoff.delay(retry: 1, policy: policy, jitter: 0)) - 0.1) < 1e-9)
    }

    @Test func retryAfterMillisecondsWins() {
        let h = [HeaderField("Retry-After-Ms", "1500"), HeaderField("retry-after", "9")]
        #expect(RetryAfter.seconds(headers: h, bodyHint: 30, now: 0) == 1.5)
    }

    @Test func retryAfterDecimalSeconds() {
        #expect(RetryAfter.seconds(headers: [HeaderField("retry-after", "2.5")], bodyHint: nil, now: 0) == 2.5)
        #expect(RetryAfter.seconds(headers: [HeaderField("Retry-After", " 7 ")], bodyHint: nil, now: 0) == 7)
    }

    @Test func retryAfterHTTPDate() {
        let now = RetryAfter.httpDate("Sun, 06 Nov 1994 08:49:37 GMT")!
        #expect(now == 784_111_777)
        let h = [HeaderField("retry-after", "Sun, 06 Nov 1994 08:50:07 GMT")]
        #expect(RetryAfter.seconds(headers: h, bodyHint: nil, now: now) == 30)
        // A date in the past means "now".
        #expect(RetryAfter.seconds(headers: h, bodyHint: nil, now: now + 100) == 0)
        #expect(RetryAfter.httpDate("2024-01-01T00:00:00Z") == nil)
        #expect(RetryAfter.httpDate("Wed, 01 Jan 2025 00:00:00 GMT") == 1_735_689_600)
    }

    /// IMF-fixdate years have four digits; a longer one used to overflow (and trap) computing seconds.
    @Test func retryAfterHTTPDateYearIsFourDigits() {
        #expect(RetryAfter.httpDate("Wed, 21 Oct 2026000000000 07:28:00 GMT") == nil)
        #expect(RetryAfter.httpDate("Wed, 21 Oct 99999999999999999 07:28:00 GMT") == nil)
        #expect(RetryAfter.httpDate("Wed, 21 Oct 026 07:28:00 GMT") == nil)
        #expect(RetryAfter.httpDate("Fri, 31 Dec 9999 23:59:59 GMT") == 253_402_300_799)
        let h = [HeaderField("retry-after", "Wed, 21 Oct 2026000000000 07:28:00 GMT")]
        #expect(RetryAfter.seconds(headers: h, bodyHint: 4, now: 0) == 4)
    }

    @Test func bodyHintLast() {
        #expect(RetryAfter.seconds(headers: [], bodyHint: 37, now: 0) == 37)
        #expect(RetryAfter.seconds(headers: [HeaderField("retry-after", "soon")], bodyHint: 1.5, now: 0) == 1.5)
        #expect(RetryAfter.seconds(headers: [], bodyHint: nil, now: 0) == nil)
        #expect(RetryAfter.seconds(headers: [HeaderField("retry-after-ms", "-5")], bodyHint: nil, now: 0) == nil)
    }
}

@Suite struct TargetPlanTests {
    struct T: Equatable, CustomStringConvertible {
        var name: String
        var priority: Int
        var weight: Int
        var description: String { name }
    }

    func order(_ items: [T], _ randoms: [Double]) -> [String] {
        var it = randoms.makeIterator()
        return TargetPlan.order(items, priority: \.priority, weight: \.weight, random: { it.next() ?? 0 }).map(\.name)
    }

    @Test func ascendingPriority() {
        let items = [
            T(name: "c", priority: 3, weight: 1), T(name: "a", priority: 1, weight: 1),
            T(name: "b", priority: 2, weight: 1),
        ]
        #expect(order(items, []) == ["a", "b", "c"])
    }

    @Test func weightedPoolUsesRandom() {
        // Pool a(3) b(1) at priority 0: r·4 < 3 picks a, else b. Then the fallback c.
        let items = [
            T(name: "a", priority: 0, weight: 3), T(name: "b", priority: 0, weight: 1),
            T(name: "c", priority: 1, weight: 1),
        ]
        #expect(order(items, [0.0]) == ["a", "b", "c"])
        #expect(order(items, [0.74]) == ["a", "b", "c"])
        #expect(order(items, [0.75]) == ["b", "a", "c"])
        #expect(order(items, [0.99]) == ["b", "a", "c"])
    }

    @Test func weightedPoolWithoutReplacement() {
        let items = [
            T(name: "a", priority: 0, weight: 1), T(name: "b", priority: 0, weight: 1),
            T(name: "c", priority: 0, weight: 2),
        ]
        // First pick r=0.6 → 2.4 of 4 → c; then a/b with r=0.6 → 1.2 of 2 → b.
        #expect(order(items, [0.6, 0.6]) == ["c", "b", "a"])
    }

    @Test func zeroWeightGoesLast() {
        let items = [T(name: "z", priority: 0, weight: 0), T(name: "a", priority: 0, weight: 1)]
        #expect(order(items, [0.0]) == ["a", "z"])
        #expect(order(items, [0.99]) == ["a", "z"])
    }

    @Test func weightedShareOverManyDraws() {
        let items = [T(name: "a", priority: 0, weight: 3), T(name: "b", priority: 0, weight: 1)]
        var firstA = 0
        for i in 0..<100 where order(items, [Double(i) / 100]).first == "a" { firstA += 1 }
        #expect(firstA == 75)
    }
}
