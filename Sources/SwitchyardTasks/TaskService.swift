import SwitchyardCore

/// The operations on tasks, for the HTTP API and the `switchyard tasks` CLI alike: both go through
/// here, so they commit the same transitions with the same rules.
///
/// Each operation persists first (one store transaction), then acts: schedules, interrupts, wakes
/// event streams. `owner` is the caller's client key NAME; another owner's task is `.notFound`,
/// exactly like a missing one.
///
/// In the server the service has the runtime, which acts at once. The CLI's has none: it commits
/// to the same store, and a running server's watcher (`TaskRuntime.startWatching`) notices the
/// commit within about half a second and acts on it the same way.
public struct TaskService: Sendable {
    public let store: any TaskStore
    let runtime: TaskRuntime?

    /// The server's service: operations act on `runtime` after their commit.
    public init(runtime: TaskRuntime) {
        self.store = runtime.store
        self.runtime = runtime
    }

    /// Commits only (the CLI): a running server picks the change up through its watcher.
    public init(store: any TaskStore) {
        self.store = store
        self.runtime = nil
    }

    /// Creates the task with its steps planned (`executing`) in one store transaction, then
    /// schedules it: a crash leaves either no task (the client got no 202) or one the next start
    /// resumes.
    public func create(owner: String, _ request: TaskCreateRequest) async throws(StoreError) -> TaskSnapshot {
        let id = Self.newTaskID()
        let started = ContinuousClock.now
        _ = try await store.createTask(
            id: id, owner: owner, agent: request.agent, metadata: request.metadata, steps: request.steps)
        if let runtime {
            runtime.observer?.checkpointCommitted(duration: ContinuousClock.now - started)
            runtime.hub.notify(id)
            runtime.schedule(TaskRuntime.Job(taskID: id, owner: owner))
        }
        return try await task(id: id, owner: owner)
    }

    /// The task with its steps. Throws `.notFound` for a missing task or another owner's.
    public func task(id: String, owner: String) async throws(StoreError) -> TaskSnapshot {
        guard let snapshot = try await store.task(id: id, owner: owner) else {
            throw StoreError(kind: .notFound, message: "no such task", path: store.location)
        }
        return snapshot
    }

    /// One page of the owner's tasks, newest first.
    public func list(_ query: TaskQuery) async throws(StoreError) -> TaskListing {
        try await store.listTasks(query)
    }

    /// Pauses, resumes or cancels, and returns the task as it is after the commit. Throws
    /// `.rejected` (409) when the state machine refuses.
    ///
    /// - pause: no further step starts; a step in flight runs on and is checkpointed on the paused
    ///   task (its result is kept), so the snapshot may still show it `running`.
    /// - resume: schedules the task; with its step still in flight, the worker that runs it goes
    ///   on to the next step after the checkpoint.
    /// - cancel: `cancelled` with the open steps cancelled in the same transaction, then the step in
    ///   flight is interrupted, which aborts its upstream transfer.
    public func control(_ action: TaskControl, id: String, owner: String) async throws(StoreError) -> TaskSnapshot {
        try await commit(id, owner: owner, event: action.event)
        switch action {
        case .pause: break
        case .resume: runtime?.schedule(TaskRuntime.Job(taskID: id, owner: owner))
        case .cancel: runtime?.interruptInFlight(id)
        }
        return try await task(id: id, owner: owner)
    }

    /// History entries after `after`, oldest first, at most `limit`.
    public func events(id: String, owner: String, after: Int64, limit: Int) async throws(StoreError) -> [HistoryEvent] {
        try await store.events(taskID: id, owner: owner, after: after, limit: limit)
    }

    /// Wakes after each commit this process makes for `taskID`; ends when the server drains (at
    /// once without a runtime). Subscribe before reading history so no commit falls in between.
    public func changes(of taskID: String) -> AsyncStream<Void> {
        guard let runtime else { return AsyncStream { $0.finish() } }
        return runtime.hub.subscribe(taskID: taskID)
    }

    private func commit(
        _ id: String, owner: String, event: TaskEvent, steps: [StepUpdate] = []
    ) async throws(StoreError) {
        if let runtime {
            try await runtime.commit(TaskRuntime.Job(taskID: id, owner: owner), event: event, steps: steps)
        } else {
            _ = try await store.transition(taskID: id, owner: owner, event: event, stepUpdates: steps)
        }
    }

    /// `task_` + 24 hex digits from the system's CSPRNG.
    static func newTaskID() -> String {
        var g = SystemRandomNumberGenerator()
        return "task_" + Hex.digits(g.next(), 16) + Hex.digits(UInt64(g.next() as UInt32), 8)
    }
}

/// What a client may do to a running task (`POST /v1/tasks/{id}/{action}`, `switchyard tasks
/// {action}`). Raw values are the path segment and the CLI's subcommand.
public enum TaskControl: String, Sendable, CaseIterable {
    case pause, resume, cancel

    var event: TaskEvent {
        switch self {
        case .pause: .pause
        case .resume: .resume
        case .cancel: .cancel
        }
    }
}
