import SwitchyardCore
public import SwitchyardInbound
public import SwitchyardTasks

/// Stored Responses turns, with the SQLite store's rules (see `ResponseStore`): each process reads
/// every other's turns; ownership and retention are checked in the same statements.
extension PostgresStore: ResponseStore {
    /// Stores a turn and keeps every earlier turn of its conversation at least as long. One transaction.
    public func saveResponse(_ record: ResponseRecord, ttl: Duration) async throws(StoreError) {
        let now = configuration.clock()
        let expiresAt = now + Self.milliseconds(ttl)
        try await write { connection throws(StoreError) in
            try connection.transaction { () throws(StoreError) in
                try connection.run(
                    """
                    INSERT INTO responses (id, owner, previous_id, input_items, response, created_at, expires_at)
                    VALUES ($1, $2, $3, $4, $5, $6, $7)
                    """,
                    [
                        .text(record.id), .text(record.owner), .text(record.previousID),
                        .json(.array(record.inputItems)), .json(.object(record.response)), .integer(now),
                        .integer(expiresAt),
                    ])
                guard let previous = record.previousID else { return }
                try connection.run(
                    """
                    WITH RECURSIVE chain (id, depth) AS (
                        SELECT $1::text, 1
                        UNION ALL
                        SELECT r.previous_id, c.depth + 1 FROM responses r JOIN chain c ON r.id = c.id
                        WHERE r.owner = $2 AND r.previous_id IS NOT NULL AND c.depth < $4
                    )
                    UPDATE responses SET expires_at = greatest(expires_at, $3)
                    WHERE owner = $2 AND id IN (SELECT id FROM chain)
                    """,
                    [.text(previous), .text(record.owner), .integer(expiresAt), .int(Self.maximumConversationTurns)])
            }
        }
    }

    /// The owner's unexpired turn, or nil.
    public func response(id: String, owner: String) async throws(StoreError) -> ResponseRecord? {
        let now = configuration.clock()
        return try await perform { connection throws(StoreError) in
            let path = connection.location
            return try connection.queryOne(
                """
                SELECT id, previous_id, input_items, response FROM responses
                WHERE id = $1 AND owner = $2 AND expires_at > $3
                """,
                [.text(id), .text(owner), .integer(now)]
            ) { row throws(StoreError) in try Self.responseRecord(row, owner: owner, path: path) }
        }
    }

    /// The conversation ending at `id`, oldest first, read by one recursive statement (one
    /// snapshot); nil when any turn of it is missing, expired or another owner's.
    public func conversation(endingAt id: String, owner: String) async throws(StoreError) -> [ResponseRecord]? {
        let now = configuration.clock()
        return try await perform { connection throws(StoreError) -> [ResponseRecord]? in
            let path = connection.location
            let turns = try connection.query(
                """
                WITH RECURSIVE chain (id, previous_id, input_items, response, depth) AS (
                    SELECT id, previous_id, input_items, response, 1 FROM responses
                    WHERE id = $1 AND owner = $2 AND expires_at > $3
                    UNION ALL
                    SELECT r.id, r.previous_id, r.input_items, r.response, c.depth + 1
                    FROM responses r JOIN chain c ON r.id = c.previous_id
                    WHERE r.owner = $2 AND r.expires_at > $3 AND c.depth < $4
                )
                SELECT id, previous_id, input_items, response FROM chain ORDER BY depth DESC
                """,
                [.text(id), .text(owner), .integer(now), .int(Self.maximumConversationTurns)]
            ) { row throws(StoreError) in try Self.responseRecord(row, owner: owner, path: path) }
            // The oldest turn must start the conversation; else a turn before it is gone.
            guard let first = turns.first, first.previousID == nil else { return nil }
            return turns
        }
    }

    /// Deletes the owner's turn; false when there was none.
    public func deleteResponse(id: String, owner: String) async throws(StoreError) -> Bool {
        let now = configuration.clock()
        return try await write { connection throws(StoreError) in
            try connection.changes(
                "DELETE FROM responses WHERE id = $1 AND owner = $2 AND expires_at > $3",
                [.text(id), .text(owner), .integer(now)]) > 0
        }
    }

    /// Deletes turns past their expiry; returns how many.
    @discardableResult
    public func purgeExpiredResponses() async throws(StoreError) -> Int {
        let now = configuration.clock()
        return try await write { connection throws(StoreError) in
            try connection.changes("DELETE FROM responses WHERE expires_at <= $1", [.integer(now)])
        }
    }

    /// A conversation deeper than this reads as broken (a guard against a cycle).
    static let maximumConversationTurns = 100_000

    private static func responseRecord(
        _ row: PostgresRow, owner: String, path: String
    ) throws(StoreError)
        -> ResponseRecord
    {
        var row = row
        row.path = path
        let id = row.text(0)
        guard case .array(let input) = try row.json(2), case .object(let response) = try row.json(3) else {
            throw StoreError(kind: .corrupt, message: "stored response \(id) is not a JSON object", path: path)
        }
        return ResponseRecord(
            id: id, owner: owner, previousID: row.optionalText(1), inputItems: input, response: response)
    }
}
