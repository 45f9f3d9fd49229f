import SwitchyardLoop

/// An event loop found stuck: its index, how long at least, and the CPU time its thread used
/// meanwhile (nil where the thread's clock cannot be read). CPU close to `stuck` means a job
/// computing on the loop; close to zero, a job blocked in a system call, or a thread that was
/// ready but got no CPU (an overloaded machine).
public struct LoopStall: Sendable {
    public var loop: Int
    public var stuck: Duration
    public var cpu: Duration?
}

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
        /// The first sweep that found the loop busy in `turn`, and the loop's CPU time then.
        var busySince: ContinuousClock.Instant?
        var cpuThen: Duration?
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

    /// The loops found stuck for `threshold`, each reported once per stuck turn.
    mutating func check(now: ContinuousClock.Instant) -> [LoopStall] {
        var stuck: [LoopStall] = []
        for (i, loop) in loops.enumerated() {
            let turn = loop.turns
            if loop.isWaiting || turn != seen[i].turn || loop.hasStopped {
                seen[i] = Seen(turn: turn)
                continue
            }
            guard let since = seen[i].busySince else {
                seen[i].busySince = now
                seen[i].cpuThen = loop.cpuTime
                continue
            }
            if !seen[i].reported, now - since >= threshold {
                seen[i].reported = true
                let cpu = loop.cpuTime.flatMap { cpuNow in seen[i].cpuThen.map { cpuNow - $0 } }
                stuck.append(LoopStall(loop: loop.index, stuck: now - since, cpu: cpu))
            }
        }
        return stuck
    }
}
