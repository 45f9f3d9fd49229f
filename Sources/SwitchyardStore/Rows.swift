import SwitchyardCore
import SwitchyardTasks

/// Column lists and row decoders of the task queries, the same for both stores.
enum Rows {
    private static let taskNames = [
        "id", "owner", "agent", "state", "metadata", "created_at", "updated_at", "last_event_seq",
    ]
    private static let stepNames = [
        "task_id", "step_id", "idx", "state", "attempts", "provider", "model", "output", "response", "usage",
        "error_class", "request", "started_at", "finished_at",
    ]

    static let taskColumns = taskColumns(alias: nil)
    static let stepColumns = stepColumns(alias: nil)

    /// `taskNames` as a select list, each qualified by `alias` when given (for joins).
    static func taskColumns(alias: String?) -> String {
        taskNames.map { name in alias.map { "\($0).\(name)" } ?? name }.joined(separator: ", ")
    }

    static func stepColumns(alias: String?) -> String {
        stepNames.map { name in alias.map { "\($0).\(name)" } ?? name }.joined(separator: ", ")
    }

    static let eventColumns = "task_id, seq, type, data, at"

    /// Decodes `taskColumns` starting at column `offset`.
    static func task(_ row: some StoreRow, path: String, offset: Int32 = 0) throws(StoreError) -> TaskRecord {
        TaskRecord(
            id: row.text(offset), owner: row.text(offset + 1), agent: row.text(offset + 2),
            state: try state(TaskState.self, row, offset + 3, "task", path: path),
            metadata: try row.json(offset + 4), createdAt: row.int64(offset + 5), updatedAt: row.int64(offset + 6),
            lastEventSeq: row.int64(offset + 7)
        )
    }

    /// Decodes `stepColumns` starting at column `offset`.
    static func step(_ row: some StoreRow, path: String, offset: Int32 = 0) throws(StoreError) -> StepRecord {
        StepRecord(
            taskID: row.text(offset), stepID: row.text(offset + 1), index: row.int(offset + 2),
            state: try state(StepState.self, row, offset + 3, "step", path: path),
            attempts: row.int(offset + 4), provider: row.optionalText(offset + 5), model: row.optionalText(offset + 6),
            output: row.optionalText(offset + 7), response: try row.optionalJSON(offset + 8),
            usage: try row.optionalJSON(offset + 9), errorClass: row.optionalText(offset + 10),
            request: try row.optionalJSON(offset + 11), startedAt: row.optionalInt64(offset + 12),
            finishedAt: row.optionalInt64(offset + 13)
        )
    }

    /// A state column; a value this version does not know means the file is corrupt (or newer).
    static func state<State: RawRepresentable<String>>(
        _: State.Type, _ row: some StoreRow, _ column: Int32, _ what: String, path: String
    ) throws(StoreError) -> State {
        let text = row.text(column)
        guard let state = State(rawValue: text) else {
            throw StoreError(kind: .corrupt, message: "unknown \(what) state '\(text)'", path: path)
        }
        return state
    }

    static func event(_ row: some StoreRow) throws(StoreError) -> HistoryEvent {
        HistoryEvent(
            taskID: row.text(0), seq: row.int64(1), type: row.text(2), data: try row.json(3), at: row.int64(4)
        )
    }
}
