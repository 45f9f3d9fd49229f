/// Where one step of a task is. Raw values are the database spelling.
///
/// ```
/// pending ──start──▶ running ──finish──▶ completed | failed | cancelled
///    ▲                  │
///    └────requeue───────┘   (pause, or a process that died with the step in flight)
/// pending | running ──cancel──▶ cancelled
/// ```
public enum StepState: String, Sendable, Hashable, CaseIterable {
    case pending
    case running
    case completed
    case failed
    case cancelled

    public var isFinished: Bool {
        switch self {
        case .completed, .failed, .cancelled: true
        case .pending, .running: false
        }
    }

    /// Whether a step may move from `self` to `next` (the diagram above).
    public func canMove(to next: StepState) -> Bool {
        switch (self, next) {
        case (.pending, .running), (.running, .pending): true
        case (.running, .completed), (.running, .failed): true
        case (.pending, .cancelled), (.running, .cancelled): true
        default: false
        }
    }
}
