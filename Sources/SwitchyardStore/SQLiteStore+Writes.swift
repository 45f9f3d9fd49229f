public import SwitchyardCore
public import SwitchyardTasks
import Synchronization

extension SQLiteStore {
    /// Creates a task in `idle` with history event 1 (`task.created`). Blocking.
    /// - Parameter owner: the configured NAME of the calling API key, never the key.
    /// - Throws: `.duplicate` if `id` exists.
    public func createTask(
        id: String, owner: String, agent: String, metadata: JSON = .object([:])
    ) throws(StoreError) -> TaskRecord {
        let now = configuration.clock()
        return try write { connection throws(StoreError) in
            try connection.writeTransaction { () throws(StoreError) in
                try Self.insertTask(connection, id: id, owner: owner, agent: agent, metadata: metadata, now: now)
            }
        }
    }

    /// Creates a task with its steps planned and ready to run, in ONE transaction: `task.created`,
    /// then `start` with the steps planned, then `plan` (→ `executing`). Either all of it is
    /// committed or none: a crash can never leave a task that nothing resumes (an `idle` one).
    /// Blocking. - Throws: `.duplicate` if `id` or a step id exists.
    public func createPlannedTask(
        id: String, owner: String, agent: String, metadata: JSON = .object([:]), steps: [PlannedStep]
    ) throws(StoreError) -> TaskRecord {
        let now = configuration.clock()
        return try write { connection throws(StoreError) in
            try connection.writeTransaction { () throws(StoreError) in
                _ = try Self.insertTask(connection, id: id, owner: owner, agent: agent, metadata: metadata, now: now)
                _ = try Self.applyTransition(
                    connection, taskID: id, owner: owner, event: .start, stepUpdates: [.plan(steps)], events: [],
                    now: now)
                return try Self.applyTransition(
                    connection, taskID: id, owner: owner, event: .plan, stepUpdates: [], events: [], now: now)
            }
        }
    }

    /// The checkpoint: applies `event` (validated by `TaskMachine` against the stored state), the step
    /// updates, the machine's store actions and the history in one `BEGIN IMMEDIATE` transaction.
    /// When it returns, all of it is committed (see `Durability`); when it throws, nothing was written.
    ///
    /// - Parameters:
    ///   - owner: when given, the task must belong to it (else `.notFound`).
    ///   - event: `nil` to only update steps or append history (the task must not be terminal).
    ///   - stepUpdates: applied in order; `.start` needs the task to end up `executing`.
    ///   - events: caller history entries, appended after the store's own (`task.transition`,
    ///     `step.planned`, `step.started`, `step.finished`, `step.requeued`, `step.cancelled`).
    /// - Throws: `.rejected` (with `rejection`) for an event or step update the rules refuse,
    ///   `.notFound` for an unknown task or step, `.duplicate` for a planned step id that exists.
    @discardableResult
    public func transition(
        taskID: String, owner: String? = nil, event: TaskEvent?, stepUpdates: [StepUpdate] = [],
        events: [NewHistoryEvent] = []
    ) throws(StoreError) -> TaskRecord {
        let now = configuration.clock()
        return try write { connection throws(StoreError) in
            try connection.writeTransaction { () throws(StoreError) in
                try Self.applyTransition(
                    connection, taskID: taskID, owner: owner, event: event, stepUpdates: stepUpdates,
                    events: events, now: now
                )
            }
        }
    }

    /// Start-up recovery, in one transaction: every `running` step of a non-terminal task (in flight
    /// when the process died) goes back to `pending` with its attempts kept (`step.requeued`), so it
    /// runs again: at-least-once for the in-flight step. Returns the tasks in `planning` or `executing`,
    /// oldest first, each with its first unfinished step.
    public func resumeAfterRestart() throws(StoreError) -> [ResumePoint] {
        let now = configuration.clock()
        let path = self.path
        return try write { connection throws(StoreError) in
            try connection.writeTransaction { () throws(StoreError) in
                let requeued = try connection.query(
                    """
                    UPDATE steps SET state = 'pending' WHERE state = 'running' AND task_id IN
                        (SELECT id FROM tasks WHERE state NOT IN ('completed', 'failed', 'cancelled'))
                    RETURNING task_id, step_id, attempts
                    """
                ) { row in (row.text(0), row.text(1), row.int(2)) }
                for (taskID, stepID, attempts) in requeued {
                    var history = History(taskID: taskID, connection: connection, path: path, now: now)
                    try history.load()
                    history.add(
                        "step.requeued", ["step_id": .string(stepID), "attempts": .int(attempts), "reason": "restart"])
                    try history.flush()
                    try connection.run(
                        "UPDATE tasks SET last_event_seq = ?, updated_at = ? WHERE id = ?",
                        [.integer(history.lastSeq), .integer(now), .text(taskID)]
                    )
                }
                return try connection.query(
                    """
                    SELECT \(Rows.taskColumns(alias: "t")), \(Rows.stepColumns(alias: "s"))
                    FROM tasks t LEFT JOIN steps s ON s.task_id = t.id AND s.idx =
                        (SELECT min(idx) FROM steps WHERE task_id = t.id AND state IN ('pending', 'running'))
                    WHERE t.state IN ('planning', 'executing')
                    ORDER BY t.seq
                    """
                ) { row throws(StoreError) in
                    let task = try Rows.task(row, path: path)
                    let step = row.isNull(8) ? nil : try Rows.step(row, path: path, offset: 8)
                    return ResumePoint(task: task, nextStep: step)
                }
            }
        }
    }

