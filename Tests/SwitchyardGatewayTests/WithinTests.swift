import Synchronization
import Testing

/// A body's wait that only `letGo()` ends (whether it began before or after).
private final class Parked: Sendable {
    private let state = Mutex<(waiter: CheckedContinuation<Void, Never>?, goneBefore: Bool)>((nil, false))

    func park(_ waiter: CheckedContinuation<Void, Never>) {
        let go = state.withLock { s -> Bool in
            if s.goneBefore { return true }
            s.waiter = waiter
            return false
        }
        if go { waiter.resume() }
    }

    /// Ends the wait; true if an earlier call already had.
    @discardableResult
    func letGo() -> Bool {
        let (waiter, before) = state.withLock { s in
            defer {
                s.waiter = nil
                s.goneBefore = true
            }
            return (s.waiter, s.goneBefore)
        }
        waiter?.resume()
        return before
    }
}

/// `within`, the deadline of the process and replica tests' waits.
@Suite(.timeLimit(.minutes(1)))
struct WithinTests {
    /// A body that ignores cancellation (parked until the test lets it go) still fails on time,
    /// so a stuck wait is named in the test's output instead of running into the suite's time
    /// limit. The body is let go only after `within` returned, or after 40 s: a `within` that
    /// waits for its body (a task group) returns only then, and fails here.
    @Test func aWaitThatIgnoresCancellationFailsOnTime() async throws {
        let parked = Parked()
        let release = Task {
            try? await Task.sleep(for: .seconds(40))
            parked.letGo()
        }
        let error = await #expect(throws: Timeout.self) {
            try await within(0.2, "a wait that ignores cancellation") {
                await withCheckedContinuation { waiter in parked.park(waiter) }
            }
        }
        let letGoFirst = parked.letGo()
        #expect(!letGoFirst, "within waited for its body")
        #expect(error?.what == "a wait that ignores cancellation")
        release.cancel()
    }

    @Test func aBodyThatEndsInTimeGivesItsValueOrError() async throws {
        #expect(try await within(5, "a value") { 42 } == 42)
        struct Boom: Error {}
        await #expect(throws: Boom.self) { try await within(5, "an error") { throw Boom() } }
    }
}
