import SwitchyardTasks
import Testing

private let allowed: Set<[StepState]> = [
    [.pending, .running], [.running, .pending], [.running, .completed], [.running, .failed],
    [.pending, .cancelled], [.running, .cancelled],
]

@Suite struct StepStateTests {
    @Test(arguments: StepState.allCases, StepState.allCases)
    func moves(from: StepState, to: StepState) {
        #expect(from.canMove(to: to) == allowed.contains([from, to]))
    }

    @Test func finished() {
        #expect(StepState.allCases.filter(\.isFinished) == [.completed, .failed, .cancelled])
    }
}
