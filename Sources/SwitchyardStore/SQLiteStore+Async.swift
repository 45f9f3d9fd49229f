import Glibc
public import SwitchyardCore
public import SwitchyardInbound
public import SwitchyardTasks

// The storage protocols over one SQLite file. Each call runs the blocking `SQLiteStore` method on
// one of the store's two serial queues (`perform` for writes, `performRead` for calls that only
// use the reader connection), so no cooperative thread or event loop waits on disk or a lock.

/// `TaskStore` over the SQLite store.
public struct SQLiteTaskStore: TaskStore {
    public let store: SQLiteStore

    public init(_ store: SQLiteStore) { self.store = store }

    public var location: String { store.path }

    public func createTask(
        id: String, owner: String, agent: String, metadata: JSON, steps: [PlannedStep]
    ) async throws(StoreError) -> TaskRecord {
        try await store.perform { s throws(StoreError) in
            try s.createPlannedTask(id: id, owner: owner, agent: agent, metadata: metadata, steps: steps)
        }
    }

    public func transition(
        taskID: String, owner: String?, event: TaskEvent?, stepUpdates: [StepUpdate]
    ) async throws(StoreError) -> TaskRecord {
        try await store.perform { s throws(StoreError) in
            try s.transition(taskID: taskID, owner: owner, event: event, stepUpdates: stepUpdates)
        }
    }

    public func task(id: String, owner: String) async throws(StoreError) -> TaskSnapshot? {
        try await store.performRead { s throws(StoreError) in try s.task(id: id, owner: owner) }
    }

    public func listTasks(_ query: TaskQuery) async throws(StoreError) -> TaskListing {
        try await store.performRead { s throws(StoreError) in try s.listTaskSnapshots(query) }
    }

    public func events(
        taskID: String, owner: String?, after: Int64, limit: Int
    ) async throws(StoreError) -> [HistoryEvent] {
        try await store.performRead { s throws(StoreError) in
            try s.events(taskID: taskID, owner: owner, after: after, limit: limit)
        }
    }

    public func resumeAfterRestart() async throws(StoreError) -> [ResumePoint] {
        try await store.perform { s throws(StoreError) in try s.resumeAfterRestart() }
    }

    public func resumableTasks() async throws(StoreError) -> [TaskRecord] {
        try await store.performRead { s throws(StoreError) in try s.resumableTasks() }
    }

    public func taskStates(ids: [String]) async throws(StoreError) -> [String: TaskState] {
        try await store.performRead { s throws(StoreError) in try s.taskStates(ids: ids) }
    }

    public func taskCounts() async throws(StoreError) -> [TaskState: Int] {
        try await store.performRead { s throws(StoreError) in try s.taskCounts() }
    }

    public func externalChangeVersion() async throws(StoreError) -> Int64 {
        try await store.perform { s throws(StoreError) in try s.externalChangeVersion() }
    }
}

/// `IdempotencyStore` over the SQLite store.
public struct SQLiteIdempotencyStore: IdempotencyStore {
    public let store: SQLiteStore

    public init(_ store: SQLiteStore) { self.store = store }

    public func begin(owner: String, key: String, requestHash: String, ttl: Duration) async throws -> IdempotencyBegin {
        try await store.perform { s throws(StoreError) in
            try s.beginIdempotent(owner: owner, key: key, requestHash: requestHash, ttl: ttl)
        }
    }

    public func complete(
        owner: String, key: String, status: Int, body: [UInt8], headers: [HeaderField]
    ) async throws {
        try await store.perform { s throws(StoreError) in
            try s.completeIdempotent(owner: owner, key: key, status: status, body: body, headers: headers)
        }
    }

    public func abandon(owner: String, key: String) async throws {
        try await store.perform { s throws(StoreError) in try s.abandonIdempotent(owner: owner, key: key) }
    }

    public func releaseInFlight() async throws -> Int {
        try await store.perform { s throws(StoreError) in try s.releaseInFlightIdempotency() }
    }

    public func purgeExpired() async throws -> Int {
        try await store.perform { s throws(StoreError) in try s.purgeExpiredIdempotency() }
    }
}

/// `ResponseStore` over the SQLite store.
public struct SQLiteResponseStore: ResponseStore {
    public let store: SQLiteStore

    public init(_ store: SQLiteStore) { self.store = store }

    public func saveResponse(_ record: ResponseRecord, ttl: Duration) async throws {
        try await store.perform { s throws(StoreError) in try s.saveResponse(record, ttl: ttl) }
    }

    public func response(id: String, owner: String) async throws -> ResponseRecord? {
        try await store.performRead { s throws(StoreError) in try s.response(id: id, owner: owner) }
    }

    public func conversation(endingAt id: String, owner: String) async throws -> [ResponseRecord]? {
        try await store.performRead { s throws(StoreError) in try s.conversation(endingAt: id, owner: owner) }
    }

    public func deleteResponse(id: String, owner: String) async throws -> Bool {
        try await store.perform { s throws(StoreError) in try s.deleteResponse(id: id, owner: owner) }
    }

