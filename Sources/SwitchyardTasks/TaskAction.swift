/// What the owner of a `TaskMachine` does after a transition has been persisted.
///
/// The store action (`cancelOpenSteps`) is performed by the task store inside the same transaction
/// as the state change; the others by the runtime once the commit has returned. `pause` has no
/// action: it only keeps the next step from starting (the runtime reads the state before each step).
public enum TaskAction: String, Sendable, Hashable, CaseIterable {
    /// Ask the planner for the steps (then send `plan`).
    case runPlanner = "run_planner"
    /// Run the first step that is not finished (then send `step_done`, or `complete` when none is left).
    case runNextStep = "run_next_step"
    /// Cancel the upstream call in flight, if any.
    case interruptInFlight = "interrupt_in_flight"
    /// Store: `pending` and `running` steps become `cancelled`.
    case cancelOpenSteps = "cancel_open_steps"
    /// The task is over: release its resources and wake whoever waits on it.
    case finish
}
