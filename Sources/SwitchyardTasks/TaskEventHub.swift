import Synchronization

/// Wakes the event streams of a task when its history grew. A wake-up carries no data: the
/// subscriber reads `store.events(after:)` from its last `seq`, so nothing is lost or reordered
/// however many commits one wake-up stands for (each stream buffers at most one pending wake-up).
final class TaskEventHub: Sendable {
    private struct State {
        var subscribers: [String: [Int: AsyncStream<Void>.Continuation]] = [:]
        var nextToken = 0
        var closed = false
    }

    private let state = Mutex(State())

    /// A stream that yields after each `notify(taskID)` and ends on `closeAll()` (or when the
    /// consuming task is cancelled). Subscribe before reading history so no commit falls in between.
    func subscribe(taskID: String) -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let token = state.withLock { s -> Int? in
            guard !s.closed else { return nil }
            s.nextToken += 1
            s.subscribers[taskID, default: [:]][s.nextToken] = continuation
            return s.nextToken
        }
        guard let token else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            self?.state.withLock { s in
                s.subscribers[taskID]?[token] = nil
                if s.subscribers[taskID]?.isEmpty == true { s.subscribers[taskID] = nil }
            }
        }
        return stream
    }

    /// Called after every commit that appended history to `taskID`.
    func notify(_ taskID: String) {
        let continuations = state.withLock { s in s.subscribers[taskID].map { Array($0.values) } ?? [] }
        for c in continuations { c.yield() }
    }

    /// Wakes every stream: another process committed, and which tasks it touched is not known
    /// (SQLite's change counter says only that something changed). Each stream reads its task's
    /// history again and finds what is new, or nothing.
    func notifyAll() {
        let continuations = state.withLock { s in s.subscribers.values.flatMap(\.values) }
        for c in continuations { c.yield() }
    }

    /// Ends every stream (drain, stop); later subscriptions end at once.
    func closeAll() {
        let all = state.withLock { s -> [AsyncStream<Void>.Continuation] in
            s.closed = true
            defer { s.subscribers = [:] }
            return s.subscribers.values.flatMap(\.values)
        }
        for c in all { c.finish() }
    }
}
