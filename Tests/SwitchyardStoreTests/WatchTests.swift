import SwitchyardTasks
import Testing

@testable import SwitchyardStore

/// What a running server reads to notice another process's commits and to count every task.
@Suite struct WatchTests {
    @Test func externalChangeVersionMovesOnlyForAnotherConnectionsCommits() throws {
        try withTemporaryStore { server, path throws in
            let start = try server.externalChangeVersion()
            _ = try server.createTask(id: "own", owner: "alice", agent: "a")
            try server.transition(taskID: "own", event: .start)
            #expect(try server.externalChangeVersion() == start, "the server's own commits are not news")

            let cli = try SQLiteStore(path: path)
            try cli.transition(taskID: "own", event: .cancel)
            let moved = try server.externalChangeVersion()
            #expect(moved != start)
            #expect(try server.externalChangeVersion() == moved, "unchanged until the next foreign commit")
            #expect(try server.taskStates(ids: ["own", "missing"]) == ["own": .cancelled])
        }
    }

    @Test func resumableTasksAndCountsCoverEveryOwner() throws {
        try withTemporaryStore { store, _ throws in
            for (id, owner) in [("t1", "alice"), ("t2", "bob"), ("t3", "bob"), ("t4", "carol")] {
                _ = try store.createTask(id: id, owner: owner, agent: "a")
            }
            try store.transition(taskID: "t1", event: .start)
            try store.transition(taskID: "t2", event: .start)
            try store.transition(taskID: "t2", event: .plan)
            try store.transition(taskID: "t3", event: .start)
            try store.transition(taskID: "t3", event: .pause)
            #expect(try store.resumableTasks().map(\.id) == ["t1", "t2"])
            let counts = try store.taskCounts()
            #expect(counts[.idle] == 1 && counts[.planning] == 1 && counts[.executing] == 1 && counts[.paused] == 1)
            #expect(counts[.completed] == 0 && counts[.failed] == 0 && counts[.cancelled] == 0)
            #expect(counts.count == TaskState.allCases.count)
        }
    }

    @Test func aPausedTasksStepLeftRunningByADeadProcessIsRequeuedButStaysPaused() throws {
        try withTemporaryStore { store, _ throws in
            _ = try store.createTask(id: "t1", owner: "alice", agent: "a")
            try store.transition(taskID: "t1", event: .start)
            try store.transition(
                taskID: "t1", event: .plan, stepUpdates: [.plan([PlannedStep(id: "s1")]), .start(stepID: "s1")])
            try store.transition(taskID: "t1", event: .pause)
            // The process that ran s1 died: nobody will checkpoint it, the restart requeues it.
            #expect(try store.resumeAfterRestart().isEmpty)
            let snapshot = try #require(try store.task(id: "t1", owner: "alice"))
            #expect(snapshot.task.state == .paused)
            #expect(snapshot.steps.map(\.state) == [.pending])
            #expect(snapshot.steps[0].attempts == 1)
        }
    }
}
