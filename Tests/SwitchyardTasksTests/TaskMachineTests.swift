import SwitchyardTasks
import Testing

/// The lifecycle (README, "Durable tasks") written out by hand, independently of `TaskMachine`'s switch.
private let expected: [TaskState: [TaskEvent: TaskState]] = [
    .idle: [.start: .planning, .fail: .failed, .cancel: .cancelled],
    .planning: [.plan: .executing, .pause: .paused, .fail: .failed, .cancel: .cancelled],
    .executing: [
        .stepDone: .executing, .pause: .paused, .complete: .completed, .fail: .failed, .cancel: .cancelled,
    ],
    // The step in flight when the task was paused still checkpoints: its result is kept.
    .paused: [.stepDone: .paused, .resume: .executing, .complete: .completed, .fail: .failed, .cancel: .cancelled],
    .completed: [:],
    .failed: [:],
    .cancelled: [:],
]

@Suite struct TaskMachineTests {
    @Test(arguments: TaskState.allCases, TaskEvent.allCases)
    func everyPairMatchesTheTable(state: TaskState, event: TaskEvent) throws {
        let want = expected[state]?[event]
        do {
            let transition = try TaskMachine.transition(from: state, on: event)
            #expect(want == transition.to, "\(state) + \(event) was accepted")
            #expect(transition.from == state && transition.event == event)
            // Only a pause and the checkpoint landing on a paused task leave the runtime nothing to do.
            #expect(!transition.actions.isEmpty || transition.to == .paused)
        } catch {
            #expect(want == nil, "\(state) + \(event) should go to \(want.map(\.rawValue) ?? "-")")
            #expect(error.state == state && error.event == event)
            #expect(error.kind == (state.isTerminal ? .terminalState : .invalidTransition))
            #expect(error.reason.hasPrefix("cannot "))
            #expect(error.reason.hasSuffix("a task that is \(state.rawValue)"))
        }
    }

    @Test func rejectionReasonReadsWell() {
        #expect(
            throws: TaskError(
                kind: .terminalState, state: .completed, event: .resume,
                reason: "cannot resume a task that is completed"
            )
        ) { try TaskMachine.transition(from: .completed, on: .resume) }
        #expect(
            throws: TaskError(
                kind: .invalidTransition, state: .planning, event: .stepDone,
                reason: "cannot finish a step of a task that is planning"
            )
        ) { try TaskMachine.transition(from: .planning, on: .stepDone) }
    }

    @Test func actions() throws {
        #expect(try TaskMachine.transition(from: .idle, on: .start).actions == [.runPlanner])
        #expect(try TaskMachine.transition(from: .planning, on: .plan).actions == [.runNextStep])
        #expect(try TaskMachine.transition(from: .paused, on: .resume).actions == [.runNextStep])
        // A pause never interrupts or requeues the step in flight: its paid-for result is kept.
        #expect(try TaskMachine.transition(from: .executing, on: .pause).actions == [])
        #expect(try TaskMachine.transition(from: .paused, on: .stepDone).actions == [])
        #expect(try TaskMachine.transition(from: .paused, on: .complete).actions == [.finish])
        #expect(
            try TaskMachine.transition(from: .executing, on: .cancel).actions
                == [.interruptInFlight, .cancelOpenSteps, .finish]
        )
        #expect(try TaskMachine.transition(from: .executing, on: .complete).actions == [.finish])
    }

    @Test func handleKeepsStateOnRejection() throws {
        var machine = TaskMachine()
        _ = try machine.handle(.start)
        _ = try machine.handle(.plan)
        _ = try machine.handle(.stepDone)
        #expect(machine.state == .executing)
        #expect(throws: TaskError.self) { try machine.handle(.resume) }
        #expect(machine.state == .executing)
        _ = try machine.handle(.complete)
        #expect(machine.state == .completed)
        for event in TaskEvent.allCases {
            #expect(throws: TaskError.self) { try machine.handle(event) }
        }
        #expect(machine.state == .completed)
    }

    @Test func terminalAndResumable() {
        #expect(TaskState.allCases.filter(\.isTerminal) == [.completed, .failed, .cancelled])
        #expect(TaskState.allCases.filter(\.isResumable) == [.planning, .executing])
    }

    @Test func markdownTableIsTheDocumentedOne() {
        let table = """
            | state \\ event | start | plan | step_done | pause | resume | complete | fail | cancel |
            |---|---|---|---|---|---|---|---|---|
            | idle | planning | — | — | — | — | — | failed | cancelled |
            | planning | — | executing | — | paused | — | — | failed | cancelled |
            | executing | — | — | executing | paused | — | completed | failed | cancelled |
            | paused | — | — | paused | — | executing | completed | failed | cancelled |
            | completed | — | — | — | — | — | — | — | — |
            | failed | — | — | — | — | — | — | — | — |
            | cancelled | — | — | — | — | — | — | — | — |

            """
        #expect(TaskMachine.markdownTable() == table)
    }
}
