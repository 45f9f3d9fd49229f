import CEventLoop
import Synchronization

/// The gateway's event loops: one thread each, started together and stopped together.
///
/// Owners (the edge's daemons, the upstream's multi handles) take one part per loop and must
/// detach from their loops (`EventLoop.executeAndWait`) before `shutdown()`.
public final class EventLoopGroup: Sendable {
    public let loops: [EventLoop]
    private let cursor = Atomic<Int>(0)

    /// Starts `count` loops (at least one). A loop idle for `idleMemoryRelease` after a busy
    /// spell gives free heap memory back to the system.
    /// `loops` when the caller shares a group, else a new group of one loop for the caller alone.
    public static func shared(_ loops: EventLoopGroup?) throws(EventLoopError) -> EventLoopGroup {
        if let loops { return loops }
        return try EventLoopGroup(count: 1)
    }

    public init(count: Int, idleMemoryRelease: Duration = .seconds(2)) throws(EventLoopError) {
        let (seconds, attoseconds) = idleMemoryRelease.components
        let delay = max(0, seconds) &* 1_000_000_000 &+ max(0, attoseconds) / 1_000_000_000
        var loops: [EventLoop] = []
        for i in 0..<max(1, count) {
            let loop: EventLoop
            do {
                loop = try EventLoop(index: i, idleReleaseDelay: delay)
                try loop.start()
            } catch {
                for started in loops { started.stop() }
                throw error
            }
            loops.append(loop)
        }
        self.loops = loops
    }

    /// The default loop count: the cores this process may run on (sched_getaffinity), limited by
    /// its cgroup's CPU quota (`CPUBudget`).
    public static var availableCores: Int { CPUBudget.cores }

    /// The CPUs of this process's affinity mask (taskset, a container's cpuset).
    public static var affinityCPUs: Int { max(1, Int(sy_loop_available_cpus())) }

    /// The loops in turn, for work that does not arrive on a loop (background tasks).
    public func next() -> EventLoop {
        loops[(cursor.wrappingAdd(1, ordering: .relaxed).oldValue & Int.max) % loops.count]
    }

    /// This group's loop whose thread is calling, if any.
    public var current: EventLoop? {
        guard let loop = EventLoop.current, loop.index < loops.count, loops[loop.index] === loop else { return nil }
        return loop
    }

    /// Returns once every loop has run a closure queued after the call (`EventLoop.settle`).
    public func settle() async {
        for loop in loops { await loop.settle() }
    }

    /// Stops every loop and waits for their threads (a loop calling this stops without waiting
    /// for itself). Idempotent.
    public func shutdown() {
        for loop in loops { loop.stop() }
    }

    deinit { shutdown() }
}
