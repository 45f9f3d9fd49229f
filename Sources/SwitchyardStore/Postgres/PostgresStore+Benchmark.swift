public import SwitchyardCore
public import SwitchyardTasks

extension PostgresStore {
    /// `SQLiteStore.benchmark` on PostgreSQL, with the same seed and the same timed operations, so
    /// the figures stand side by side: seeds `tasks` tasks (owner "bench", 10% left executing with
    /// a step in flight, the rest completed with 3 steps) in the database `url` names (its schema
    /// must be empty), times `checkpoints` checkpoint commits and `listings` listings of 1,000
    /// tasks, handing each timing to `record`, then times start-up: a new store (connect, schema
    /// check) plus `resumeAfterRestart()`. The store's pool has its default size; nothing listens.
    public static func benchmark(
        url: StoreURL, tasks: Int = 10_000, checkpoints: Int = 1_000, listings: Int = 21,
        record: @escaping @Sendable (StoreBenchmarkMeasure, Duration) -> Void
    ) async throws(StoreError) -> (startup: Duration, storedTasks: Int, resumedTasks: Int) {
        let clock = ContinuousClock()
        let configuration = Configuration(listen: false)
        do {
            let store = try await PostgresStore(url: url, configuration: configuration)
            defer { store.close() }
            try await store.seed(tasks: tasks)

            let steps = (0...checkpoints).map { PlannedStep(id: "s\($0)", request: ["messages": [["role": "user"]]]) }
            _ = try await store.createTask(id: "bench-checkpoints", owner: "bench-cp", agent: "bench")
            try await store.transition(taskID: "bench-checkpoints", event: .start)
            try await store.transition(
                taskID: "bench-checkpoints", event: .plan, stepUpdates: [.plan(steps), .start(stepID: "s0")])
            let outcome = StepOutcome(
                state: .completed, provider: "openai", model: "gpt-4o-mini", output: String(repeating: "x", count: 400),
                response: ["id": "chatcmpl-1", "object": "chat.completion"],
                usage: ["prompt_tokens": 120, "completion_tokens": 80, "total_tokens": 200])
            for i in 0..<checkpoints {
                let started = clock.now
                try await store.transition(
                    taskID: "bench-checkpoints", event: .stepDone,
                    stepUpdates: [.finish(stepID: "s\(i)", outcome: outcome), .start(stepID: "s\(i + 1)")])
                record(.checkpointCommit, clock.now - started)
            }
            for _ in 0..<listings {
                let started = clock.now
                let page = try await store.listTaskSnapshots(owner: "bench", limit: 1000)
                record(.listThousand, clock.now - started)
                precondition(page.tasks.count == min(1000, tasks))
            }
        }
        let started = clock.now
        let store = try await PostgresStore(url: url, configuration: configuration)
        defer { store.close() }
        let resumed = try await store.resumeAfterRestart()
        return (clock.now - started, tasks + 1, resumed.count)
    }

    /// Writes `tasks` tasks in transactions of 500 through the same code as `transition`.
    private func seed(tasks: Int) async throws(StoreError) {
        let now = configuration.clock()
        let me = configuration.instanceID
        let completed = StepOutcome(state: .completed, provider: "openai", model: "gpt-4o-mini", output: "done")
        var first = 0
        while first < tasks {
            let range = first..<min(tasks, first + 500)
            try await write { connection throws(StoreError) in
                try connection.transaction { () throws(StoreError) in
                    for i in range {
                        let id = "bench-\(i)"
                        _ = try Self.insertTask(
                            connection, id: id, owner: "bench", agent: "agent-\(i % 5)", metadata: ["n": .int(i)],
                            now: now)
                        func step(_ event: TaskEvent, _ updates: [StepUpdate]) throws(StoreError) {
                            _ = try Self.applyTransition(
                                connection, taskID: id, owner: nil, event: event, stepUpdates: updates, events: [],
                                now: now, instanceID: me)
                        }
                        try step(.start, [])
                        try step(
                            .plan,
                            [
                                .plan([PlannedStep(id: "a"), PlannedStep(id: "b"), PlannedStep(id: "c")]),
                                .start(stepID: "a"),
                            ])
                        try step(.stepDone, [.finish(stepID: "a", outcome: completed), .start(stepID: "b")])
                        if i % 10 == 0 { continue }  // left executing with "b" in flight
                        try step(.stepDone, [.finish(stepID: "b", outcome: completed), .start(stepID: "c")])
                        try step(.complete, [.finish(stepID: "c", outcome: completed)])
                    }
                }
            }
            first = range.upperBound
        }
    }
}
