import Testing

@testable import SwitchyardThreads

/// The wake-up of the store watcher and the stream heartbeat: a ring ends the wait at once (or the next one, when nobody waits),
/// several rings count as one, a timeout or a cancellation ends it without one.
@Suite(.timeLimit(.minutes(1)))
struct DoorbellTests {
    @Test func aRingWithNobodyWaitingIsKeptForTheNextWaitAndRingsCountAsOne() async {
        let bell = Doorbell()
        bell.ring()
        bell.ring()
        #expect(await bell.wait(upTo: .seconds(3600)))
        // Both rings were one: the next wait runs to its timeout.
        #expect(await !bell.wait(upTo: .milliseconds(1)))
    }

    /// Whether the ring comes before the waiter waits (kept for it) or after (wakes it), the
    /// wait ends with it; a waiter that missed it would sleep for the hour.
    @Test func aRingWakesAWaiter() async {
        let bell = Doorbell()
        let waiter = Task { await bell.wait(upTo: .seconds(3600)) }
        bell.ring()
        #expect(await waiter.value)
    }

    @Test func cancellingTheWaiterEndsItsWait() async {
        let bell = Doorbell()
        let waiter = Task { await bell.wait(upTo: .seconds(3600)) }
        waiter.cancel()
        #expect(await !waiter.value)
    }
}
