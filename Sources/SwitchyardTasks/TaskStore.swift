public import SwitchyardCore

/// Where tasks, their steps and their history live: one SQLite file (`SQLiteTaskStore` in
/// SwitchyardStore) or a PostgreSQL database several processes share (`PostgresTaskStore`); any
/// backend that keeps these promises will do.
///
/// - **Checkpoints are atomic.** `transition` validates `event` against `TaskMachine` on the stored
///   state and writes the new state, the step updates, the machine's store actions
///   (`TaskAction.cancelOpenSteps`) and the history entries in one transaction: when it returns
///   all of it is durable, when it throws nothing was written. Callers act only after it returned
///   (persist, then perform).
/// - **Owners are isolated.** A read or write with an `owner` sees only that owner's tasks; another
///   owner's task is `.notFound`, exactly like a missing one.
/// - **History is gap-free.** Each task's history `seq` starts at 1 and grows by one per entry, in
///   commit order, so an event stream resumes from the last `seq` it sent.
/// - **Errors** are `StoreError`s with a stable `kind`: `.rejected` (with the machine's reason) for
///   a change the rules refuse, `.notFound`, `.duplicate`, `.invalidArgument` for a bad listing
///   cursor or limit, `.busy` when the database stayed locked; the rest are the backend's failures.
/// - **Nothing blocks the caller's thread**: every call suspends while the backend works.
///
/// A backend shared by several processes also implements `TaskClaims` (a task run by one process
/// at a time); `TaskRuntime` claims only when its store does.
public protocol TaskStore: Sendable {
    /// Names the database in errors and logs (a file path; never a credential).
    var location: String { get }

    /// Creates a task with its steps planned and ready to run, in one transaction: history
    /// `task.created`, `start` with the steps planned, then `plan` (→ `executing`). A crash leaves
    /// either no task or one the next start resumes, never one nothing resumes.
    /// - Parameter owner: the configured NAME of the calling client key, never the key.
    /// - Throws: `.duplicate` if `id` or a step id exists.
    func createTask(
        id: String, owner: String, agent: String, metadata: JSON, steps: [PlannedStep]
    ) async throws(StoreError) -> TaskRecord

    /// The checkpoint (see the type's doc): `event` (nil to only update steps; the task must not be
    /// terminal) and `stepUpdates`, applied in order, in one transaction. `owner`, when given, must
    /// own the task.
    func transition(
        taskID: String, owner: String?, event: TaskEvent?, stepUpdates: [StepUpdate]
    ) async throws(StoreError) -> TaskRecord

    /// The task with its steps in plan order, or nil when `owner` has no such task.
    func task(id: String, owner: String) async throws(StoreError) -> TaskSnapshot?

    /// One page of the owner's tasks, newest first, each with its steps, read in one snapshot.
    func listTasks(_ query: TaskQuery) async throws(StoreError) -> TaskListing

    /// History entries with `seq > after`, oldest first, at most `limit`.
    /// - Throws: `.notFound` when the task does not exist (for `owner`, when given).
    func events(taskID: String, owner: String?, after: Int64, limit: Int) async throws(StoreError) -> [HistoryEvent]

    /// Start-up recovery, in one transaction: every `running` step of a non-terminal task (in
    /// flight when the last process died) goes back to `pending` with its attempts kept
    /// (`step.requeued`). Returns the tasks in `planning` or `executing`, oldest first.
    func resumeAfterRestart() async throws(StoreError) -> [ResumePoint]

    /// Every task (all owners) that should be running: `planning` or `executing`, oldest first.
    func resumableTasks() async throws(StoreError) -> [TaskRecord]

    /// The state of each of `ids` that exists (any owner).
    func taskStates(ids: [String]) async throws(StoreError) -> [String: TaskState]

    /// Tasks per state over the whole store (every owner, every process), zero for absent states.
    func taskCounts() async throws(StoreError) -> [TaskState: Int]

    /// A value that changes whenever another process has committed since the last call, and never
    /// for this process's own commits: a running server polls it to notice `switchyard tasks`
    /// pauses, resumes and cancels. Cheap enough to ask a few times a second.
    func externalChangeVersion() async throws(StoreError) -> Int64
}

/// What `TaskStore.listTasks` lists: the owner's tasks, optionally filtered, one page after
/// `after` (the `lastID` of the previous page).
public struct TaskQuery: Sendable, Hashable {
    public var owner: String
    public var state: TaskState?
    public var agent: String?
    /// 1 to `maximumLimit`.
    public var limit: Int
    public var after: String?

    /// The largest `limit` a store accepts.
    public static let maximumLimit = 1000

    public init(owner: String, state: TaskState? = nil, agent: String? = nil, limit: Int = 20, after: String? = nil) {
        self.owner = owner
        self.state = state
        self.agent = agent
        self.limit = limit
        self.after = after
    }
}

/// One page of tasks with their steps, newest first (OpenAI list shape: pass `lastID` as `after`).
public struct TaskListing: Sendable, Hashable {
    public var tasks: [TaskSnapshot]
    public var hasMore: Bool
    public var firstID: String? { tasks.first?.task.id }
    public var lastID: String? { tasks.last?.task.id }

    public init(tasks: [TaskSnapshot], hasMore: Bool) {
        self.tasks = tasks
        self.hasMore = hasMore
    }
}
