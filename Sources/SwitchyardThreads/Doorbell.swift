import Synchronization

/// Wakes one waiting task early: `wait(upTo:)` returns when `ring()` is called (or was, since the
/// last wait), when `timeout` passes, or when the waiting task is cancelled. A ring with nobody
/// waiting is kept for the next wait; several rings before it count as one. A ring in the same
/// instant as the timeout may be reported as the timeout: a waiter acts the same on both.
/// Used by the task runtime's store watcher and the edge's stream heartbeat, each of which
/// sleeps until there is something to do.
public final class Doorbell: Sendable {
    private struct State {
        var rung = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    public init() {}

    public func ring() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard let waiter = s.waiter else {
                s.rung = true
                return nil
            }
            s.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    /// True when it was rung; false after the timeout or a cancellation.
    public func wait(upTo timeout: Duration) async -> Bool {
        if state.withLock({ s in
            defer { s.rung = false }
            return s.rung
        }) {
            return true
        }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            group.addTask {
                await self.rung()
                return !Task.isCancelled
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    /// Returns once rung, or cancelled.
    private func rung() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if s.rung {
                        s.rung = false
                        return true
                    }
                    if Task.isCancelled { return true }
                    s.waiter = waiter
                    return false
                }
                if now { waiter.resume() }
            }
        } onCancel: {
            state.withLock { s -> CheckedContinuation<Void, Never>? in
                defer { s.waiter = nil }
                return s.waiter
            }?.resume()
        }
    }
}
