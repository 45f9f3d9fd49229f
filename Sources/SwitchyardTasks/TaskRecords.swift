public import SwitchyardCore

/// A task row as stored. Times are Unix milliseconds. `owner` is the configured NAME of the API key
/// that created the task, never the key itself.
public struct TaskRecord: Sendable, Hashable {
    public var id: String
    public var owner: String
    public var agent: String
    public var state: TaskState
    public var metadata: JSON
    public var createdAt: Int64
    public var updatedAt: Int64
    /// The `seq` of the newest history event; clients poll `events(after:)` from here.
    public var lastEventSeq: Int64

    public init(
        id: String, owner: String, agent: String, state: TaskState, metadata: JSON, createdAt: Int64,
        updatedAt: Int64, lastEventSeq: Int64
    ) {
        self.id = id
        self.owner = owner
        self.agent = agent
        self.state = state
        self.metadata = metadata
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.lastEventSeq = lastEventSeq
    }
}

/// One step of a task as stored. Times are Unix milliseconds. What answered its last attempt is
/// `answer`, whose fields read through (`step.provider`, `step.errorClass` ...).
@dynamicMemberLookup
public struct StepRecord: Sendable, Hashable {
    public var taskID: String
    public var stepID: String
    /// 0-based position in the plan; steps run in this order.
    public var index: Int
    public var state: StepState
    /// How many times the step was started; kept across requeues (at-least-once).
    public var attempts: Int
    public var answer: StepAnswer
    public var request: JSON?
    public var startedAt: Int64?
    public var finishedAt: Int64?

    public init(
        taskID: String, stepID: String, index: Int, state: StepState, attempts: Int = 0, provider: String? = nil,
        model: String? = nil, output: String? = nil, response: JSON? = nil, usage: JSON? = nil,
        errorClass: String? = nil, request: JSON? = nil, startedAt: Int64? = nil, finishedAt: Int64? = nil
    ) {
        self.taskID = taskID
        self.stepID = stepID
        self.index = index
        self.state = state
        self.attempts = attempts
        self.answer = StepAnswer(
            provider: provider, model: model, output: output, response: response, usage: usage, errorClass: errorClass)
        self.request = request
        self.startedAt = startedAt
        self.finishedAt = finishedAt
    }

    public subscript<T>(dynamicMember field: WritableKeyPath<StepAnswer, T>) -> T {
        get { answer[keyPath: field] }
        set { answer[keyPath: field] = newValue }
    }
}

/// A task with its steps in plan order.
public struct TaskSnapshot: Sendable, Hashable {
    public var task: TaskRecord
    public var steps: [StepRecord]

    public init(task: TaskRecord, steps: [StepRecord]) {
        self.task = task
        self.steps = steps
    }

    /// The first step that is not finished, in plan order; what a resumed task runs next.
    public var firstUnfinishedStep: StepRecord? { steps.first { !$0.state.isFinished } }
}

/// An entry of a task's append-only history. `seq` starts at 1 and has no gaps per task.
public struct HistoryEvent: Sendable, Hashable {
    public var taskID: String
    public var seq: Int64
    public var type: String
    public var data: JSON
    public var at: Int64

    public init(taskID: String, seq: Int64, type: String, data: JSON, at: Int64) {
        self.taskID = taskID
        self.seq = seq
        self.type = type
        self.data = data
        self.at = at
    }
}

/// A history entry to append; the store assigns `seq` and `at`.
public struct NewHistoryEvent: Sendable, Hashable {
    public var type: String
    public var data: JSON

    public init(type: String, data: JSON = .object([:])) {
        self.type = type
        self.data = data
    }
}

/// One page of a task listing, newest first (OpenAI list shape: pass `lastID` as `after`).
public struct TaskPage: Sendable, Hashable {
    public var tasks: [TaskRecord]
    public var hasMore: Bool
    public var firstID: String? { tasks.first?.id }
    public var lastID: String? { tasks.last?.id }

    public init(tasks: [TaskRecord], hasMore: Bool) {
        self.tasks = tasks
        self.hasMore = hasMore
    }
}

/// A task to pick up after a restart, with the first step that is not finished (`nil` while
/// planning, or when every step is finished and the task only needs `complete`).
public struct ResumePoint: Sendable, Hashable {
    public var task: TaskRecord
    public var nextStep: StepRecord?

    public init(task: TaskRecord, nextStep: StepRecord?) {
        self.task = task
        self.nextStep = nextStep
    }
}
