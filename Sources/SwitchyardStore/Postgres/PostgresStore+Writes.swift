public import SwitchyardCore
public import SwitchyardTasks

extension PostgresStore {
    /// Creates a task in `idle` with history event 1 (`task.created`).
    /// - Throws: `.duplicate` if `id` exists.
    public func createTask(
        id: String, owner: String, agent: String, metadata: JSON = .object([:])
    ) async throws(StoreError) -> TaskRecord {
        let now = configuration.clock()
        return try await write { connection throws(StoreError) in
            try connection.transaction { () throws(StoreError) in
                try TaskWrites.insertTask(connection, id: id, owner: owner, agent: agent, metadata: metadata, now: now)
            }
        }
    }

    /// Creates a task with its steps planned and ready to run (`executing`) in one transaction, as
    /// the SQLite store's `createPlannedTask`: a crash leaves no task or one that is resumed.
    /// - Throws: `.duplicate` if `id` or a step id exists.
    public func createPlannedTask(
        id: String, owner: String, agent: String, metadata: JSON = .object([:]), steps: [PlannedStep]
    ) async throws(StoreError) -> TaskRecord {
        let now = configuration.clock()
        let me = configuration.instanceID
        return try await write { connection throws(StoreError) in
            try connection.transaction { () throws(StoreError) in
                _ = try TaskWrites.insertTask(
                    connection, id: id, owner: owner, agent: agent, metadata: metadata, now: now)
                _ = try Self.applyTransition(
                    connection, taskID: id, owner: owner, event: .start, stepUpdates: [.plan(steps)], events: [],
                    now: now, instanceID: me)
                return try Self.applyTransition(
                    connection, taskID: id, owner: owner, event: .plan, stepUpdates: [], events: [], now: now,
                    instanceID: me)
            }
        }
    }

    /// The checkpoint, as `SQLiteStore.transition`: `event` (validated by `TaskMachine` on the
    /// stored state), the step updates, the machine's store actions and the history in one
    /// transaction, with the task's row locked (`FOR UPDATE`) so concurrent changes of one task,
    /// from any process, apply one after the other.
    ///
    /// Starting or finishing a step of a task another process holds a live claim on is refused
    /// (`.rejected`): a process that lost its lease (it stalled past it, and another took the task
    /// over) cannot checkpoint over the new holder's work. Pause, resume and cancel carry no step
    /// update and apply from any process.
    @discardableResult
    public func transition(
        taskID: String, owner: String? = nil, event: TaskEvent?, stepUpdates: [StepUpdate] = [],
        events: [NewHistoryEvent] = []
    ) async throws(StoreError) -> TaskRecord {
        let now = configuration.clock()
        let me = configuration.instanceID
        return try await write { connection throws(StoreError) in
            try connection.transaction { () throws(StoreError) in
                try Self.applyTransition(
                    connection, taskID: taskID, owner: owner, event: event, stepUpdates: stepUpdates, events: events,
                    now: now, instanceID: me)
            }
        }
    }

    // MARK: - Inside a transaction (also used by the benchmark's batches)

    static func applyTransition(
        _ connection: PostgresConnection, taskID: String, owner: String?, event: TaskEvent?,
        stepUpdates: [StepUpdate], events: [NewHistoryEvent], now: Int64, instanceID: String
    ) throws(StoreError) -> TaskRecord {
        let path = connection.location
        guard let locked = try lockTask(connection, id: taskID, owner: owner) else {
            throw StoreError(kind: .notFound, message: "no such task", path: path)
        }
        let task = locked.task
        let from = task.state
        let touchesSteps = stepUpdates.contains {
            if case .plan = $0 { return false }
            return true
        }
        if touchesSteps, let holder = locked.leaseOwner, holder != instanceID, (locked.leaseExpiresAt ?? 0) > now {
            throw .rejected(
                TaskError(
                    kind: .invalidStepTransition, state: from, event: event,
                    reason: "the task is being run by another process"),
                path: path)
        }
        // The claim stays as it is: only its holder releases it, once no step of it is in flight
        // there (a pause lands while a step runs; a resume elsewhere must not start it again).
        return try TaskWrites.apply(
            connection, to: task, event: event, stepUpdates: stepUpdates, events: events, now: now)
    }

    /// The task and its claim, its row locked until the transaction ends.
    static func lockTask(
        _ connection: PostgresConnection, id: String, owner: String?
    ) throws(StoreError) -> (task: TaskRecord, leaseOwner: String?, leaseExpiresAt: Int64?)? {
        let path = connection.location
        let sql =
            "SELECT \(Rows.taskColumns), lease_owner, lease_expires_at FROM tasks WHERE id = $1"
            + (owner == nil ? " FOR UPDATE" : " AND owner = $2 FOR UPDATE")
        let arguments: [SQLValue] = owner.map { [.text(id), .text($0)] } ?? [.text(id)]
        return try connection.queryOne(sql, arguments) { row throws(StoreError) in
            (try Rows.task(row, path: path), row.optionalText(8), row.optionalInt64(9))
        }
    }

    /// Puts the task's `running` steps (in flight in a process that is gone) back to `pending`,
    /// attempts kept, with a `step.requeued` history entry each. The task's row must be locked.
    static func requeueRunningSteps(
        _ connection: PostgresConnection, taskID: String, reason: String, now: Int64
    ) throws(StoreError) {
        let requeued = try connection.query(
            "UPDATE steps SET state = 'pending' WHERE task_id = $1 AND state = 'running' RETURNING step_id, attempts",
            [.text(taskID)]
        ) { row in (row.text(0), row.int(1)) }
        guard !requeued.isEmpty else { return }
        let last = try connection.queryOne("SELECT last_event_seq FROM tasks WHERE id = $1", [.text(taskID)]) {
            $0.int64(0)
        }
        var history = History(taskID: taskID, now: now, lastSeq: last ?? 0)
        for (stepID, attempts) in requeued {
            history.add(
                "step.requeued", ["step_id": .string(stepID), "attempts": .int(attempts), "reason": .string(reason)])
        }
        try history.flush(connection)
        try connection.run(
            "UPDATE tasks SET last_event_seq = $1, updated_at = $2 WHERE id = $3",
            [.integer(history.lastSeq), .integer(now), .text(taskID)])
    }
}

extension SQLValue {
    /// A boolean parameter in PostgreSQL's text form.
    static func bool(_ value: Bool) -> SQLValue { .text(value ? "true" : "false") }

    /// A `text[]` parameter in PostgreSQL's array literal form (every element quoted and escaped).
    static func textArray(_ values: [String]) -> SQLValue {
        var literal = "{"
        for (i, value) in values.enumerated() {
            if i > 0 { literal += "," }
            literal += "\""
            for character in value.unicodeScalars {
                if character == "\"" || character == "\\" { literal += "\\" }
                literal.unicodeScalars.append(character)
            }
            literal += "\""
        }
        return .text(literal + "}")
    }
}