    public func purgeExpiredResponses() async throws -> Int {
        try await store.perform { s throws(StoreError) in try s.purgeExpiredResponses() }
    }
}

/// The stores of a configuration (`store:`), opened once and shared by the server and the
/// `switchyard tasks` CLI: the one place a configuration picks the backend, one SQLite file
/// (`store.path`) or a PostgreSQL database several replicas share (`store.url_env`). The server
/// and the CLI see only the three protocols (and `TaskClaims`, which the shared backend adds).
public struct ConfiguredStores: Sendable {
    public let tasks: any TaskStore
    public let idempotency: any IdempotencyStore
    public let responses: any ResponseStore
    /// Names the store in logs and errors (a file path, or a URL without its password).
    public let location: String
    /// The SQLite store underneath when that is the backend (tests reach into it to fake a full disk).
    public let sqlite: SQLiteStore?
    /// The PostgreSQL store underneath when that is the backend.
    public let postgres: PostgresStore?
    private let writeFailure: @Sendable () -> StoreError?

    /// The failure that stopped the last write (a full disk, a read-only file), nil while writes work.
    public var lastWriteFailure: StoreError? { writeFailure() }

    /// A backend's three stores, `location` naming it and `lastWriteFailure` its write health.
    public init(
        tasks: any TaskStore, idempotency: any IdempotencyStore, responses: any ResponseStore, location: String,
        lastWriteFailure: @escaping @Sendable () -> StoreError?
    ) {
        self.tasks = tasks
        self.idempotency = idempotency
        self.responses = responses
        self.location = location
        self.sqlite = nil
        self.postgres = nil
        self.writeFailure = lastWriteFailure
    }

    /// The three stores over one SQLite file.
    public init(sqlite: SQLiteStore) {
        self.tasks = SQLiteTaskStore(sqlite)
        self.idempotency = SQLiteIdempotencyStore(sqlite)
        self.responses = SQLiteResponseStore(sqlite)
        self.location = sqlite.path
        self.sqlite = sqlite
        self.postgres = nil
        self.writeFailure = { sqlite.lastWriteFailure }
    }

    /// The three stores over one PostgreSQL database. `lastWriteFailure` is its health: the
    /// listener's connection notices an outage without waiting for a write (what `/readyz` shows).
    public init(postgres: PostgresStore) {
        self.tasks = PostgresTaskStore(postgres)
        self.idempotency = PostgresIdempotencyStore(postgres)
        self.responses = postgres
        self.location = postgres.location
        self.sqlite = nil
        self.postgres = postgres
        self.writeFailure = { postgres.healthFailure }
    }

    /// Opens (and, unless `readOnly`, creates and migrates) the configured store. Blocking.
    /// `onWrite` hears the outcome of every write (see `SQLiteStore.Configuration.onWrite`).
    /// A PostgreSQL store reads its URL from `environment[store.url_env]` (`readOnly` does not
    /// apply: the operator creates the database, and a migration on open is what the first server
    /// start does anyway); `listen` (a server) also hears other processes' commits at once, where
    /// a command-line tool that writes once has no use for the extra connection. Throws `StoreError`
    /// naming the database (a URL without its password), `.cannotOpen` at `store.url_env` for a
    /// missing or malformed URL.
    public static func open(
        _ config: StoreConfig, environment: [String: String] = [:], readOnly: Bool = false, listen: Bool = false,
        onWrite: (@Sendable (StoreError?) -> Void)? = nil
    ) throws(StoreError) -> ConfiguredStores {
        switch config.resolvedURL(environment: environment) {
        case nil:
            return ConfiguredStores(
                sqlite: try SQLiteStore(path: config.path, configuration: .init(readOnly: readOnly, onWrite: onWrite)))
        case .failure(let problem)?:
            throw StoreError(kind: .cannotOpen, message: problem.problem, path: problem.path)
        case .success(let url)?:
            let configuration = PostgresStore.Configuration(
                poolSize: listen ? 4 : 1, leaseDuration: .milliseconds(config.leaseMs), listen: listen,
                onWrite: onWrite)
            return ConfiguredStores(postgres: try PostgresStore(opening: url, configuration: configuration))
        }
    }

    /// Whether the configured store exists yet (a server creates it on its first start; the CLI
    /// never does). A PostgreSQL database always does: the operator creates it.
    public static func exists(_ config: StoreConfig) -> Bool {
        config.kind == .postgres || access(config.path, F_OK) == 0
    }

    /// Lets go of every claim this process holds on the shared store (tasks, in-flight idempotency
    /// keys), so another replica takes them over at once instead of after the lease: the last
    /// thing a clean shutdown does. Nothing to do for a file of this process's own.
    public func releaseClaims() async {
        try? await postgres?.releaseAllClaims()
    }

    /// Closes a PostgreSQL store's connections, listener and claims keeper (its claims expire
    /// after the lease unless `releaseClaims` ran first); an SQLite file closes with the process.
    public func close() {
        postgres?.close()
    }

    /// The schema version this build writes (`switchyard_build_info{store_schema}`).
    public static var schemaVersion: Int { SQLiteStore.schemaVersion }
}
