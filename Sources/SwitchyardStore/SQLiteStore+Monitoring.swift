public import SwitchyardTasks
import Synchronization

/// What a running server needs to notice changes other processes (`switchyard tasks pause|resume|
/// cancel`) commit to the same file, and to count every task in it.
extension SQLiteStore {

    /// SQLite's `PRAGMA data_version` on the writer connection: it changes whenever *another*
    /// connection (another process) has committed since the last call, and never for this store's
    /// own commits, which all go through that connection. Costs a read of the WAL index, no disk
    /// I/O, so a server can poll it every fraction of a second. Blocking.
    public func externalChangeVersion() throws(StoreError) -> Int64 {
        try writer.withLock { connection throws(StoreError) in
            try connection.queryOne("PRAGMA data_version", cache: false) { $0.int64(0) } ?? 0
        }
    }

    /// Every task (all owners) that a worker should be running: `planning` or `executing`, oldest
    /// first. Reads the partial index `tasks_resumable`. Blocking; reader connection.
    public func resumableTasks() throws(StoreError) -> [TaskRecord] {
        let path = self.path
        return try reader.withLock { connection throws(StoreError) in
            try connection.query(
                "SELECT \(Rows.taskColumns) FROM tasks WHERE state IN ('planning', 'executing') ORDER BY seq"
            ) { row throws(StoreError) in try Rows.task(row, path: path) }
        }
    }

    /// The state of each of `ids` that exists (any owner). Blocking; reader connection.
    public func taskStates(ids: [String]) throws(StoreError) -> [String: TaskState] {
        try reader.withLock { connection throws(StoreError) in
            var states: [String: TaskState] = [:]
            for id in ids {
                states[id] = try Self.loadTask(connection, id: id, owner: nil)?.state
            }
            return states
        }
    }

    /// Tasks per state over the whole file (every owner, every process), zero for absent states.
    /// One grouped scan of the covering index `tasks_by_owner_state`. Blocking; reader connection.
    public func taskCounts() throws(StoreError) -> [TaskState: Int] {
        let path = self.path
        return try reader.withLock { connection throws(StoreError) in
            let rows = try connection.query("SELECT state, count(*) FROM tasks GROUP BY state") {
                ($0.text(0), $0.int(1))
            }
            var counts = Dictionary(uniqueKeysWithValues: TaskState.allCases.map { ($0, 0) })
            for (text, count) in rows {
                guard let state = TaskState(rawValue: text) else {
                    throw StoreError(kind: .corrupt, message: "unknown task state '\(text)'", path: path)
                }
                counts[state] = count
            }
            return counts
        }
    }
}
