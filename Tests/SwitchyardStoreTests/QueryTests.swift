import SwitchyardCore
import SwitchyardTasks
import Testing

@testable import SwitchyardStore

@Suite struct QueryTests {
    @Test func listIsNewestFirstAndPaginatesWithACursor() throws {
        try withTemporaryStore { store, _ throws in
            for i in 0..<25 {
                _ = try store.createTask(id: "a\(i)", owner: "alice", agent: i % 2 == 0 ? "even" : "odd")
                if i % 3 == 0 { try store.transition(taskID: "a\(i)", event: .start) }
            }
            for i in 0..<5 { _ = try store.createTask(id: "b\(i)", owner: "bob", agent: "even") }

            var seen: [String] = []
            var after: String?
            var pages: [Int] = []
            repeat {
                let page = try store.listTasks(owner: "alice", limit: 10, after: after)
                pages.append(page.tasks.count)
                seen += page.tasks.map(\.id)
                after = page.hasMore ? page.lastID : nil
            } while after != nil
            #expect(pages == [10, 10, 5])
            #expect(seen == (0..<25).reversed().map { "a\($0)" })

            let planning = try store.listTasks(owner: "alice", state: .planning, limit: 100)
            #expect(planning.tasks.map(\.id) == stride(from: 24, through: 0, by: -3).map { "a\($0)" })
            #expect(!planning.hasMore)
            let evenPlanning = try store.listTasks(owner: "alice", state: .planning, agent: "even", limit: 2)
            #expect(evenPlanning.tasks.map(\.id) == ["a24", "a18"])
            #expect(evenPlanning.hasMore)
            let next = try store.listTasks(owner: "alice", state: .planning, agent: "even", limit: 2, after: "a18")
            #expect(next.tasks.map(\.id) == ["a12", "a6"])

            #expect(storeError { _ = try store.listTasks(owner: "alice", after: "nope") }?.kind == .invalidArgument)
            #expect(storeError { _ = try store.listTasks(owner: "alice", after: "b1") }?.kind == .invalidArgument)
            #expect(storeError { _ = try store.listTasks(owner: "alice", limit: 0) }?.kind == .invalidArgument)
        }
    }

    @Test func ownersSeeOnlyTheirOwnTasks() throws {
        try withTemporaryStore { store, _ throws in
            _ = try store.createTask(id: "t1", owner: "alice", agent: "a")
            #expect(try store.task(id: "t1", owner: "bob") == nil)
            #expect(try store.task(id: "t1", owner: "alice") != nil)
            #expect(try store.listTasks(owner: "bob").tasks.isEmpty)
            #expect(storeError { try store.transition(taskID: "t1", owner: "bob", event: .cancel) }?.kind == .notFound)
            #expect(storeError { _ = try store.events(taskID: "t1", owner: "bob") }?.kind == .notFound)
            #expect(try store.task(id: "t1", owner: "alice")?.task.state == .idle)
            try store.transition(taskID: "t1", owner: "alice", event: .cancel)
        }
    }

    @Test func resumeRequeuesInFlightStepsAndFindsTheFirstUnfinishedStep() throws {
        try withTemporaryDirectory { directory throws in
            let path = directory + "/tasks.db"
            do {
                let store = try SQLiteStore(path: path)
                // t1: executing, s1 done, s2 in flight when the process "dies".
                _ = try store.createTask(id: "t1", owner: "alice", agent: "a")
                try store.transition(taskID: "t1", event: .start)
                try store.transition(
                    taskID: "t1", event: .plan,
                    stepUpdates: [.plan(["s1", "s2", "s3"].map { PlannedStep(id: $0) }), .start(stepID: "s1")]
                )
                try store.transition(
                    taskID: "t1", event: .stepDone,
                    stepUpdates: [.finish(stepID: "s1", outcome: StepOutcome(state: .completed)), .start(stepID: "s2")]
                )
                // t2: planning. t3: paused. t4: completed. t5: idle.
                for id in ["t2", "t3", "t4", "t5"] { _ = try store.createTask(id: id, owner: "bob", agent: "a") }
                for id in ["t2", "t3", "t4"] { try store.transition(taskID: id, event: .start) }
                try store.transition(taskID: "t3", event: .pause)
                try store.transition(taskID: "t4", event: .plan)
                try store.transition(taskID: "t4", event: .complete)
            }
            let store = try SQLiteStore(path: path)
            let points = try store.resumeAfterRestart()
            #expect(points.map(\.task.id) == ["t1", "t2"])
            let next = try #require(points[0].nextStep)
            #expect(next.stepID == "s2" && next.state == .pending && next.attempts == 1)
            #expect(points[1].nextStep == nil)
            let history = try store.events(taskID: "t1")
            #expect(history.last?.type == "step.requeued")
            #expect(history.last?.data["attempts"] == 1)
            #expect(try store.task(id: "t1", owner: "alice")?.task.lastEventSeq == history.last?.seq)
            // Idempotent: nothing left running, same answer.
            #expect(try store.resumeAfterRestart() == points)
            try store.transition(taskID: "t1", event: nil, stepUpdates: [.start(stepID: "s2")])
            #expect(try store.task(id: "t1", owner: "alice")?.steps[1].attempts == 2)
        }
    }
}
