public import SwitchyardTasks

extension PostgresStore {
    /// The task with its steps in plan order, or nil when `owner` has no such task. One statement,
    /// so one snapshot.
    public func task(id: String, owner: String) async throws(StoreError) -> TaskSnapshot? {
        try await perform { connection throws(StoreError) in
            let path = connection.location
            let rows = try connection.query(
                """
                SELECT \(PostgresRows.taskColumns(alias: "t")), \(PostgresRows.stepColumns(alias: "s"))
                FROM tasks t LEFT JOIN steps s ON s.task_id = t.id
                WHERE t.id = $1 AND t.owner = $2 ORDER BY s.idx
                """,
                [.text(id), .text(owner)]
            ) { row throws(StoreError) in
                (
                    try PostgresRows.task(row, path: path),
                    row.isNull(8) ? nil : try PostgresRows.step(row, path: path, offset: 8)
                )
            }
            guard let task = rows.first?.0 else { return nil }
            return TaskSnapshot(task: task, steps: rows.compactMap(\.1))
        }
    }

    /// One page of the owner's tasks, newest first, each with its steps, in one snapshot.
    /// - Throws: `.invalidArgument` for a limit outside 1...1000 or an `after` that is not one of
    ///   the owner's tasks.
    public func listTaskSnapshots(
        owner: String, state: TaskState? = nil, agent: String? = nil, limit: Int = 20, after: String? = nil
    ) async throws(StoreError) -> (tasks: [TaskSnapshot], hasMore: Bool) {
        let location = self.location
        guard (1...Self.maximumListLimit).contains(limit) else {
            throw StoreError(
                kind: .invalidArgument, message: "limit must be between 1 and \(Self.maximumListLimit)", path: location)
        }
        // One SQL text per filter combination, so each is planned once with its own index.
        var filters = "owner = $1"
        var arguments: [SQLValue] = [.text(owner)]
        if let state {
            arguments.append(.text(state.rawValue))
            filters += " AND state = $\(arguments.count)"
        }
        if let agent {
            arguments.append(.text(agent))
            filters += " AND agent = $\(arguments.count)"
        }
        let cursor = arguments.count + 1
        let filterArguments = arguments
        let sql = """
            WITH page AS (
                SELECT \(PostgresRows.taskColumns), seq FROM tasks
                WHERE \(filters) AND seq < $\(cursor) ORDER BY seq DESC LIMIT $\(cursor + 1)
            )
            SELECT \(PostgresRows.taskColumns(alias: "p")), \(PostgresRows.stepColumns(alias: "s"))
            FROM page p LEFT JOIN steps s ON s.task_id = p.id ORDER BY p.seq DESC, s.idx
            """
        return try await perform { connection throws(StoreError) in
            try connection.snapshot { () throws(StoreError) in
                var seq = Int64.max
                if let after {
                    let found = try connection.queryOne(
                        "SELECT seq FROM tasks WHERE id = $1 AND owner = $2", [.text(after), .text(owner)]
                    ) { $0.int64(0) }
                    guard let found else {
                        throw StoreError(kind: .invalidArgument, message: "unknown 'after' cursor", path: location)
                    }
                    seq = found
                }
                let rows = try connection.query(sql, filterArguments + [.integer(seq), .int(limit + 1)]) {
                    row throws(StoreError) in
                    (
                        try PostgresRows.task(row, path: location),
                        row.isNull(8) ? nil : try PostgresRows.step(row, path: location, offset: 8)
                    )
                }
                var tasks: [TaskSnapshot] = []
                for (task, step) in rows {
                    if tasks.last?.task.id != task.id { tasks.append(TaskSnapshot(task: task, steps: [])) }
                    if let step { tasks[tasks.count - 1].steps.append(step) }
                }
                let hasMore = tasks.count > limit
                if hasMore { tasks.removeLast() }
                return (tasks, hasMore)
            }
        }
    }

    /// The largest `limit` a listing accepts.
    public static let maximumListLimit = 1000

    /// History entries with `seq > after`, oldest first, at most `limit`.
    /// - Throws: `.notFound` when the task does not exist (for `owner`, when given).
    public func events(
        taskID: String, owner: String? = nil, after: Int64 = 0, limit: Int = 1000
    ) async throws(StoreError) -> [HistoryEvent] {
        try await perform { connection throws(StoreError) in
            try connection.snapshot { () throws(StoreError) in
                let exists =
                    try connection.queryOne(
                        owner == nil
                            ? "SELECT 1 FROM tasks WHERE id = $1" : "SELECT 1 FROM tasks WHERE id = $1 AND owner = $2",
                        owner.map { [.text(taskID), .text($0)] } ?? [.text(taskID)]
                    ) { _ in true } ?? false
                guard exists else {
                    throw StoreError(kind: .notFound, message: "no such task", path: connection.location)
                }
                return try connection.query(
                    "SELECT \(PostgresRows.eventColumns) FROM events WHERE task_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                    [.text(taskID), .integer(after), .int(max(0, limit))]
                ) { row throws(StoreError) in try PostgresRows.event(row) }
            }
        }
    }

    /// Every task (all owners) in `planning` or `executing`, oldest first, that no other live
    /// process has claimed.
    public func resumableTasks() async throws(StoreError) -> [TaskRecord] {
        let now = configuration.clock()
        let me = configuration.instanceID
        return try await perform { connection throws(StoreError) in
            let path = connection.location
            return try connection.query(
                """
                SELECT \(PostgresRows.taskColumns) FROM tasks WHERE state IN ('planning', 'executing')
                    AND (lease_owner IS NULL OR lease_owner = $1 OR lease_expires_at <= $2)
                ORDER BY seq
                """,
                [.text(me), .integer(now)]
            ) { row throws(StoreError) in try PostgresRows.task(row, path: path) }
        }
    }

