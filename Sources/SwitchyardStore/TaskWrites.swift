import SwitchyardCore
import SwitchyardTasks

/// The task writes both stores make inside their write transaction, written once over
/// `StoreConnection`. How the task row is read (SQLite's write lock covers the file; PostgreSQL
/// locks the row and checks the claim on it) and how history is inserted stay with each store.
enum TaskWrites {
    /// Inserts a task in `idle` with history event 1 (`task.created`).
    /// - Throws: `.duplicate` if `id` exists.
    static func insertTask(
        _ connection: some StoreConnection, id: String, owner: String, agent: String, metadata: JSON, now: Int64
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
            throw StoreError(kind: .duplicate, message: "a task with this id already exists", path: connection.location)
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

    /// Applies `event` (validated by `TaskMachine` against `task`'s stored state), the step
    /// updates, the machine's store actions and the history to `task`, read in this transaction
    /// by the caller; the task as written.
    static func apply(
        _ connection: some StoreConnection, to task: TaskRecord, event: TaskEvent?, stepUpdates: [StepUpdate],
        events: [NewHistoryEvent], now: Int64
    ) throws(StoreError) -> TaskRecord {
        let path = connection.location
        var task = task
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

        var history = History(taskID: task.id, now: now, lastSeq: task.lastEventSeq)
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
                    [.integer(now), .text(task.id)]
                ) { $0.text(0) }
                // RETURNING's order is unspecified (in either database): the history's is not.
                for step in steps.sorted() { history.add("step.cancelled", ["step_id": .string(step)]) }
            case .runPlanner, .runNextStep, .interruptInFlight, .finish:
                break  // the runtime's, after the commit
            }
        }
        for entry in events { history.add(entry.type, entry.data) }
        try history.flush(connection)
        task.updatedAt = now
        task.lastEventSeq = history.lastSeq
        try connection.run(
            "UPDATE tasks SET state = ?, updated_at = ?, last_event_seq = ? WHERE id = ?",
            [.text(task.state.rawValue), .integer(now), .integer(task.lastEventSeq), .text(task.id)]
        )
        return task
    }

    private static func applyStepUpdate(
        _ connection: some StoreConnection, _ update: StepUpdate, task: TaskRecord, from: TaskState,
        event: TaskEvent?, history: inout History
    ) throws(StoreError) {
        let path = connection.location
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
}

/// History entries of one task collected during a transaction, numbered from the task's
/// `last_event_seq` and inserted by `flush`.
struct History {
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

    mutating func flush(_ connection: some StoreConnection) throws(StoreError) {
        guard !pending.isEmpty else { return }
        try connection.insertEvents(taskID: taskID, first: lastSeq + 1, pending, at: now)
        lastSeq += Int64(pending.count)
        pending.removeAll()
    }
}
