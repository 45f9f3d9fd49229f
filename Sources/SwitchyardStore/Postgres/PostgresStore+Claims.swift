public import SwitchyardTasks
import Synchronization

/// Claims: which process runs a task (see `PostgresStore`'s doc).
extension PostgresStore {
    /// Takes (or keeps) the claim on a task before working on it. True when this process now holds
    /// it; false when another live process holds it, another process is claiming it this very
    /// moment (its row is locked: `SKIP LOCKED` moves on instead of waiting), or the task is not
    /// `planning`/`executing`.
    ///
    /// A step still `running` on a task just claimed was in flight in a process that is gone (or
    /// in this process's earlier, abandoned unit: a caller claims only with no step of the task in
    /// flight here): it goes back to `pending`, attempts kept, in the same transaction, and runs
    /// again. Every checkpointed step stays as it is.
    public func claim(taskID: String) async throws(StoreError) -> Bool {
        let now = configuration.clock()
        let me = configuration.instanceID
        let expires = now + leaseMilliseconds
        let claimed = try await write { connection throws(StoreError) in
            let claimed = try connection.transaction { () throws(StoreError) -> Bool in
                let row = try connection.queryOne(
                    "SELECT state, lease_owner, lease_expires_at FROM tasks WHERE id = $1 FOR UPDATE SKIP LOCKED",
                    [.text(taskID)]
                ) { row in (row.text(0), row.optionalText(1), row.optionalInt64(2)) }
                guard let (state, holder, holderExpires) = row, state == "planning" || state == "executing" else {
                    return false
                }
                if let holder, holder != me, (holderExpires ?? 0) > now { return false }
                try connection.run(
                    "UPDATE tasks SET lease_owner = $1, lease_expires_at = $2 WHERE id = $3",
                    [.text(me), .integer(expires), .text(taskID)])
                let reason = holder == nil ? "restart" : holder == me ? "interrupted" : "lease_expired"
                try Self.requeueRunningSteps(connection, taskID: taskID, reason: reason, now: now)
                return true
            }
            // Renewed from the commit on, not from when the caller resumes: a busy cooperative
            // pool can delay that past the lease, and another process would take the task over.
            if claimed { self.claims.withLock { $0.hold(taskID) } }
            return claimed
        }
        return claimed
    }

    /// Claims up to `limit` tasks that should be running and that no live process holds (never
    /// claimed, released, or whose holder's lease expired), oldest first, skipping rows other
    /// processes are claiming right now. Each comes back claimed, its in-flight step requeued.
    public func claimAvailable(limit: Int) async throws(StoreError) -> [TaskRecord] {
        guard limit > 0 else { return [] }
        let now = configuration.clock()
        let me = configuration.instanceID
        let expires = now + leaseMilliseconds
        return try await write { connection throws(StoreError) in
            let claimed = try connection.transaction { () throws(StoreError) -> [TaskRecord] in
                let path = connection.location
                let rows = try connection.query(
                    """
                    WITH available AS (
                        SELECT seq, lease_owner AS previous FROM tasks
                        WHERE state IN ('planning', 'executing') AND (lease_owner IS NULL OR lease_expires_at <= $1)
                        ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED
                    )
                    UPDATE tasks t SET lease_owner = $3, lease_expires_at = $4 FROM available a WHERE t.seq = a.seq
                    RETURNING \(Rows.taskColumns(alias: "t")), a.previous
                    """,
                    [.integer(now), .int(limit), .text(me), .integer(expires)]
                ) { row throws(StoreError) in (try Rows.task(row, path: path), row.optionalText(8)) }
                for (task, previous) in rows {
                    try Self.requeueRunningSteps(
                        connection, taskID: task.id, reason: previous == nil ? "restart" : "lease_expired", now: now)
                }
                return rows.map(\.0).sorted { $0.createdAt < $1.createdAt }
            }
            // Renewed from the commit on (see `claim`).
            self.claims.withLock { c in for task in claimed { c.hold(task.id) } }
            return claimed
        }
    }

    /// Gives up this process's claim on a task (after its last unit of work here) and returns the
    /// task's state then, or nil when it is gone. A task still `planning`/`executing` was resumed
    /// meanwhile by a process that could not claim it while this one held it: the caller runs it
    /// again (claiming it anew).
    @discardableResult
    public func releaseClaim(taskID: String) async throws(StoreError) -> TaskState? {
        claims.withLock { $0.tasks[taskID] = nil }
        let me = configuration.instanceID
        return try await write { connection throws(StoreError) in
            let path = connection.location
            return try connection.queryOne(
                """
                WITH released AS (
                    UPDATE tasks SET lease_owner = NULL, lease_expires_at = NULL WHERE id = $1 AND lease_owner = $2
                    RETURNING id, state
                ), announced AS (\(Self.announceReleased))
                SELECT state, (SELECT count(*) FROM announced) FROM tasks WHERE id = $1
                """,
                [.text(taskID), .text(me)]
            ) { row throws(StoreError) in try Rows.state(TaskState.self, row, 0, "task", path: path) }
        }
    }

