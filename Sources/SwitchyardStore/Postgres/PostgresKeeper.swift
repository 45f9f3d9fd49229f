import Dispatch
import SwitchyardThreads
import Synchronization

/// Runs `round` every `interval` on a thread of its own until stopped: the store's lease renewal
/// (`PostgresStore.startKeeper`).
///
/// A thread, not a Swift task: a task's timer resumes on the cooperative pool, which a busy
/// process (or blocking work on it) can keep from running for seconds; a lease that waits for it
/// expires while its holder is alive and working, and another process runs the task's step again.
/// Measured in the test suite on two cores: a keeper task's 667 ms sleep took up to 4.8 s.
///
/// `@unchecked Sendable`: `thread` is written in `start()` and read in `stop()`, which the
/// `stopping` flag (an atomic) makes run once.
final class PostgresKeeper: @unchecked Sendable {
    private let interval: Duration
    private let round: @Sendable () -> Void
    private let stopping = Atomic<Bool>(false)
    private let wake = DispatchSemaphore(value: 0)
    private var thread: OSThread?

    init(interval: Duration, round: @escaping @Sendable () -> Void) {
        self.interval = interval
        self.round = round
    }

    func start() {
        thread = try? OSThread.start(name: "sy-pg-lease") { [self] in run() }
    }

    /// Wakes the thread, lets a round in progress finish and waits for the thread. Idempotent;
    /// from the keeper's own thread (a store released during a round) it does not wait.
    func stop() {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        wake.signal()
        thread?.join()
    }

    private func run() {
        let (seconds, attoseconds) = interval.components
        let nanoseconds = max(1_000_000, Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000))
        while !stopping.load(ordering: .acquiring) {
            _ = wake.wait(timeout: .now() + .nanoseconds(nanoseconds))
            if stopping.load(ordering: .acquiring) { return }
            round()
        }
    }
}
