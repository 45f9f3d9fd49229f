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
                try Self.insertTask(connection, id: id, owner: owner, agent: agent, metadata: metadata, now: now)
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
                _ = try Self.insertTask(connection, id: id, owner: owner, agent: agent, metadata: metadata, now: now)
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

    static func insertTask(
        _ connection: PostgresConnection, id: String, owner: String, agent: String, metadata: JSON, now: Int64
    ) throws(StoreError) -> TaskRecord {
        do {
            try connection.run(
                """
                INSERT INTO tasks (id, owner, agent, state, metadata, created_at, updated_at, last_event_seq)
                VALUES ($1, $2, $3, 'idle', $4, $5, $5, 1)
                """,
                [.text(id), .text(owner), .text(agent), .json(metadata), .integer(now)])
        } catch  where error.kind == .duplicate {
            throw StoreError(kind: .duplicate, message: "a task with this id already exists", path: connection.location)
        }
        try connection.run(
            "INSERT INTO events (task_id, seq, type, data, at) VALUES ($1, 1, 'task.created', $2, $3)",
            [.text(id), .json(["agent": .string(agent)]), .integer(now)])
        return TaskRecord(
            id: id, owner: owner, agent: agent, state: .idle, metadata: metadata, createdAt: now, updatedAt: now,
            lastEventSeq: 1)
    }

    static func applyTransition(
        _ connection: PostgresConnection, taskID: String, owner: String?, event: TaskEvent?,
        stepUpdates: [StepUpdate], events: [NewHistoryEvent], now: Int64, instanceID: String
    ) throws(StoreError) -> TaskRecord {
        let path = connection.location
        guard let locked = try lockTask(connection, id: taskID, owner: owner) else {
            throw StoreError(kind: .notFound, message: "no such task", path: path)
        }
        var task = locked.task
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
                path: path)
        }

        var history = PostgresHistory(taskID: taskID, now: now, lastSeq: task.lastEventSeq)
        for update in stepUpdates {
            try applyStepUpdate(connection, update, task: task, from: from, event: event, history: &history)
        }
        if let event {
            history.add(
                "task.transition",
                ["event": .string(event.rawValue), "from": .string(from.rawValue), "to": .string(task.state.rawValue)])
        }
        for action in actions {
            switch action {
            case .cancelOpenSteps:
                let steps = try connection.query(
                    """
                    UPDATE steps SET state = 'cancelled', finished_at = $1
                    WHERE task_id = $2 AND state IN ('pending', 'running') RETURNING step_id
                    """,
                    [.integer(now), .text(taskID)]
                ) { $0.text(0) }
                for step in steps.sorted() { history.add("step.cancelled", ["step_id": .string(step)]) }
            case .runPlanner, .runNextStep, .interruptInFlight, .finish:
                break  // the runtime's, after the commit
            }
        }
        for entry in events { history.add(entry.type, entry.data) }
        try history.flush(connection)
        task.updatedAt = now
        task.lastEventSeq = history.lastSeq
        // The claim stays as it is: only its holder releases it, once no step of it is in flight
        // there (a pause lands while a step runs; a resume elsewhere must not start it again).
        try connection.run(
            "UPDATE tasks SET state = $1, updated_at = $2, last_event_seq = $3 WHERE id = $4",
            [.text(task.state.rawValue), .integer(now), .integer(task.lastEventSeq), .text(taskID)])
        return task
    }

    private static func applyStepUpdate(
        _ connection: PostgresConnection, _ update: StepUpdate, task: TaskRecord, from: TaskState, event: TaskEvent?,
        history: inout PostgresHistory
    ) throws(StoreError) {
        let path = connection.location
        func reject(_ reason: String) -> StoreError {
            .rejected(TaskError(kind: .invalidStepTransition, state: from, event: event, reason: reason), path: path)
        }
        func stepState(_ stepID: String) throws(StoreError) -> StepState {
            let text = try connection.queryOne(
                "SELECT state FROM steps WHERE task_id = $1 AND step_id = $2", [.text(task.id), .text(stepID)]
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
                    "SELECT coalesce(max(idx) + 1, 0) FROM steps WHERE task_id = $1", [.text(task.id)]
                ) { $0.int(0) } ?? 0
            for step in steps {
                do {
                    try connection.run(
                        "INSERT INTO steps (task_id, step_id, idx, state, request) VALUES ($1, $2, $3, 'pending', $4)",
                        [.text(task.id), .text(step.id), .int(index), .json(step.request)])
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
                UPDATE steps SET state = 'running', attempts = attempts + 1, started_at = $1, finished_at = NULL,
                    request = coalesce($2, request)
                WHERE task_id = $3 AND step_id = $4 RETURNING attempts
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
                UPDATE steps SET state = $1, provider = $2, model = $3, output = $4, response = $5, usage = $6,
                    error_class = $7, finished_at = $8
                WHERE task_id = $9 AND step_id = $10
                """,
                [
                    .text(outcome.state.rawValue), .text(outcome.provider), .text(outcome.model), .text(outcome.output),
                    .json(outcome.response), .json(outcome.usage), .text(outcome.errorClass), .integer(history.now),
                    .text(task.id), .text(stepID),
                ])
            var data: JSONObject = ["step_id": .string(stepID), "state": .string(outcome.state.rawValue)]
            if let errorClass = outcome.errorClass { data["error_class"] = .string(errorClass) }
            history.add("step.finished", .object(data))
        }
    }

    /// The task and its claim, its row locked until the transaction ends.
    static func lockTask(
        _ connection: PostgresConnection, id: String, owner: String?
    ) throws(StoreError) -> (task: TaskRecord, leaseOwner: String?, leaseExpiresAt: Int64?)? {
        let path = connection.location
        let sql =
            "SELECT \(PostgresRows.taskColumns), lease_owner, lease_expires_at FROM tasks WHERE id = $1"
            + (owner == nil ? " FOR UPDATE" : " AND owner = $2 FOR UPDATE")
        let arguments: [SQLValue] = owner.map { [.text(id), .text($0)] } ?? [.text(id)]
        return try connection.queryOne(sql, arguments) { row throws(StoreError) in
            (try PostgresRows.task(row, path: path), row.optionalText(8), row.optionalInt64(9))
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
        var history = PostgresHistory(taskID: taskID, now: now, lastSeq: last ?? 0)
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

/// History entries of one task collected during a transaction, numbered from its `last_event_seq`
/// and written with one statement.
struct PostgresHistory {
    let taskID: String
    let now: Int64
    private(set) var lastSeq: Int64
    private var pending: [(type: String, data: JSON)] = []

    init(taskID: String, now: Int64, lastSeq: Int64) {
        self.taskID = taskID
        self.now = now
        self.lastSeq = lastSeq
    }

    mutating func add(_ type: String, _ data: JSON) { pending.append((type, data)) }

    mutating func flush(_ connection: PostgresConnection) throws(StoreError) {
        guard !pending.isEmpty else { return }
        let first = lastSeq + 1
        try connection.run(
            """
            INSERT INTO events (task_id, seq, type, data, at)
            SELECT $1, $2 + ordinality - 1, type, data, $3
            FROM unnest($4::text[], $5::text[]) WITH ORDINALITY AS entries (type, data, ordinality)
            """,
            [
                .text(taskID), .integer(first), .integer(now), .textArray(pending.map(\.type)),
                .textArray(pending.map { $0.data.serializedString() }),
            ])
        lastSeq += Int64(pending.count)
        pending.removeAll()
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
