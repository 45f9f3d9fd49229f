import SwitchyardLoop

/// Notices an event loop stuck in one piece of work: not waiting in `epoll_wait`, and no new turn
/// begun for `threshold`. Nothing on a loop may block (SQLite, large bodies and slow work go
/// elsewhere), so such a loop is a bug or a starved thread, and every connection and transfer on it
/// waits meanwhile. Checked on the edge watcher's sweeps (only while a connection is open, which a
/// stuck loop with work has), so it costs an idle server nothing and a loop one relaxed store per
/// turn. The time reported is a lower bound: from the first sweep that found the loop busy in
/// that turn. Watcher thread only.
struct LoopStallWatch {
    private struct Seen {
        var turn: Int
        /// The first sweep that found the loop busy in `turn`.
        var busySince: ContinuousClock.Instant?
        var reported = false
    }

    private let loops: [EventLoop]
    private let threshold: Duration
    private var seen: [Seen]

    init(loops: [EventLoop], threshold: Duration) {
        self.loops = loops
        self.threshold = threshold
        seen = loops.map { Seen(turn: $0.turns) }
    }

    /// The loops found stuck for `threshold` since the last report of each: (index, how long).
    mutating func check(now: ContinuousClock.Instant) -> [(loop: Int, stuck: Duration)] {
        var stuck: [(loop: Int, stuck: Duration)] = []
        for (i, loop) in loops.enumerated() {
            let turn = loop.turns
            if loop.isWaiting || turn != seen[i].turn || loop.hasStopped {
                seen[i] = Seen(turn: turn)
                continue
            }
            guard let since = seen[i].busySince else {
                seen[i].busySince = now
                continue
            }
            if !seen[i].reported, now - since >= threshold {
                seen[i].reported = true
                stuck.append((loop.index, now - since))
            }
        }
        return stuck
    }
}
