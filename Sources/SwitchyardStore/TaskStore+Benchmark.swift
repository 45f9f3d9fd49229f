import SwitchyardCore
import SwitchyardTasks
import Synchronization

/// What `TaskStore.benchmark` measured. Targets: checkpoint p50 < 200 µs, listing 1,000 tasks < 2 ms,
/// start-up with 10,000 tasks < 1 s.
public struct StoreBenchmarkReport: Sendable, CustomStringConvertible {
    public var storedTasks: Int
    public var durability: TaskStore.Durability
    /// One checkpoint = `transition(.stepDone, [.finish(step), .start(next)])`, committed.
    public var checkpointSamples: Int
    public var checkpointP50: Duration
    public var checkpointP99: Duration
    /// Median of 21 `listTasks(limit: 1000)` calls.
    public var listThousand: Duration
    /// `TaskStore(path:)` (quick_check, WAL, migrations) + `resumeAfterRestart()` on the seeded file.
    public var startup: Duration
    public var resumedTasks: Int

    public var description: String {
        func us(_ d: Duration) -> String {
            let micros = Double(d.components.seconds) * 1e6 + Double(d.components.attoseconds) / 1e12
            return micros < 10_000 ? "\(Int(micros.rounded())) µs" : "\(Int((micros / 1000).rounded())) ms"
        }
        return """
            tasks stored: \(storedTasks), synchronous=\(durability == .full ? "FULL" : "NORMAL")
            checkpoint commit: p50 \(us(checkpointP50)), p99 \(us(checkpointP99)) (\(checkpointSamples) samples)
            list 1,000 tasks: \(us(listThousand)) (median of 21)
            start-up (open + migrations + resume \(resumedTasks) tasks): \(us(startup))
            """
    }
}

extension TaskStore {
    /// Seeds a new database at `path` with `tasks` tasks (owner "bench", 10% left executing with a
    /// step in flight, the rest completed with 3 steps) and measures the hot paths on it.
    /// `path` should not exist; the files are left for inspection. Blocking; takes a few seconds.
    public static func benchmark(
        path: String, tasks: Int = 10_000, checkpoints: Int = 1_000, durability: Durability = .normal
    ) throws(StoreError) -> StoreBenchmarkReport {
        let clock = ContinuousClock()
        let configuration = Configuration(durability: durability)
        var samples: [Duration] = []
        var listings: [Duration] = []
        do {
            let store = try TaskStore(path: path, configuration: configuration)
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
            samples.reserveCapacity(checkpoints)
            for i in 0..<checkpoints {
                let started = clock.now
                try store.transition(
                    taskID: "bench-checkpoints", event: .stepDone,
                    stepUpdates: [.finish(stepID: "s\(i)", outcome: outcome), .start(stepID: "s\(i + 1)")]
                )
                samples.append(clock.now - started)
            }
            for _ in 0..<21 {
                let started = clock.now
                let page = try store.listTasks(owner: "bench", limit: 1000)
                listings.append(clock.now - started)
                precondition(page.tasks.count == min(1000, tasks))
            }
        }  // the store closes here: start-up below opens the file cold (page cache aside)
        let started = clock.now
        let store = try TaskStore(path: path, configuration: configuration)
        let resumed = try store.resumeAfterRestart()
        let startup = clock.now - started
        samples.sort()
        listings.sort()
        return StoreBenchmarkReport(
            storedTasks: tasks + 1, durability: durability, checkpointSamples: samples.count,
            checkpointP50: samples.isEmpty ? .zero : samples[samples.count / 2],
            checkpointP99: samples.isEmpty ? .zero : samples[min(samples.count - 1, samples.count * 99 / 100)],
            listThousand: listings[listings.count / 2], startup: startup, resumedTasks: resumed.count
        )
    }

    /// Writes `tasks` realistic tasks in transactions of 500 through the same code as `transition`.
    private func seed(tasks: Int) throws(StoreError) {
        let now = configuration.clock()
        let completed = StepOutcome(state: .completed, provider: "openai", model: "gpt-4o-mini", output: "done")
        try writer.withLock { connection throws(StoreError) in
            var first = 0
            while first < tasks {
                let last = min(tasks, first + 500)
                try connection.writeTransaction { () throws(StoreError) in
                    for i in first..<last {
                        let id = "bench-\(i)"
                        _ = try Self.insertTask(
                            connection, id: id, owner: "bench", agent: "agent-\(i % 5)", metadata: ["n": .int(i)],
                            now: now
                        )
                        func step(_ event: TaskEvent, _ updates: [StepUpdate]) throws(StoreError) {
                            _ = try Self.applyTransition(
                                connection, taskID: id, owner: nil, event: event, stepUpdates: updates, events: [],
                                now: now
                            )
                        }
                        try step(.start, [])
                        try step(
                            .plan,
                            [
                                .plan([PlannedStep(id: "a"), PlannedStep(id: "b"), PlannedStep(id: "c")]),
                                .start(stepID: "a"),
                            ]
                        )
                        try step(.stepDone, [.finish(stepID: "a", outcome: completed), .start(stepID: "b")])
                        if i % 10 == 0 { continue }  // left executing with "b" in flight
                        try step(.stepDone, [.finish(stepID: "b", outcome: completed), .start(stepID: "c")])
                        try step(.complete, [.finish(stepID: "c", outcome: completed)])
                    }
                }
                first = last
            }
        }
    }
}
