public import SwitchyardTasks
import Synchronization

extension TaskStore {
    /// The task with its steps in plan order, or `nil` when there is no such task for this owner
    /// (another owner's task is indistinguishable from a missing one). Blocking; reader connection.
    public func task(id: String, owner: String) throws(StoreError) -> TaskSnapshot? {
        let path = self.path
        return try reader.withLock { connection throws(StoreError) in
            try connection.readTransaction { () throws(StoreError) in
                guard let task = try Self.loadTask(connection, id: id, owner: owner) else { return nil }
                let steps = try connection.query(
                    "SELECT \(Rows.stepColumns) FROM steps WHERE task_id = ? ORDER BY idx", [.text(id)]
                ) { row throws(StoreError) in try Rows.step(row, path: path) }
                return TaskSnapshot(task: task, steps: steps)
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
        let path = self.path
        guard (1...Self.maximumListLimit).contains(limit) else {
            throw StoreError(
                kind: .invalidArgument, message: "limit must be between 1 and \(Self.maximumListLimit)", path: path
            )
        }
        // One SQL text per filter combination, so each uses its own index and its own cached statement.
        var sql = "SELECT \(Rows.taskColumns) FROM tasks WHERE owner = ?"
        var arguments: [SQLValue] = [.text(owner)]
        if let state {
            sql += " AND state = ?"
            arguments.append(.text(state.rawValue))
        }
        if let agent {
            sql += " AND agent = ?"
            arguments.append(.text(agent))
        }
        sql += " AND seq < ? ORDER BY seq DESC LIMIT ?"
        return try reader.withLock { connection throws(StoreError) in
            try connection.readTransaction { () throws(StoreError) in
                var cursor = Int64.max
                if let after {
                    let seq = try connection.queryOne(
                        "SELECT seq FROM tasks WHERE id = ? AND owner = ?", [.text(after), .text(owner)]
                    ) { $0.int64(0) }
                    guard let seq else {
                        throw StoreError(kind: .invalidArgument, message: "unknown 'after' cursor", path: path)
                    }
                    cursor = seq
                }
                var tasks = try connection.query(sql, arguments + [.integer(cursor), .int(limit + 1)]) {
                    row throws(StoreError) in try Rows.task(row, path: path)
                }
                let hasMore = tasks.count > limit
                if hasMore { tasks.removeLast() }
                return TaskPage(tasks: tasks, hasMore: hasMore)
            }
        }
    }

    /// The largest `limit` `listTasks` accepts.
    public static let maximumListLimit = 1000

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
