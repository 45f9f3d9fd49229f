public import SwitchyardCore
public import SwitchyardInbound
public import SwitchyardTasks

// The storage protocols over the PostgreSQL store. Its methods already suspend while a pool
// thread does the round trip; these only map names and shapes.

/// `TaskStore` over the PostgreSQL store.
public struct PostgresTaskStore: TaskStore {
    public let store: PostgresStore

    public init(_ store: PostgresStore) { self.store = store }

    public var location: String { store.location }

    public func createTask(
        id: String, owner: String, agent: String, metadata: JSON, steps: [PlannedStep]
    ) async throws(StoreError) -> TaskRecord {
        try await store.createPlannedTask(id: id, owner: owner, agent: agent, metadata: metadata, steps: steps)
    }

    public func transition(
        taskID: String, owner: String?, event: TaskEvent?, stepUpdates: [StepUpdate]
    ) async throws(StoreError) -> TaskRecord {
        try await store.transition(taskID: taskID, owner: owner, event: event, stepUpdates: stepUpdates, events: [])
    }

    public func task(id: String, owner: String) async throws(StoreError) -> TaskSnapshot? {
        try await store.task(id: id, owner: owner)
    }

    public func listTasks(_ query: TaskQuery) async throws(StoreError) -> TaskListing {
        let page = try await store.listTaskSnapshots(
            owner: query.owner, state: query.state, agent: query.agent, limit: query.limit, after: query.after)
        return TaskListing(tasks: page.tasks, hasMore: page.hasMore)
    }

    public func events(
        taskID: String, owner: String?, after: Int64, limit: Int
    ) async throws(StoreError) -> [HistoryEvent] {
        try await store.events(taskID: taskID, owner: owner, after: after, limit: limit)
    }

    public func resumeAfterRestart() async throws(StoreError) -> [ResumePoint] { try await store.resumeAfterRestart() }
    public func resumableTasks() async throws(StoreError) -> [TaskRecord] { try await store.resumableTasks() }
    public func taskStates(ids: [String]) async throws(StoreError) -> [String: TaskState] {
        try await store.taskStates(ids: ids)
    }
    public func taskCounts() async throws(StoreError) -> [TaskState: Int] { try await store.taskCounts() }
    public func externalChangeVersion() async throws(StoreError) -> Int64 { store.externalChangeVersion() }
}

/// `IdempotencyStore` over the PostgreSQL store.
public struct PostgresIdempotencyStore: IdempotencyStore {
    public let store: PostgresStore

    public init(_ store: PostgresStore) { self.store = store }

    public func begin(owner: String, key: String, requestHash: String, ttl: Duration) async throws -> IdempotencyBegin {
        try await store.beginIdempotent(owner: owner, key: key, requestHash: requestHash, ttl: ttl)
    }

    public func complete(owner: String, key: String, status: Int, body: [UInt8], headers: [HeaderField]) async throws {
        try await store.completeIdempotent(owner: owner, key: key, status: status, body: body, headers: headers)
    }

    public func abandon(owner: String, key: String) async throws {
        try await store.abandonIdempotent(owner: owner, key: key)
    }

    public func releaseInFlight() async throws -> Int { try await store.releaseInFlightIdempotency() }
    public func purgeExpired() async throws -> Int { try await store.purgeExpiredIdempotency() }
}

extension PostgresTaskStore: TaskClaims {
    public func claim(taskID: String) async throws(StoreError) -> Bool { try await store.claim(taskID: taskID) }

    @discardableResult
    public func releaseClaim(taskID: String) async throws(StoreError) -> TaskState? {
        try await store.releaseClaim(taskID: taskID)
    }

    public func releaseAllClaims() async throws(StoreError) { try await store.releaseAllClaims() }

    /// A third of the lease: a dead holder's task is taken over 1 to 1⅓ leases after its last renewal.
    public var sweepInterval: Duration { store.configuration.leaseDuration / 3 }
}
