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

/// How a step attempt ended: its state and what answered (`outcome.provider` and the other
/// fields of `StepAnswer` read through).
@dynamicMemberLookup
public struct StepOutcome: Sendable, Hashable {
    public var state: StepState
    public var answer: StepAnswer

    public init(
        state: StepState, provider: String? = nil, model: String? = nil, output: String? = nil,
        response: JSON? = nil, usage: JSON? = nil, errorClass: String? = nil
    ) {
        self.state = state
        self.answer = StepAnswer(
            provider: provider, model: model, output: output, response: response, usage: usage, errorClass: errorClass)
    }

    public subscript<T>(dynamicMember field: WritableKeyPath<StepAnswer, T>) -> T {
        get { answer[keyPath: field] }
        set { answer[keyPath: field] = newValue }
    }
}

/// What answered a step's attempt, as a finished attempt reports it (`StepOutcome`) and a step
/// row keeps it for the last one (`StepRecord`).
public struct StepAnswer: Sendable, Hashable {
    /// Provider and model that answered.
    public var provider: String?
    public var model: String?
    public var output: String?
    public var response: JSON?
    public var usage: JSON?
    /// A stable error kind (e.g. `UpstreamFailure` kind), never a message with user data.
    public var errorClass: String?

    public init(
        provider: String? = nil, model: String? = nil, output: String? = nil, response: JSON? = nil,
        usage: JSON? = nil, errorClass: String? = nil
    ) {
        self.provider = provider
        self.model = model
        self.output = output
        self.response = response
        self.usage = usage
        self.errorClass = errorClass
    }
}