    /// Start-up: the tasks a worker should run, each with its first unfinished step. Unlike the
    /// SQLite store this requeues nothing here: a step left `running` may be in flight in another
    /// live process; `claim` requeues it once the task is this process's.
    public func resumeAfterRestart() async throws(StoreError) -> [ResumePoint] {
        let now = configuration.clock()
        let me = configuration.instanceID
        return try await perform { connection throws(StoreError) in
            let path = connection.location
            return try connection.query(
                """
                SELECT \(PostgresRows.taskColumns(alias: "t")), \(PostgresRows.stepColumns(alias: "s"))
                FROM tasks t LEFT JOIN steps s ON s.task_id = t.id AND s.idx =
                    (SELECT min(idx) FROM steps WHERE task_id = t.id AND state IN ('pending', 'running'))
                WHERE t.state IN ('planning', 'executing')
                    AND (t.lease_owner IS NULL OR t.lease_owner = $1 OR t.lease_expires_at <= $2)
                ORDER BY t.seq
                """,
                [.text(me), .integer(now)]
            ) { row throws(StoreError) in
                ResumePoint(
                    task: try PostgresRows.task(row, path: path),
                    nextStep: row.isNull(8) ? nil : try PostgresRows.step(row, path: path, offset: 8))
            }
        }
    }

    /// The state of each of `ids` that exists (any owner).
    public func taskStates(ids: [String]) async throws(StoreError) -> [String: TaskState] {
        guard !ids.isEmpty else { return [:] }
        return try await perform { connection throws(StoreError) in
            let path = connection.location
            let rows = try connection.query(
                "SELECT id, state FROM tasks WHERE id = ANY($1::text[])", [.textArray(ids)]
            ) { row throws(StoreError) in
                (row.text(0), try PostgresRows.state(TaskState.self, row, 1, "task", path: path))
            }
            return Dictionary(rows, uniquingKeysWith: { first, _ in first })
        }
    }

    /// Tasks per state over the whole database (every owner, every process), zero for absent states.
    public func taskCounts() async throws(StoreError) -> [TaskState: Int] {
        try await perform { connection throws(StoreError) in
            let path = connection.location
            let rows = try connection.query("SELECT state, count(*) FROM tasks GROUP BY state") {
                row throws(StoreError) in
                (try PostgresRows.state(TaskState.self, row, 0, "task", path: path), row.int(1))
            }
            var counts = Dictionary(uniqueKeysWithValues: TaskState.allCases.map { ($0, 0) })
            for (state, count) in rows { counts[state] = count }
            return counts
        }
    }
}

/// Column lists and row decoders of the task queries (the same columns as the SQLite store's).
enum PostgresRows {
    private static let taskNames = [
        "id", "owner", "agent", "state", "metadata", "created_at", "updated_at", "last_event_seq",
    ]
    private static let stepNames = [
        "task_id", "step_id", "idx", "state", "attempts", "provider", "model", "output", "response", "usage",
        "error_class", "request", "started_at", "finished_at",
    ]

    static let taskColumns = taskColumns(alias: nil)

    static func taskColumns(alias: String?) -> String {
        taskNames.map { name in alias.map { "\($0).\(name)" } ?? name }.joined(separator: ", ")
    }

    static func stepColumns(alias: String?) -> String {
        stepNames.map { name in alias.map { "\($0).\(name)" } ?? name }.joined(separator: ", ")
    }

    static let eventColumns = "task_id, seq, type, data, at"

    static func task(_ row: PostgresRow, path: String, offset: Int32 = 0) throws(StoreError) -> TaskRecord {
        var row = row
        row.path = path
        return TaskRecord(
            id: row.text(offset), owner: row.text(offset + 1), agent: row.text(offset + 2),
            state: try state(TaskState.self, row, offset + 3, "task", path: path),
            metadata: try row.json(offset + 4), createdAt: row.int64(offset + 5), updatedAt: row.int64(offset + 6),
            lastEventSeq: row.int64(offset + 7))
    }

    static func step(_ row: PostgresRow, path: String, offset: Int32 = 0) throws(StoreError) -> StepRecord {
        var row = row
        row.path = path
        return StepRecord(
            taskID: row.text(offset), stepID: row.text(offset + 1), index: row.int(offset + 2),
            state: try state(StepState.self, row, offset + 3, "step", path: path),
            attempts: row.int(offset + 4), provider: row.optionalText(offset + 5), model: row.optionalText(offset + 6),
            output: row.optionalText(offset + 7), response: try row.optionalJSON(offset + 8),
            usage: try row.optionalJSON(offset + 9), errorClass: row.optionalText(offset + 10),
            request: try row.optionalJSON(offset + 11), startedAt: row.optionalInt64(offset + 12),
            finishedAt: row.optionalInt64(offset + 13))
    }

    static func state<State: RawRepresentable<String>>(
        _: State.Type, _ row: PostgresRow, _ column: Int32, _ what: String, path: String
    ) throws(StoreError) -> State {
        let text = row.text(column)
        guard let state = State(rawValue: text) else {
            throw StoreError(kind: .corrupt, message: "unknown \(what) state '\(text)'", path: path)
        }
        return state
    }

    static func event(_ row: PostgresRow) throws(StoreError) -> HistoryEvent {
        HistoryEvent(
            taskID: row.text(0), seq: row.int64(1), type: row.text(2), data: try row.json(3), at: row.int64(4))
    }
}
