public import SwitchyardCore

/// A change to a task's steps, committed in the same transaction as the task transition it rides with.
public enum StepUpdate: Sendable, Hashable {
    /// Appends steps to the plan as `pending`, after any existing ones.
    case plan([PlannedStep])
    /// `pending` → `running`: attempts + 1, `startedAt` = now. `request`, when given, replaces the planned one.
    case start(stepID: String, request: JSON? = nil)
    /// `running` → `outcome.state` (`completed`, `failed` or `cancelled`) with what answered.
    case finish(stepID: String, outcome: StepOutcome)
}

/// A step as the planner produced it.
public struct PlannedStep: Sendable, Hashable {
    public var id: String
    public var request: JSON?

    public init(id: String, request: JSON? = nil) {
        self.id = id
        self.request = request
    }
}

/// How a step attempt ended.
public struct StepOutcome: Sendable, Hashable {
    public var state: StepState
    public var provider: String?
    public var model: String?
    public var output: String?
    public var response: JSON?
    public var usage: JSON?
    public var errorClass: String?

    public init(
        state: StepState, provider: String? = nil, model: String? = nil, output: String? = nil,
        response: JSON? = nil, usage: JSON? = nil, errorClass: String? = nil
    ) {
        self.state = state
        self.provider = provider
        self.model = model
        self.output = output
        self.response = response
        self.usage = usage
        self.errorClass = errorClass
    }
}