    /// Releases every claim this process holds (tasks and in-flight idempotency keys), so other
    /// processes take over at once instead of after the lease: the last thing a clean shutdown does.
    /// Steps left `running` are requeued by whoever claims their task next.
    ///
    /// A released task that should still run is announced like a commit (`NOTIFY`), so the other
    /// processes' watchers claim it now rather than at their next sweep.
    public func releaseAllClaims() async throws(StoreError) {
        claims.withLock { c in
            c.tasks = [:]
            c.idempotency = []
        }
        let me = configuration.instanceID
        try await write { connection throws(StoreError) in
            _ = try connection.query(
                """
                WITH released AS (
                    UPDATE tasks SET lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner = $1
                    RETURNING id, state
                ), announced AS (\(Self.announceReleased))
                SELECT count(*) FROM announced
                """, [.text(me)]
            ) { $0.int(0) }
            try connection.run(
                "UPDATE idempotency SET claim_expires_at = 0 WHERE claimed_by = $1 AND state = 'in_flight'", [.text(me)]
            )
        }
    }

    /// The tasks of a `released` CTE that should still run, announced on the channel the task
    /// trigger uses (`PostgresSchema`), with the same payload: a release changes neither the
    /// state nor the history, so the trigger stays silent.
    static let announceReleased =
        "SELECT pg_notify('switchyard_tasks', current_schema() || ' ' || id || ' ' || state) FROM released"
        + " WHERE state IN ('planning', 'executing')"

    /// The tasks this process holds a claim on now.
    public var claimedTasks: Set<String> { claims.withLock { Set($0.tasks.keys) } }

    // MARK: The keeper

    /// Renews every claim this process holds, every third of the lease, for as long as the store
    /// is open: a task's lease while its step runs (or waits for a worker here), an idempotency
    /// key's while its request runs. A claim another process took meanwhile (this one stalled past
    /// its lease) is dropped from the set; its checkpoints are refused anyway.
    ///
    /// On a thread (`PostgresKeeper`) and a connection (`keeperPool`) of its own: a live process
    /// whose cooperative pool or connection pool is busy still renews on time, so its tasks are
    /// not taken over and their steps in flight not sent again by another process.
    func startKeeper() {
        let keeper = PostgresKeeper(interval: configuration.leaseDuration / 3) { [weak self] in
            guard let self else { return }
            _ = try? self.keeperPool.performBlocking { connection throws(StoreError) in
                try self.renewClaims(on: connection)
            }
        }
        let closed = claims.withLock { $0.closed }
        guard !closed else { return }
        self.keeper.withLock { $0 = keeper }
        keeper.start()
    }

    /// One renewal round on the keeper's connection, as the keeper runs it; returns the tasks still held.
    @discardableResult
    func renewClaims() async throws(StoreError) -> Set<String> {
        try await keeperPool.perform { connection throws(StoreError) in try self.renewClaims(on: connection) }
    }

    /// One renewal round (on a keeper connection's thread): the leases run from now, not from when
    /// the round was queued.
    private func renewClaims(on connection: PostgresConnection) throws(StoreError) -> Set<String> {
        let (tasks, slots) = claims.withLock { ($0.tasks, $0.idempotency) }
        guard !tasks.isEmpty || !slots.isEmpty else {
            configuration.onRenewal?([])
            return []
        }
        configuration.onRenewalStep?(.tookClaims)
        let me = configuration.instanceID
        let expires = configuration.clock() + leaseMilliseconds
        var held: Set<String> = []
        do {
            if !tasks.isEmpty {
                held = Set(
                    try connection.query(
                        """
                        UPDATE tasks SET lease_expires_at = $1 WHERE lease_owner = $2 AND id = ANY($3::text[])
                        RETURNING id
                        """,
                        [.integer(expires), .text(me), .textArray(Array(tasks.keys))]
                    ) { $0.text(0) })
            }
            if !slots.isEmpty {
                try connection.run(
                    """
                    UPDATE idempotency SET claim_expires_at = $1 WHERE claimed_by = $2 AND state = 'in_flight'
                        AND (owner, key) IN (SELECT * FROM unnest($3::text[], $4::text[]))
                    """,
                    [.integer(expires), .text(me), .textArray(slots.map(\.owner)), .textArray(slots.map(\.key))])
            }
            noteWrite(nil)
        } catch {
            noteWrite(error.isStoreFailure ? error : nil)
            throw error
        }
        configuration.onRenewalStep?(.updated)
        let lost = tasks.filter { !held.contains($0.key) }
        if !lost.isEmpty {
            claims.withLock { c in
                for (task, claim) in lost where c.tasks[task] == claim { c.tasks[task] = nil }
            }
        }
        configuration.onRenewal?(held)
        return held
    }
}
