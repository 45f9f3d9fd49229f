import SwitchyardCore
import SwitchyardProviders
import Synchronization
import Testing

@testable import SwitchyardRouting

/// The plain request's shortcuts through the router: a success skips its breaker's lock while
/// every breaker is calm, and the clock is read once per target rather than per step.
@Suite struct RouterHotPathTests {
    let e503 = Reply.http(503, [], errorBody())
    /// One call per target, and two consecutive failures open a breaker.
    let tight = RoutingPolicy(attemptsPerTarget: 1, breakerFailureThreshold: 2)

    /// A success between failures resets the count, so they never become consecutive: the
    /// success must reach the breaker although it skips the lock while all breakers are calm.
    @Test func aSuccessBetweenFailuresStillResetsTheCount() async throws {
        let h = Harness(policy: tight, ["a": [e503, ok, e503, ok, e503], "b": Array(repeating: ok, count: 3)])
        for i in 0..<5 {
            _ = try #require(await h.complete(id: "r\(i)").success)
            #expect(h.router.breakerSnapshot()["a/m"] == .closed, "request \(i)")
        }
        #expect(!h.observer.events.contains { $0.hasPrefix("breaker") })
        #expect(h.upstream.hosts.filter { $0 == "a" }.count == 5)
    }

    /// The same through a stream's settlement (its success is reported when it completes).
    @Test func aCompletedStreamBetweenFailuresStillResetsTheCount() async throws {
        let streamed = Reply.stream(200, [], [chunk("ok"), chunk(finish: "stop"), doneChunk])
        let h = Harness(
            policy: tight, ["a": [e503, streamed, e503, streamed, e503], "b": Array(repeating: streamed, count: 3)])
        for i in 0..<5 {
            let stream = try #require(await h.stream(id: "s\(i)").success)
            _ = await drain(stream)
            #expect(h.router.breakerSnapshot()["a/m"] == .closed, "stream \(i)")
        }
        #expect(!h.observer.events.contains { $0.hasPrefix("breaker") })
    }

    /// `calm` says exactly whether every breaker is closed with no failure counted, through any
    /// sequence of admissions, successes, failures and released probes on several targets.
    @Test func theCalmFlagFollowsTheBreakers() {
        var state = RouterState(policy: RoutingPolicy(breakerFailureThreshold: 3, breakerOpenDuration: .seconds(10)))
        var now = ContinuousClock.now
        var rng = SystemRandomNumberGenerator()
        let keys = ["a/m", "b/m", "c/m"]
        for step in 0..<20_000 {
            let key = keys.randomElement(using: &rng)!
            switch Int.random(in: 0..<5, using: &rng) {
            case 0: _ = state.admit(key, now: now)
            case 1: _ = state.recordSuccess(key)
            case 2: _ = state.recordFailure(key, now: now)
            case 3: state.releaseProbe(key)
            default: now += .seconds(Int.random(in: 1...6, using: &rng))
            }
            let calm = state.breakers.values.allSatisfy(\.isCalm)
            #expect(state.calm.value.load(ordering: .relaxed) == calm, "step \(step)")
            if state.calm.value.load(ordering: .relaxed) != calm { return }
        }
    }

    /// A plain request answered by its first target reads the monotonic clock twice: when it
    /// starts (its deadline check, admission and call start) and when the call returns.
    @Test func aPlainSuccessReadsTheClockTwice() async throws {
        let clock = ManualClock()
        let readings = Atomic(0)
        let router = Router(
            upstream: ScriptedUpstream(clock: clock, ["a": [ok, ok]]), policy: RoutingPolicy(),
            now: {
                readings.add(1, ordering: .relaxed)
                return clock.now
            })
        _ = try #require(await router.complete(chatRequest(), targets: [target("a")], requestID: "r1").success)
        #expect(readings.load(ordering: .relaxed) == 2)
    }

    /// A Gemini call's id seed is written into one string: what the nonce, a dot and the
    /// counter in base 36 concatenated were, for every digit count.
    @Test func theIDSeedSpellsTheNonceAndTheCounterInBase36() {
        var counters: [UInt64] = [0, 1, 9, 10, 35, 36, 37, 1295, 1296, UInt64.max, UInt64.max - 1, 1 << 63]
        var power: UInt64 = 1
        while power <= UInt64.max / 36 {
            power *= 36
            counters += [power - 1, power, power + 1]
        }
        for nonce in ["", "k3x9z", String(UInt64.max, radix: 36)] {
            for counter in counters {
                #expect(Router.idSeed(nonce: nonce, counter: counter) == nonce + "." + String(counter, radix: 36))
            }
        }
    }
}