    // MARK: - Inside a write transaction (also used by the benchmark's batches)

    static func insertTask(
        _ connection: SQLiteConnection, id: String, owner: String, agent: String, metadata: JSON, now: Int64
    ) throws(StoreError) -> TaskRecord {
        do {
            try connection.run(
                """
                INSERT INTO tasks (id, owner, agent, state, metadata, created_at, updated_at, last_event_seq)
                VALUES (?, ?, ?, 'idle', ?, ?, ?, 1)
                """,
                [.text(id), .text(owner), .text(agent), .json(metadata), .integer(now), .integer(now)]
            )
        } catch  where error.kind == .duplicate {
            throw StoreError(kind: .duplicate, message: "a task with this id already exists", path: connection.path)
        }
        try connection.run(
            "INSERT INTO events (task_id, seq, type, data, at) VALUES (?, 1, 'task.created', ?, ?)",
            [.text(id), .json(["agent": .string(agent)]), .integer(now)]
        )
        return TaskRecord(
            id: id, owner: owner, agent: agent, state: .idle, metadata: metadata, createdAt: now, updatedAt: now,
            lastEventSeq: 1
        )
    }

    static func applyTransition(
        _ connection: SQLiteConnection, taskID: String, owner: String?, event: TaskEvent?,
        stepUpdates: [StepUpdate], events: [NewHistoryEvent], now: Int64
    ) throws(StoreError) -> TaskRecord {
        let path = connection.path
        guard var task = try loadTask(connection, id: taskID, owner: owner) else {
            throw StoreError(kind: .notFound, message: "no such task", path: path)
        }
        let from = task.state
        var actions: [TaskAction] = []
        if let event {
            do {
                let transition = try TaskMachine.transition(from: from, on: event)
                task.state = transition.to
                actions = transition.actions
            } catch {
                throw .rejected(error, path: path)
            }
        } else if from.isTerminal {
            throw .rejected(
                TaskError(
                    kind: .terminalState, state: from, event: nil,
                    reason: "cannot update a task that is \(from.rawValue)"
                ),
                path: path
            )
        }

        var history = History(taskID: taskID, connection: connection, path: path, now: now, lastSeq: task.lastEventSeq)
        for update in stepUpdates {
            try applyStepUpdate(connection, update, task: task, from: from, event: event, history: &history)
        }
        if let event {
            history.add(
                "task.transition",
                ["event": .string(event.rawValue), "from": .string(from.rawValue), "to": .string(task.state.rawValue)]
            )
        }
        for action in actions {
            switch action {
            case .cancelOpenSteps:
                let steps = try connection.query(
                    """
                    UPDATE steps SET state = 'cancelled', finished_at = ?
                    WHERE task_id = ? AND state IN ('pending', 'running') RETURNING step_id
                    """,
                    [.integer(now), .text(taskID)]
                ) { $0.text(0) }
                for step in steps { history.add("step.cancelled", ["step_id": .string(step)]) }
            case .runPlanner, .runNextStep, .interruptInFlight, .finish:
                break  // the runtime's, after the commit
            }
        }
        for entry in events { history.add(entry.type, entry.data) }
        try history.flush()
        task.updatedAt = now
        task.lastEventSeq = history.lastSeq
        try connection.run(
            "UPDATE tasks SET state = ?, updated_at = ?, last_event_seq = ? WHERE id = ?",
            [.text(task.state.rawValue), .integer(now), .integer(task.lastEventSeq), .text(taskID)]
        )
        return task
    }

