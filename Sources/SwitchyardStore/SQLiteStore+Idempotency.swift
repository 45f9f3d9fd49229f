public import SwitchyardCore
public import SwitchyardInbound
public import SwitchyardTasks
import Synchronization

extension SQLiteStore {
    /// Claims `key` for this request in one transaction. An expired record is replaced as if absent.
    /// A different `requestHash` is `.mismatch` whatever the record's state. Blocking.
    public func beginIdempotent(
        owner: String, key: String, requestHash: String, ttl: Duration
    ) throws(StoreError) -> IdempotencyBegin {
        let now = configuration.clock()
        let expiresAt = now + Int64(Self.milliseconds(ttl))
        let path = self.path
        return try write { connection throws(StoreError) in
            try connection.writeTransaction { () throws(StoreError) in
                let existing = try connection.queryOne(
                    """
                    SELECT request_hash, state, status, body, headers, created_at, expires_at
                    FROM idempotency WHERE owner = ? AND key = ?
                    """,
                    [.text(owner), .text(key)]
                ) { row throws(StoreError) in
                    (
                        hash: row.text(0), state: row.text(1), status: row.int(2), body: row.optionalBlob(3) ?? [],
                        headers: try row.optionalJSON(4), createdAt: row.int64(5), expiresAt: row.int64(6)
                    )
                }
                if let existing, existing.expiresAt > now {
                    if existing.hash != requestHash { return .mismatch }
                    if existing.state != "completed" { return .inFlight }
                    return .completed(
                        IdempotencyRecord(
                            owner: owner, key: key, requestHash: existing.hash, status: existing.status,
                            body: existing.body, headers: try IdempotencyHeaders.decode(existing.headers, path: path),
                            createdAt: existing.createdAt, expiresAt: existing.expiresAt
                        )
                    )
                }
                try connection.run(
                    """
                    INSERT OR REPLACE INTO idempotency (owner, key, request_hash, state, created_at, expires_at)
                    VALUES (?, ?, ?, 'in_flight', ?, ?)
                    """,
                    [.text(owner), .text(key), .text(requestHash), .integer(now), .integer(expiresAt)]
                )
                return .new
            }
        }
    }

    /// Stores the response for an `in_flight` record; it is replayed until the record expires.
    /// - Throws: `.notFound` when there is no in-flight record for (owner, key).
    public func completeIdempotent(
        owner: String, key: String, status: Int, body: [UInt8], headers: [HeaderField]
    ) throws(StoreError) {
        let headerJSON = IdempotencyHeaders.encode(headers)
        let path = self.path
        try write { connection throws(StoreError) in
            let changed = try connection.run(
                """
                UPDATE idempotency SET state = 'completed', status = ?, body = ?, headers = ?
                WHERE owner = ? AND key = ? AND state = 'in_flight'
                """,
                [.int(status), .blob(body), .json(headerJSON), .text(owner), .text(key)]
            )
            if changed == 0 {
                throw StoreError(kind: .notFound, message: "no in-flight idempotency record for this key", path: path)
            }
        }
    }

    /// Drops an `in_flight` record (the request failed before a replayable response), so a retry runs.
    public func abandonIdempotent(owner: String, key: String) throws(StoreError) {
        _ = try write { connection throws(StoreError) in
            try connection.run(
                "DELETE FROM idempotency WHERE owner = ? AND key = ? AND state = 'in_flight'",
                [.text(owner), .text(key)]
            )
        }
    }

    /// Releases every claim still `in_flight` and returns how many; completed records stay. Call at
    /// start-up: a claim that is in flight then belongs to a process that died before it answered
    /// (one gateway owns its store; the CLI never claims keys), and leaving it would answer 409 to
    /// the client's retries until the record expired.
    @discardableResult
    public func releaseInFlightIdempotency() throws(StoreError) -> Int {
        try write { connection throws(StoreError) in
            try connection.run("DELETE FROM idempotency WHERE state = 'in_flight'")
        }
    }

    /// Deletes records whose `expiresAt` has passed; returns how many. Call periodically.
    @discardableResult
    public func purgeExpiredIdempotency() throws(StoreError) -> Int {
        let now = configuration.clock()
        return try write { connection throws(StoreError) in
            try connection.run("DELETE FROM idempotency WHERE expires_at <= ?", [.integer(now)])
        }
    }
}
