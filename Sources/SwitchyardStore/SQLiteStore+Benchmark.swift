import SwitchyardCore
public import SwitchyardTasks
import Synchronization

/// A hot path timed by `SQLiteStore.benchmark`. Targets: checkpoint p50 < 200 µs, listing 1,000 tasks < 2 ms.
public enum StoreBenchmarkMeasure: Sendable, Hashable {
    /// One checkpoint = `transition(.stepDone, [.finish(step), .start(next)])`, committed.
    case checkpointCommit
    /// `listTasks(owner:limit: 1000)` over the seeded owner.
    case listThousand
}

/// What `SQLiteStore.benchmark` measured once (the per-sample timings go to its `record` closure).
public struct StoreBenchmarkRun: Sendable {
    /// Seeded tasks plus the one that took the checkpoints.
    public var storedTasks: Int
    public var durability: SQLiteStore.Durability
    /// `SQLiteStore(path:)` (quick_check, WAL, migrations) + `resumeAfterRestart()` on the seeded file,
    /// opened after the seeding store was closed (page cache warm). Target < 1 s with 10,000 tasks.
    public var startup: Duration
    public var resumedTasks: Int
}

extension SQLiteStore {
    /// Seeds a new database at `path` with `tasks` tasks (owner "bench", 10% left executing with a
    /// step in flight, the rest completed with 3 steps), then times `checkpoints` checkpoint commits
    /// and `listings` listings of 1,000 tasks, handing each timing to `record` as it is taken (outside
    /// the timed span), and finally times a reopen + `resumeAfterRestart()`, which it returns.
    /// `path` should not exist; the files are left for inspection or for a later run of the server.
    /// Blocking; takes a few seconds with 10,000 tasks.
    public static func benchmark(
        path: String, tasks: Int = 10_000, checkpoints: Int = 1_000, listings: Int = 21,
        durability: Durability = .normal, record: (StoreBenchmarkMeasure, Duration) -> Void
    ) throws(StoreError) -> StoreBenchmarkRun {
        let clock = ContinuousClock()
        let configuration = Configuration(durability: durability)
        do {
            let store = try SQLiteStore(path: path, configuration: configuration)
            try store.seed(tasks: tasks)

            let steps = (0...checkpoints).map { PlannedStep(id: "s\($0)", request: ["messages": [["role": "user"]]]) }
            _ = try store.createTask(id: "bench-checkpoints", owner: "bench-cp", agent: "bench")
            try store.transition(taskID: "bench-checkpoints", event: .start)
            try store.transition(
                taskID: "bench-checkpoints", event: .plan, stepUpdates: [.plan(steps), .start(stepID: "s0")]
            )
            let outcome = StepOutcome(
                state: .completed, provider: "openai", model: "gpt-4o-mini", output: String(repeating: "x", count: 400),
                response: ["id": "chatcmpl-1", "object": "chat.completion"],
                usage: ["prompt_tokens": 120, "completion_tokens": 80, "total_tokens": 200]
            )
            for i in 0..<checkpoints {
                let started = clock.now
                try store.transition(
                    taskID: "bench-checkpoints", event: .stepDone,
                    stepUpdates: [.finish(stepID: "s\(i)", outcome: outcome), .start(stepID: "s\(i + 1)")]
                )
                let elapsed = clock.now - started
                record(.checkpointCommit, elapsed)
            }
            for _ in 0..<listings {
                let started = clock.now
                let page = try store.listTasks(owner: "bench", limit: 1000)
                let elapsed = clock.now - started
                precondition(page.tasks.count == min(1000, tasks))
                record(.listThousand, elapsed)
            }
        }  // the store closes here: start-up below opens the file cold (page cache aside)
        let started = clock.now
        let store = try SQLiteStore(path: path, configuration: configuration)
        let resumed = try store.resumeAfterRestart()
        let startup = clock.now - started
        return StoreBenchmarkRun(
            storedTasks: tasks + 1, durability: durability, startup: startup, resumedTasks: resumed.count
        )
    }

    /// Writes `tasks` realistic tasks in transactions of 500 through the same code as `transition`.
    private func seed(tasks: Int) throws(StoreError) {
        let now = configuration.clock()
        try writer.withLock { connection throws(StoreError) in
            var first = 0
            while first < tasks {
                let last = min(tasks, first + 500)
                try connection.writeTransaction { () throws(StoreError) in
                    for i in first..<last {
                        try BenchmarkTasks.seed(connection, i, now: now) { id, event, updates throws(StoreError) in
                            _ = try Self.applyTransition(
                                connection, taskID: id, owner: nil, event: event, stepUpdates: updates, events: [],
                                now: now)
                        }
                    }
                }
                first = last
            }
        }
    }
}
