import SwitchyardCore
import SwitchyardTasks
import Testing

@testable import SwitchyardStore

@Suite struct TransitionTests {
    @Test func aTaskRunsToCompletionWithOrderedStepsAndHistory() throws {
        let clock = ManualClock()
        try withTemporaryStore(configuration: clock.configuration) { store, _ throws in
            _ = try store.createTask(id: "t1", owner: "alice", agent: "writer")
            var task = try store.transition(taskID: "t1", event: .start)
            #expect(task.state == .planning)
            task = try store.transition(
                taskID: "t1", event: .plan,
                stepUpdates: [.plan([PlannedStep(id: "s1", request: ["q": 1]), PlannedStep(id: "s2")])]
            )
            #expect(task.state == .executing)
            clock.advance(milliseconds: 10)
            try store.transition(taskID: "t1", event: nil, stepUpdates: [.start(stepID: "s1")])
            clock.advance(milliseconds: 10)
            let outcome = StepOutcome(
                state: .completed, provider: "openai", model: "gpt-x", output: "hi", response: ["id": "r1"],
                usage: ["total_tokens": 3]
            )
            task = try store.transition(
                taskID: "t1", event: .stepDone,
                stepUpdates: [.finish(stepID: "s1", outcome: outcome), .start(stepID: "s2")],
                events: [NewHistoryEvent(type: "custom", data: ["n": 1])]
            )
            try store.transition(
                taskID: "t1", event: .complete,
                stepUpdates: [.finish(stepID: "s2", outcome: StepOutcome(state: .completed, output: "bye"))]
            )

            let snapshot = try #require(try store.task(id: "t1", owner: "alice"))
            #expect(snapshot.task.state == .completed)
            #expect(snapshot.steps.map(\.stepID) == ["s1", "s2"])
            #expect(snapshot.steps.map(\.index) == [0, 1])
            let s1 = snapshot.steps[0]
            #expect(s1.state == .completed && s1.attempts == 1 && s1.provider == "openai" && s1.model == "gpt-x")
            #expect(s1.output == "hi" && s1.response == ["id": "r1"] && s1.usage == ["total_tokens": 3])
            #expect(s1.request == ["q": 1])
            #expect(s1.startedAt == 1_700_000_000_010 && s1.finishedAt == 1_700_000_000_020)
            #expect(snapshot.firstUnfinishedStep == nil)

            let history = try store.events(taskID: "t1", owner: "alice")
            #expect(history.map(\.seq) == Array(1...Int64(history.count)))
            #expect(snapshot.task.lastEventSeq == Int64(history.count))
            #expect(
                history.map(\.type) == [
                    "task.created", "task.transition", "step.planned", "task.transition", "step.started",
                    "step.finished", "step.started", "task.transition", "custom", "step.finished", "task.transition",
                ]
            )
            #expect(history[1].data == ["event": "start", "from": "idle", "to": "planning"])
            #expect(try store.events(taskID: "t1", after: 8).map(\.seq) == [9, 10, 11])
            #expect(try store.events(taskID: "t1", after: 2, limit: 2).map(\.seq) == [3, 4])
        }
    }

    @Test func aRejectedEventWritesNothing() throws {
        let clock = ManualClock()
        try withTemporaryStore(configuration: clock.configuration) { store, _ throws in
            _ = try store.createTask(id: "t1", owner: "alice", agent: "a")
            try store.transition(taskID: "t1", event: .start)
            let before = try #require(try store.task(id: "t1", owner: "alice"))
            clock.advance(milliseconds: 5)
            // The plan insert comes first in the same call; the rejection must roll it back.
            let error = storeError {
                try store.transition(
                    taskID: "t1", event: .resume, stepUpdates: [.plan([PlannedStep(id: "s1")])],
                    events: [NewHistoryEvent(type: "x")]
                )
            }
            #expect(error?.kind == .rejected)
            #expect(error?.rejection?.kind == .invalidTransition)
            #expect(error?.message == "cannot resume a task that is planning")
            #expect(try store.task(id: "t1", owner: "alice") == before)
            #expect(try store.events(taskID: "t1").count == 2)
        }
    }

    @Test func aRejectedStepUpdateRollsBackTheWholeCheckpoint() throws {
        try withTemporaryStore { store, _ throws in
            _ = try store.createTask(id: "t1", owner: "alice", agent: "a")
            try store.transition(taskID: "t1", event: .start)
            let error = storeError {
                try store.transition(
                    taskID: "t1", event: .plan,
                    stepUpdates: [
                        .plan([PlannedStep(id: "s1")]),
                        .finish(stepID: "s1", outcome: StepOutcome(state: .completed)),  // pending → completed
                    ]
                )
            }
            #expect(error?.kind == .rejected)
            #expect(error?.rejection?.kind == .invalidStepTransition)
            let snapshot = try #require(try store.task(id: "t1", owner: "alice"))
            #expect(snapshot.task.state == .planning)
            #expect(snapshot.steps.isEmpty)
        }
    }

    @Test func terminalTasksAcceptNothing() throws {
        try withTemporaryStore { store, _ throws in
            _ = try store.createTask(id: "t1", owner: "alice", agent: "a")
            try store.transition(taskID: "t1", event: .cancel)
            for event in TaskEvent.allCases {
                let error = storeError { try store.transition(taskID: "t1", event: event) }
                #expect(error?.rejection?.kind == .terminalState)
                #expect(
                    error?.message
                        == "cannot \(event == .stepDone ? "finish a step of" : event.rawValue) a task that is cancelled"
                )
            }
            let error = storeError {
                try store.transition(taskID: "t1", event: nil, events: [NewHistoryEvent(type: "x")])
            }
            #expect(error?.rejection?.kind == .terminalState)
        }
    }

    @Test func unknownTasksStepsAndDuplicates() throws {
        try withTemporaryStore { store, _ throws in
            #expect(storeError { try store.transition(taskID: "nope", event: .start) }?.kind == .notFound)
            _ = try store.createTask(id: "t1", owner: "alice", agent: "a")
            #expect(storeError { _ = try store.createTask(id: "t1", owner: "bob", agent: "a") }?.kind == .duplicate)
            try store.transition(taskID: "t1", event: .start)
            try store.transition(taskID: "t1", event: .plan, stepUpdates: [.plan([PlannedStep(id: "s1")])])
            let missing = storeError {
                try store.transition(taskID: "t1", event: nil, stepUpdates: [.start(stepID: "zz")])
            }
            #expect(missing?.kind == .notFound)
            let dup = storeError {
                try store.transition(taskID: "t1", event: nil, stepUpdates: [.plan([PlannedStep(id: "s1")])])
            }
            #expect(dup?.kind == .duplicate)
        }
    }

    @Test func pauseKeepsTheRunningStepsCheckpointAndCancelCancelsOpenSteps() throws {
        try withTemporaryStore { store, _ throws in
            _ = try store.createTask(id: "t1", owner: "alice", agent: "a")
            try store.transition(taskID: "t1", event: .start)
            try store.transition(
                taskID: "t1", event: .plan,
                stepUpdates: [.plan([PlannedStep(id: "s1"), PlannedStep(id: "s2")]), .start(stepID: "s1")]
            )
            try store.transition(taskID: "t1", event: .pause)
            var steps = try #require(try store.task(id: "t1", owner: "alice")).steps
            // The step in flight is left running: its result, when it comes, is kept.
            #expect(steps.map(\.state) == [.running, .pending])
            let late = try store.transition(
                taskID: "t1", event: .stepDone,
                stepUpdates: [.finish(stepID: "s1", outcome: StepOutcome(state: .completed, output: "paid for"))]
            )
            #expect(late.state == .paused)
            steps = try #require(try store.task(id: "t1", owner: "alice")).steps
            #expect(steps.map(\.state) == [.completed, .pending])
            #expect(steps[0].output == "paid for")
            #expect(steps[0].attempts == 1)
            // Steps do not start while paused.
            #expect(
                storeError { try store.transition(taskID: "t1", event: nil, stepUpdates: [.start(stepID: "s2")]) }?
                    .rejection?.kind == .invalidStepTransition)
            try store.transition(taskID: "t1", event: .resume, stepUpdates: [.start(stepID: "s2")])
            try store.transition(taskID: "t1", event: .cancel)
            steps = try #require(try store.task(id: "t1", owner: "alice")).steps
            #expect(steps.map(\.state) == [.completed, .cancelled])
            #expect(steps[1].attempts == 1)
            let types = try store.events(taskID: "t1").map(\.type)
            #expect(types.suffix(2) == ["task.transition", "step.cancelled"])
            #expect(!types.contains("step.requeued"))
        }
    }
}
