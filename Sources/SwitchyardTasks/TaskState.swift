/// Where a task is in its lifecycle. Raw values are the wire and database spelling.
public enum TaskState: String, Sendable, Hashable, CaseIterable {
    case idle
    case planning
    case executing
    case paused
    case completed
    case failed
    case cancelled

    /// Terminal states accept no event at all (`TaskError.Kind.terminalState`).
    public var isTerminal: Bool {
        switch self {
        case .completed, .failed, .cancelled: true
        case .idle, .planning, .executing, .paused: false
        }
    }

    /// States a restarted process picks up again on its own: work was under way when it stopped.
    /// `paused` waits for an explicit `resume`, `idle` for `start`.
    public var isResumable: Bool { self == .planning || self == .executing }
}

/// What can happen to a task. Raw values are the wire and history spelling.
public enum TaskEvent: String, Sendable, Hashable, CaseIterable {
    /// idle → planning
    case start
    /// planning → executing, with the planned steps
    case plan
    /// executing → executing: a step finished, run the next one; paused → paused: the step that
    /// was in flight when the task was paused finished, its result is kept
    case stepDone = "step_done"
    /// planning/executing → paused
    case pause
    /// paused → executing
    case resume
    /// executing (or paused, when the last step was in flight) → completed
    case complete
    /// any non-terminal → failed
    case fail
    /// any non-terminal → cancelled
    case cancel

    /// The verb in a rejection reason: "cannot \(verb) a task that is completed".
    var verb: String {
        switch self {
        case .start: "start"
        case .plan: "plan"
        case .stepDone: "finish a step of"
        case .pause: "pause"
        case .resume: "resume"
        case .complete: "complete"
        case .fail: "fail"
        case .cancel: "cancel"
        }
    }
}
