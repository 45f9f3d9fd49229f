/// A rejected task or step transition. `reason` is a sentence fit for a 409 body
/// ("cannot resume a task that is completed"); `kind` is stable and payload-free, for metric labels.
public struct TaskError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// The event is not defined for the (non-terminal) current state.
        case invalidTransition = "invalid_transition"
        /// The task is completed, failed or cancelled: it accepts nothing.
        case terminalState = "terminal_state"
        /// A step update that does not fit the step's state (e.g. finishing a pending step).
        case invalidStepTransition = "invalid_step_transition"
    }

    public var kind: Kind
    /// The task state the event or update was rejected in.
    public var state: TaskState
    /// The rejected event; `nil` for a step update sent without an event.
    public var event: TaskEvent?
    public var reason: String

    public init(kind: Kind, state: TaskState, event: TaskEvent?, reason: String) {
        self.kind = kind
        self.state = state
        self.event = event
        self.reason = reason
    }

    public var description: String { "\(kind.rawValue): \(reason)" }
}
