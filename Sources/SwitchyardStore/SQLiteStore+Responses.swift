import SwitchyardCore
public import SwitchyardInbound
public import SwitchyardTasks
import Synchronization

extension SQLiteStore {
    /// Stores a Responses turn; every earlier turn of its conversation is kept at least as long.
    /// One transaction. Blocking.
    public func saveResponse(_ record: ResponseRecord, ttl: Duration) throws(StoreError) {
        let now = configuration.clock()
        // Not `milliseconds(_:)`: it clamps to Int32 (24.8 days), shorter than the default TTL.
        let expiresAt = now + max(0, ttl.wholeMilliseconds)
        try write { connection throws(StoreError) in
            try connection.writeTransaction { () throws(StoreError) in
                try connection.run(
                    """
                    INSERT INTO responses (id, owner, previous_id, input_items, response, created_at, expires_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                    [
                        .text(record.id), .text(record.owner), .text(record.previousID),
                        .json(.array(record.inputItems)), .json(.object(record.response)), .integer(now),
                        .integer(expiresAt),
                    ]
                )
                var previous = record.previousID
                var seen = 0
                while let id = previous, seen < Self.maximumConversationTurns {
                    seen += 1
                    previous =
                        try connection.queryOne(
                            "SELECT previous_id FROM responses WHERE id = ? AND owner = ?",
                            [.text(id), .text(record.owner)]
                        ) { $0.optionalText(0) } ?? nil
                    try connection.run(
                        "UPDATE responses SET expires_at = max(expires_at, ?) WHERE id = ? AND owner = ?",
                        [.integer(expiresAt), .text(id), .text(record.owner)])
                }
            }
        }
    }

    /// The owner's unexpired turn, or nil. Blocking.
    public func response(id: String, owner: String) throws(StoreError) -> ResponseRecord? {
        let now = configuration.clock()
        let path = self.path
        return try reader.withLock { connection throws(StoreError) in
            try Self.responseRow(connection, id: id, owner: owner, now: now, path: path)
        }
    }

    /// The conversation ending at `id`, oldest first, read in one snapshot; nil when any turn of
    /// it is missing. Blocking.
    public func conversation(endingAt id: String, owner: String) throws(StoreError) -> [ResponseRecord]? {
        let now = configuration.clock()
        let path = self.path
        return try reader.withLock { connection throws(StoreError) -> [ResponseRecord]? in
            try connection.readTransaction { () throws(StoreError) -> [ResponseRecord]? in
                var turns: [ResponseRecord] = []
                var next: String? = id
                while let current = next {
                    guard turns.count < Self.maximumConversationTurns,
                        let record = try Self.responseRow(connection, id: current, owner: owner, now: now, path: path)
                    else { return nil }
                    turns.append(record)
                    next = record.previousID
                }
                return turns.reversed()
            }
        }
    }

    /// Deletes the owner's turn; false when there was none. Blocking.
    public func deleteResponse(id: String, owner: String) throws(StoreError) -> Bool {
        let now = configuration.clock()
        return try write { connection throws(StoreError) in
            try connection.run(
                "DELETE FROM responses WHERE id = ? AND owner = ? AND expires_at > ?",
                [.text(id), .text(owner), .integer(now)]) > 0
        }
    }

    /// Deletes turns past their expiry; returns how many. Blocking.
    @discardableResult
    public func purgeExpiredResponses() throws(StoreError) -> Int {
        let now = configuration.clock()
        return try write { connection throws(StoreError) in
            try connection.run("DELETE FROM responses WHERE expires_at <= ?", [.integer(now)])
        }
    }

    /// A conversation deeper than this reads as broken (a guard against a cycle in a damaged file).
    static let maximumConversationTurns = 100_000

    private static func responseRow(
        _ connection: SQLiteConnection, id: String, owner: String, now: Int64, path: String
    ) throws(StoreError) -> ResponseRecord? {
        try connection.queryOne(
            """
            SELECT previous_id, input_items, response FROM responses
            WHERE id = ? AND owner = ? AND expires_at > ?
            """,
            [.text(id), .text(owner), .integer(now)]
        ) { row throws(StoreError) in
            guard case .array(let input) = try row.json(1), case .object(let response) = try row.json(2) else {
                throw StoreError(kind: .corrupt, message: "stored response \(id) is not a JSON object", path: path)
            }
            return ResponseRecord(
                id: id, owner: owner, previousID: row.optionalText(0), inputItems: input, response: response)
        }
    }
}
