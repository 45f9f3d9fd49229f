public import SwitchyardCore
public import SwitchyardInbound
public import SwitchyardTasks
import Synchronization

extension PostgresStore {
    /// Claims `key` for this request, as the SQLite store does, across processes: of two first
    /// calls (on any processes) exactly one gets `.new` (the primary key decides; the other waits
    /// for the first's insert to commit, then finds its record). An in-flight claim is held under a
    /// lease the keeper renews while the request runs; one whose process died (lease expired) is
    /// taken over as if absent, so a client's retry is not refused until the record expires.
    public func beginIdempotent(
        owner: String, key: String, requestHash: String, ttl: Duration
    ) async throws(StoreError) -> IdempotencyBegin {
        let now = configuration.clock()
        let expiresAt = now + Self.milliseconds(ttl)
        let claimExpires = now + leaseMilliseconds
        let me = configuration.instanceID
        return try await write { connection throws(StoreError) -> IdempotencyBegin in
            let path = connection.location
            let begin = try connection.transaction { () throws(StoreError) -> IdempotencyBegin in
                let inserted = try connection.queryOne(
                    """
                    INSERT INTO idempotency
                        (owner, key, request_hash, state, created_at, expires_at, claimed_by, claim_expires_at)
                    VALUES ($1, $2, $3, 'in_flight', $4, $5, $6, $7)
                    ON CONFLICT (owner, key) DO NOTHING RETURNING 1
                    """,
                    [
                        .text(owner), .text(key), .text(requestHash), .integer(now), .integer(expiresAt), .text(me),
                        .integer(claimExpires),
                    ]
                ) { _ in true }
                if inserted != nil { return .new }
                let existing = try connection.queryOne(
                    """
                    SELECT request_hash, state, status, body, headers, created_at, expires_at, claim_expires_at
                    FROM idempotency WHERE owner = $1 AND key = $2 FOR UPDATE
                    """,
                    [.text(owner), .text(key)]
                ) { row throws(StoreError) in
                    (
                        hash: row.text(0), state: row.text(1), status: row.int(2), body: row.optionalBlob(3) ?? [],
                        headers: try row.optionalJSON(4), createdAt: row.int64(5), expiresAt: row.int64(6),
                        claimExpires: row.optionalInt64(7)
                    )
                }
                if let existing, existing.expiresAt > now {
                    if existing.hash != requestHash { return .mismatch }
                    if existing.state == "completed" {
                        return .completed(
                            IdempotencyRecord(
                                owner: owner, key: key, requestHash: existing.hash, status: existing.status,
                                body: existing.body,
                                headers: try IdempotencyHeaders.decode(existing.headers, path: path),
                                createdAt: existing.createdAt, expiresAt: existing.expiresAt))
                    }
                    if (existing.claimExpires ?? 0) > now { return .inFlight }
                }
                // Absent (deleted since the insert failed), expired, or in flight in a dead process.
                try connection.run(
                    """
                    INSERT INTO idempotency
                        (owner, key, request_hash, state, created_at, expires_at, claimed_by, claim_expires_at)
                    VALUES ($1, $2, $3, 'in_flight', $4, $5, $6, $7)
                    ON CONFLICT (owner, key) DO UPDATE SET request_hash = $3, state = 'in_flight', status = NULL,
                        body = NULL, headers = NULL, created_at = $4, expires_at = $5, claimed_by = $6,
                        claim_expires_at = $7
                    """,
                    [
                        .text(owner), .text(key), .text(requestHash), .integer(now), .integer(expiresAt), .text(me),
                        .integer(claimExpires),
                    ])
                return .new
            }
            // Renewed from the commit on, not from when the caller resumes (see `claim`).
            if case .new = begin {
                self.claims.withLock { _ = $0.idempotency.insert(IdempotencySlot(owner: owner, key: key)) }
            }
            return begin
        }
    }

    /// Stores the answer of this process's in-flight claim; it is replayed until the record expires.
    /// - Throws: `.notFound` when this process holds no in-flight claim on (owner, key) (another
    ///   process took it over after this one stalled past its lease).
    public func completeIdempotent(
        owner: String, key: String, status: Int, body: [UInt8], headers: [HeaderField]
    ) async throws(StoreError) {
        claims.withLock { _ = $0.idempotency.remove(IdempotencySlot(owner: owner, key: key)) }
        let me = configuration.instanceID
        let headerJSON = IdempotencyHeaders.encode(headers)
        try await write { connection throws(StoreError) in
            let changed = try connection.changes(
                """
                UPDATE idempotency SET state = 'completed', status = $1, body = $2, headers = $3, claimed_by = NULL,
                    claim_expires_at = NULL
                WHERE owner = $4 AND key = $5 AND state = 'in_flight' AND claimed_by = $6
                """,
                [.int(status), .blob(body), .json(headerJSON), .text(owner), .text(key), .text(me)])
            if changed == 0 {
                throw StoreError(
                    kind: .notFound, message: "no in-flight idempotency record for this key", path: connection.location)
            }
        }
    }

    /// Drops this process's in-flight claim (the request failed), so a retry runs.
    public func abandonIdempotent(owner: String, key: String) async throws(StoreError) {
        claims.withLock { _ = $0.idempotency.remove(IdempotencySlot(owner: owner, key: key)) }
        let me = configuration.instanceID
        _ = try await write { connection throws(StoreError) in
            try connection.run(
                "DELETE FROM idempotency WHERE owner = $1 AND key = $2 AND state = 'in_flight' AND claimed_by = $3",
                [.text(owner), .text(key), .text(me)])
        }
    }

    /// Deletes in-flight claims whose process died (lease expired) and returns how many. Claims of
    /// live processes stay: several processes share the table.
    @discardableResult
    public func releaseInFlightIdempotency() async throws(StoreError) -> Int {
        let now = configuration.clock()
        return try await write { connection throws(StoreError) in
            try connection.changes(
                """
                DELETE FROM idempotency
                WHERE state = 'in_flight' AND (claim_expires_at IS NULL OR claim_expires_at <= $1)
                """,
                [.integer(now)])
        }
    }

    /// Deletes records whose `expiresAt` has passed; returns how many.
    @discardableResult
    public func purgeExpiredIdempotency() async throws(StoreError) -> Int {
        let now = configuration.clock()
        return try await write { connection throws(StoreError) in
            try connection.changes("DELETE FROM idempotency WHERE expires_at <= $1", [.integer(now)])
        }
    }
}
