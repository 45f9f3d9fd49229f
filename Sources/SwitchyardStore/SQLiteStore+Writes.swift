public import SwitchyardCore
public import SwitchyardTasks

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
                try TaskWrites.insertTask(connection, id: id, owner: owner, agent: agent, metadata: metadata, now: now)
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
                _ = try TaskWrites.insertTask(
                    connection, id: id, owner: owner, agent: agent, metadata: metadata, now: now)
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
                    let last = try connection.queryOne(
                        "SELECT last_event_seq FROM tasks WHERE id = ?", [.text(taskID)]
                    ) { $0.int64(0) }
                    var history = History(taskID: taskID, now: now, lastSeq: last ?? 0)
                    history.add(
                        "step.requeued", ["step_id": .string(stepID), "attempts": .int(attempts), "reason": "restart"])
                    try history.flush(connection)
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

    static func applyTransition(
        _ connection: SQLiteConnection, taskID: String, owner: String?, event: TaskEvent?,
        stepUpdates: [StepUpdate], events: [NewHistoryEvent], now: Int64
    ) throws(StoreError) -> TaskRecord {
        guard let task = try loadTask(connection, id: taskID, owner: owner) else {
            throw StoreError(kind: .notFound, message: "no such task", path: connection.path)
        }
        return try TaskWrites.apply(
            connection, to: task, event: event, stepUpdates: stepUpdates, events: events, now: now)
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
