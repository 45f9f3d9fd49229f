import SwitchyardCore
import SwitchyardTasks

/// The tasks both stores' benchmarks seed, written through the same code as `transition`.
enum BenchmarkTasks {
    /// Task `bench-<i>` (owner `bench`): created, planned with three steps and run to completion;
    /// every tenth is left `executing` with its second step in flight. `transition` applies one
    /// checkpoint of it inside the caller's transaction.
    static func seed(
        _ connection: some StoreConnection, _ i: Int, now: Int64,
        transition: (_ taskID: String, TaskEvent, [StepUpdate]) throws(StoreError) -> Void
    ) throws(StoreError) {
        let completed = StepOutcome(state: .completed, provider: "openai", model: "gpt-4o-mini", output: "done")
        let id = "bench-\(i)"
        _ = try TaskWrites.insertTask(
            connection, id: id, owner: "bench", agent: "agent-\(i % 5)", metadata: ["n": .int(i)], now: now)
        try transition(id, .start, [])
        try transition(
            id, .plan,
            [.plan([PlannedStep(id: "a"), PlannedStep(id: "b"), PlannedStep(id: "c")]), .start(stepID: "a")])
        try transition(id, .stepDone, [.finish(stepID: "a", outcome: completed), .start(stepID: "b")])
        if i % 10 == 0 { return }  // left executing with "b" in flight
        try transition(id, .stepDone, [.finish(stepID: "b", outcome: completed), .start(stepID: "c")])
        try transition(id, .complete, [.finish(stepID: "c", outcome: completed)])
    }
}
