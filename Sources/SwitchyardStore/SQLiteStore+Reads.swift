public import SwitchyardTasks
import Synchronization

extension SQLiteStore {
    /// The task with its steps in plan order, or `nil` when there is no such task for this owner
    /// (another owner's task is indistinguishable from a missing one). Blocking; reader connection.
    public func task(id: String, owner: String) throws(StoreError) -> TaskSnapshot? {
        try reader.withLock { connection throws(StoreError) in
            try connection.readTransaction { () throws(StoreError) in
                try Self.snapshot(connection, id: id, owner: owner)
            }
        }
    }

    /// The owner's tasks, newest first, optionally filtered; `after` is the `lastID` of the previous
    /// page. Blocking; reader connection.
    /// - Parameter limit: 1...`maximumListLimit`.
    /// - Throws: `.invalidArgument` for a bad limit or an `after` that is not one of the owner's tasks.
    public func listTasks(
        owner: String, state: TaskState? = nil, agent: String? = nil, limit: Int = 20, after: String? = nil
    ) throws(StoreError) -> TaskPage {
        let query = TaskQuery(owner: owner, state: state, agent: agent, limit: limit, after: after)
        return try reader.withLock { connection throws(StoreError) in
            try connection.readTransaction { () throws(StoreError) in try Self.page(connection, query) }
        }
    }

    /// `listTasks` with each task's steps, read in the same snapshot. Blocking; reader connection.
    public func listTaskSnapshots(_ query: TaskQuery) throws(StoreError) -> TaskListing {
        try reader.withLock { connection throws(StoreError) in
            try connection.readTransaction { () throws(StoreError) in
                let page = try Self.page(connection, query)
                var snapshots: [TaskSnapshot] = []
                for task in page.tasks {
                    snapshots.append(TaskSnapshot(task: task, steps: try Self.steps(connection, taskID: task.id)))
                }
                return TaskListing(tasks: snapshots, hasMore: page.hasMore)
            }
        }
    }

    static func snapshot(_ connection: SQLiteConnection, id: String, owner: String) throws(StoreError) -> TaskSnapshot?
    {
        guard let task = try loadTask(connection, id: id, owner: owner) else { return nil }
        return TaskSnapshot(task: task, steps: try steps(connection, taskID: id))
    }

    static func steps(_ connection: SQLiteConnection, taskID: String) throws(StoreError) -> [StepRecord] {
        let path = connection.path
        return try connection.query(
            "SELECT \(Rows.stepColumns) FROM steps WHERE task_id = ? ORDER BY idx", [.text(taskID)]
        ) { row throws(StoreError) in try Rows.step(row, path: path) }
    }

    static func page(_ connection: SQLiteConnection, _ query: TaskQuery) throws(StoreError) -> TaskPage {
        let path = connection.path
        guard (1...maximumListLimit).contains(query.limit) else {
            throw StoreError(
                kind: .invalidArgument, message: "limit must be between 1 and \(maximumListLimit)", path: path
            )
        }
        // One SQL text per filter combination, so each uses its own index and its own cached statement.
        var sql = "SELECT \(Rows.taskColumns) FROM tasks WHERE owner = ?"
        var arguments: [SQLValue] = [.text(query.owner)]
        if let state = query.state {
            sql += " AND state = ?"
            arguments.append(.text(state.rawValue))
        }
        if let agent = query.agent {
            sql += " AND agent = ?"
            arguments.append(.text(agent))
        }
        sql += " AND seq < ? ORDER BY seq DESC LIMIT ?"
        var cursor = Int64.max
        if let after = query.after {
            let seq = try connection.queryOne(
                "SELECT seq FROM tasks WHERE id = ? AND owner = ?", [.text(after), .text(query.owner)]
            ) { $0.int64(0) }
            guard let seq else {
                throw StoreError(kind: .invalidArgument, message: "unknown 'after' cursor", path: path)
            }
            cursor = seq
        }
        var tasks = try connection.query(sql, arguments + [.integer(cursor), .int(query.limit + 1)]) {
            row throws(StoreError) in try Rows.task(row, path: path)
        }
        let hasMore = tasks.count > query.limit
        if hasMore { tasks.removeLast() }
        return TaskPage(tasks: tasks, hasMore: hasMore)
    }

    /// The largest `limit` `listTasks` accepts.
    public static let maximumListLimit = TaskQuery.maximumLimit

    /// History entries with `seq > after`, oldest first, at most `limit`. Blocking; reader connection.
    /// - Throws: `.notFound` when the task does not exist (for `owner`, when given).
    public func events(
        taskID: String, owner: String? = nil, after: Int64 = 0, limit: Int = 1000
    ) throws(StoreError) -> [HistoryEvent] {
        let path = self.path
        return try reader.withLock { connection throws(StoreError) in
            try connection.readTransaction { () throws(StoreError) in
                guard try Self.loadTask(connection, id: taskID, owner: owner) != nil else {
                    throw StoreError(kind: .notFound, message: "no such task", path: path)
                }
                return try connection.query(
                    "SELECT \(Rows.eventColumns) FROM events WHERE task_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                    [.text(taskID), .integer(after), .int(max(0, limit))]
                ) { row throws(StoreError) in try Rows.event(row) }
            }
        }
    }
}