    private static func applyStepUpdate(
        _ connection: SQLiteConnection, _ update: StepUpdate, task: TaskRecord, from: TaskState, event: TaskEvent?,
        history: inout History
    ) throws(StoreError) {
        let path = connection.path
        func reject(_ reason: String) -> StoreError {
            .rejected(TaskError(kind: .invalidStepTransition, state: from, event: event, reason: reason), path: path)
        }
        func stepState(_ stepID: String) throws(StoreError) -> StepState {
            let text = try connection.queryOne(
                "SELECT state FROM steps WHERE task_id = ? AND step_id = ?", [.text(task.id), .text(stepID)]
            ) { $0.text(0) }
            guard let text else { throw StoreError(kind: .notFound, message: "no such step", path: path) }
            guard let state = StepState(rawValue: text) else {
                throw StoreError(kind: .corrupt, message: "unknown step state '\(text)'", path: path)
            }
            return state
        }
        switch update {
        case .plan(let steps):
            var index =
                try connection.queryOne(
                    "SELECT coalesce(max(idx) + 1, 0) FROM steps WHERE task_id = ?", [.text(task.id)]
                ) { $0.int(0) } ?? 0
            for step in steps {
                do {
                    try connection.run(
                        "INSERT INTO steps (task_id, step_id, idx, state, request) VALUES (?, ?, ?, 'pending', ?)",
                        [.text(task.id), .text(step.id), .int(index), .json(step.request)]
                    )
                } catch  where error.kind == .duplicate {
                    throw StoreError(kind: .duplicate, message: "step id '\(step.id)' already exists", path: path)
                }
                index += 1
            }
            history.add("step.planned", ["step_ids": .array(steps.map { .string($0.id) })])
        case .start(let stepID, let request):
            guard task.state == .executing else {
                throw reject("cannot start a step of a task that is \(task.state.rawValue)")
            }
            let state = try stepState(stepID)
            guard state.canMove(to: .running) else { throw reject("cannot start a step that is \(state.rawValue)") }
            let attempts = try connection.queryOne(
                """
                UPDATE steps SET state = 'running', attempts = attempts + 1, started_at = ?, finished_at = NULL,
                    request = coalesce(?, request)
                WHERE task_id = ? AND step_id = ? RETURNING attempts
                """,
                [.integer(history.now), .json(request), .text(task.id), .text(stepID)]
            ) { $0.int(0) }
            history.add("step.started", ["step_id": .string(stepID), "attempt": .int(attempts ?? 0)])
        case .finish(let stepID, let outcome):
            guard outcome.state.isFinished else {
                throw reject("a step outcome must be completed, failed or cancelled, not \(outcome.state.rawValue)")
            }
            let state = try stepState(stepID)
            guard state.canMove(to: outcome.state) else {
                throw reject("cannot finish a step that is \(state.rawValue)")
            }
            try connection.run(
                """
                UPDATE steps SET state = ?, provider = ?, model = ?, output = ?, response = ?, usage = ?,
                    error_class = ?, finished_at = ?
                WHERE task_id = ? AND step_id = ?
                """,
                [
                    .text(outcome.state.rawValue), .text(outcome.provider), .text(outcome.model), .text(outcome.output),
                    .json(outcome.response), .json(outcome.usage), .text(outcome.errorClass), .integer(history.now),
                    .text(task.id), .text(stepID),
                ]
            )
            var data: JSONObject = ["step_id": .string(stepID), "state": .string(outcome.state.rawValue)]
            if let errorClass = outcome.errorClass { data["error_class"] = .string(errorClass) }
            history.add("step.finished", .object(data))
        }
    }

    static func loadTask(_ connection: SQLiteConnection, id: String, owner: String?) throws(StoreError) -> TaskRecord? {
        let path = connection.path
        if let owner {
            return try connection.queryOne(
                "SELECT \(Rows.taskColumns) FROM tasks WHERE id = ? AND owner = ?", [.text(id), .text(owner)]
            ) { row throws(StoreError) in try Rows.task(row, path: path) }
        }
        return try connection.queryOne("SELECT \(Rows.taskColumns) FROM tasks WHERE id = ?", [.text(id)]) {
            row throws(StoreError) in try Rows.task(row, path: path)
        }
    }
}

/// History entries of one task collected during a transaction, numbered from the task's `last_event_seq`.
struct History {
    let taskID: String
    let connection: SQLiteConnection
    let path: String
    let now: Int64
    private(set) var lastSeq: Int64
    private var pending: [(type: String, data: JSON)] = []

    init(taskID: String, connection: SQLiteConnection, path: String, now: Int64, lastSeq: Int64 = 0) {
        self.taskID = taskID
        self.connection = connection
        self.path = path
        self.now = now
        self.lastSeq = lastSeq
    }

    mutating func load() throws(StoreError) {
        lastSeq =
            try connection.queryOne("SELECT last_event_seq FROM tasks WHERE id = ?", [.text(taskID)]) { $0.int64(0) }
            ?? 0
    }

    mutating func add(_ type: String, _ data: JSON) { pending.append((type, data)) }

    mutating func flush() throws(StoreError) {
        for entry in pending {
            lastSeq += 1
            try connection.run(
                "INSERT INTO events (task_id, seq, type, data, at) VALUES (?, ?, ?, ?, ?)",
                [.text(taskID), .integer(lastSeq), .text(entry.type), .json(entry.data), .integer(now)]
            )
        }
        pending.removeAll()
    }
}
