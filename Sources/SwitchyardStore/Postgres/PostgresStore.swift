public import SwitchyardCore
public import SwitchyardTasks
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Tasks, idempotency records and stored Responses conversations in a PostgreSQL database that
/// several Switchyard processes share (`store: {url_env: VAR}`).
///
/// **Connections.** A small pool (`PostgresPool`, `Configuration.poolSize` connections, each on a
/// thread of its own) runs every statement; callers suspend while it works, so no event loop or
/// cooperative thread ever waits on the network. Statements are prepared once per connection.
/// One more connection (`PostgresListener`) waits for the notifications other processes' commits
/// send.
///
/// **Claims.** A task is run by one process at a time: `claim` takes its lease with a row lock
/// (`FOR UPDATE SKIP LOCKED`, so processes racing for the same task never wait on each other), a
/// keeper renews the leases this process holds every third of `leaseDuration` while it lives (on a
/// thread and a connection of its own, so a busy process does not starve it), and a checkpoint
/// from a process that lost its lease is refused. When a process dies its leases expire and
/// another claims the task: the step it had in flight goes back to `pending` (it runs
/// again: at-least-once, as after a restart) and every checkpointed step stays done. In-flight
/// idempotency claims are held and renewed the same way.
///
/// **Opening** connects, checks the schema (a schema with tables but no `switchyard_schema` is
/// refused, a newer version is refused) and migrates under an advisory lock, so replicas
/// starting together migrate once.
///
/// Times are Unix milliseconds from `Configuration.clock` (the processes sharing a database need
/// clocks that agree to well within `leaseDuration`, as NTP keeps them).
public final class PostgresStore: Sendable {
    public struct Configuration: Sendable {
        /// Connections (and threads) in the pool. Default 4.
        public var poolSize: Int
        /// How long a claim lasts without renewal; renewed every third of it. Default 15 s: a task
        /// or an idempotency key held by a process that died is taken over 15-20 s later.
        public var leaseDuration: Duration
        /// Names this process in claims (`lease_owner`). Default: host name, pid and a random suffix.
        public var instanceID: String
        /// Wall-clock time in Unix milliseconds; tests inject a manual clock.
        public var clock: @Sendable () -> Int64
        /// Starts the listener (notifications of other processes' commits). Tools that only read or
        /// write once (the CLI, the benchmark) turn it off.
        public var listen: Bool
        /// Called after every write, as `SQLiteStore.Configuration.onWrite`: nil when the store worked
        /// (also when it refused the request on its merits), else its own failure (unreachable,
        /// disk full, read-only standby…). Runs on a pool thread; must not call the store.
        public var onWrite: (@Sendable (StoreError?) -> Void)?
        /// Called after every renewal round with the tasks still held, on the keeper's connection
        /// thread; must not call the store. For tests.
        var onRenewal: (@Sendable (Set<String>) -> Void)?
        /// Called inside a renewal round, on the keeper's connection thread: after it took the set
        /// of claims to renew, and after its updates, before it drops what it found lost. For tests
        /// that interleave claims with a round.
        var onRenewalStep: (@Sendable (RenewalStep) -> Void)?

        public init(
            poolSize: Int = 4, leaseDuration: Duration = .seconds(15),
            instanceID: String = PostgresStore.newInstanceID(),
            clock: @escaping @Sendable () -> Int64 = PostgresStore.systemClock, listen: Bool = true,
            onWrite: (@Sendable (StoreError?) -> Void)? = nil
        ) {
            self.poolSize = poolSize
            self.leaseDuration = leaseDuration
            self.instanceID = instanceID
            self.clock = clock
            self.listen = listen
            self.onWrite = onWrite
        }
    }

    /// The schema version this build writes (the same number as the SQLite store's).
    public static var schemaVersion: Int { PostgresSchema.version }

    /// The server URL without its password: names the store in errors and logs.
    public let location: String
    public let configuration: Configuration
    let pool: PostgresPool
    /// The keeper's own connection: a renewal never waits behind the pool's queue.
    let keeperPool: PostgresPool
    let keeper = Mutex<PostgresKeeper?>(nil)
    let claims = Mutex(Claims())
    private let lastWrite = Mutex<StoreError?>(nil)
    private let listener: Mutex<PostgresListener?> = Mutex(nil)
    private let changes = Atomic<Int64>(0)
    private let subscribers = Mutex<[UInt64: @Sendable (TaskChange) -> Void]>([:])
    private let nextSubscriber = Atomic<UInt64>(0)

    /// What this process holds under a lease, renewed by the keeper.
    struct Claims {
        /// Each held task with the number of the claim that took it: a renewal round that found a
        /// task no longer held drops it only if it is still that round's claim, not a newer one
        /// made while the round ran (released and claimed again).
        var tasks: [String: UInt64] = [:]
        var idempotency: Set<IdempotencySlot> = []
        var closed = false
        private var claimsMade: UInt64 = 0

        mutating func hold(_ taskID: String) {
            claimsMade &+= 1
            tasks[taskID] = claimsMade
        }
    }

    /// Where a renewal round is (`Configuration.onRenewalStep`).
    enum RenewalStep: Sendable {
        case tookClaims, updated
    }

    struct IdempotencySlot: Hashable {
        var owner: String
        var key: String
    }

    /// A task changed in the database (any process's commit, this one's included).
    public struct TaskChange: Sendable, Hashable {
        public var taskID: String
        public var state: String
        /// True when another process committed it.
        public var external: Bool
    }

    /// Connects, checks and migrates. Throws `StoreError` (`.unavailable` when the server cannot be
    /// reached, `.schemaTooNew`, `.foreignDatabase`, …) naming the server without its password.
    public init(url: StoreURL, configuration: Configuration = Configuration()) async throws(StoreError) {
        self.location = url.location
        self.configuration = configuration
        pool = PostgresPool(url: url.value, location: url.location, size: configuration.poolSize)
        keeperPool = PostgresPool(url: url.value, location: url.location, size: 1)
        try await pool.perform { connection throws(StoreError) in try Self.prepare(connection) }
        startBackground(url)
    }

    /// The same, blocking the calling thread while it connects, checks and migrates: for a
    /// server's start-up (as SQLite's open blocks) and command-line tools.
    public init(opening url: StoreURL, configuration: Configuration = Configuration()) throws(StoreError) {
        self.location = url.location
        self.configuration = configuration
        pool = PostgresPool(url: url.value, location: url.location, size: configuration.poolSize)
        keeperPool = PostgresPool(url: url.value, location: url.location, size: 1)
        try pool.performBlocking { connection throws(StoreError) in try Self.prepare(connection) }
        startBackground(url)
    }

    /// The listener (when configured) and the claims keeper.
    private func startBackground(_ url: StoreURL) {
        if configuration.listen {
            let listener = PostgresListener(url: url.value, location: url.location) { [weak self] notification in
                self?.received(notification)
            }
            self.listener.withLock { $0 = listener }
            listener.start()
        }
        startKeeper()
    }

    deinit { close() }

    /// Stops the keeper and the listener and closes every connection (after the queued jobs). The
    /// claims this process holds are not released here: call `releaseAllClaims()` first on a
    /// clean shutdown, so other processes take over at once instead of after the lease.
    public func close() {
        claims.withLock { $0.closed = true }
        keeper.withLock { $0.take() }?.stop()
        // Stopped outside the lock: `stop` joins the listener's thread, which may be delivering a
        // notification that reads `listener` (a deadlock when the lock is held here).
        let listener = listener.withLock { $0.take() }
        listener?.stop()
        pool.close()
        keeperPool.close()
    }

    /// Runs `body` with a pooled connection, off the caller's thread.
    func perform<T: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) throws(StoreError) -> T
    ) async throws(StoreError) -> T {
        try await pool.perform(body)
    }

    /// `perform` for a write: records its outcome (`lastWriteFailure`, `Configuration.onWrite`).
    func write<T: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) throws(StoreError) -> T
    ) async throws(StoreError) -> T {
        do {
            let value = try await pool.perform(body)
            noteWrite(nil)
            return value
        } catch {
            noteWrite(error.isStoreFailure ? error : nil)
            throw error
        }
    }

    func noteWrite(_ failure: StoreError?) {
        lastWrite.withLock { $0 = failure }
        configuration.onWrite?(failure)
    }

    /// The store failure that stopped the last write, or nil when the last write worked (or none
    /// was made yet).
    public var lastWriteFailure: StoreError? { lastWrite.withLock { $0 } }

    /// What `/readyz` reports as the store's state: `.unavailable` while the listener cannot reach
    /// the database (it reconnects on its own, within 5 s of the server coming back), else the
    /// last write's failure. The listener watches the connection all the time, so an outage shows
    /// even when no request writes.
    public var healthFailure: StoreError? {
        let unreachable = listener.withLock { $0?.unreachable.load(ordering: .acquiring) ?? false }
        if unreachable {
            return StoreError(kind: .unavailable, message: "the database cannot be reached", path: location)
        }
        return lastWriteFailure
    }

    /// The version recorded in `switchyard_schema`.
    public func storedSchemaVersion() async throws(StoreError) -> Int {
        try await perform { connection throws(StoreError) in
            try connection.queryOne("SELECT version FROM switchyard_schema") { $0.int(0) } ?? 0
        }
    }

    // MARK: Changes from other processes

    /// How many task changes other processes committed since this store opened (as far as the
    /// listener has heard; it counts one more whenever it reconnects, since it may have missed
    /// some). A running server polls it like SQLite's `data_version`.
    public func externalChangeVersion() -> Int64 { changes.load(ordering: .relaxed) }

    /// Calls `handler` on the listener's thread for every task change it hears; returns a token
    /// for `unsubscribe`. Keep the handler short (hand the change to a task or a queue).
    @discardableResult
    public func subscribe(_ handler: @escaping @Sendable (TaskChange) -> Void) -> UInt64 {
        let token = nextSubscriber.add(1, ordering: .relaxed).newValue
        subscribers.withLock { $0[token] = handler }
        return token
    }

    public func unsubscribe(_ token: UInt64) { _ = subscribers.withLock { $0.removeValue(forKey: token) } }

    /// Whether the listener is connected and listening now.
    public var isListening: Bool { listener.withLock { $0?.listening.load(ordering: .acquiring) ?? false } }

    /// Returns once the listener listens (true), or false after `timeout`: a new store's listener
    /// connects on its own thread, and commits before that are not heard.
    public func waitUntilListening(timeout: Duration = .seconds(30)) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !isListening {
            guard ContinuousClock.now < deadline, listener.withLock({ $0 != nil }) else { return false }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return true
    }

    private func received(_ notification: PostgresListener.Event) {
        switch notification {
        case .reconnected:
            changes.add(1, ordering: .relaxed)
        case .notification(let payload, let pid):
            // "<schema> <task id> <state>"; another schema of the same database is another store.
            let parts = payload.split(separator: " ", maxSplits: 2)
            guard parts.count == 3, listener.withLock({ $0?.schema }) == String(parts[0]) else { return }
            let external = !pool.backendPIDs.withLock { $0.contains(pid) }
            if external { changes.add(1, ordering: .relaxed) }
            let change = TaskChange(taskID: String(parts[1]), state: String(parts[2]), external: external)
            for handler in subscribers.withLock({ Array($0.values) }) { handler(change) }
        }
    }

    // MARK: Opening

    private static func prepare(_ connection: PostgresConnection) throws(StoreError) {
        let location = connection.location
        try connection.transaction { () throws(StoreError) in
            try connection.execute(PostgresSchema.lockSQL)
            let schema = try connection.queryOne("SELECT current_schema()") { $0.optionalText(0) } ?? nil
            guard let schema else {
                throw StoreError(
                    kind: .cannotOpen,
                    message: "no schema to create tables in: the search_path names none that exists", path: location)
            }
            let marked =
                try connection.queryOne("SELECT to_regclass('switchyard_schema') IS NOT NULL") {
                    $0.optionalBool(0) ?? false
                } ?? false
            var version = 0
            if marked {
                version = try connection.queryOne("SELECT version FROM switchyard_schema") { $0.int(0) } ?? 0
            } else {
                let tables =
                    try connection.queryOne(
                        "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema()"
                    ) { $0.int(0) } ?? 0
                if tables > 0 {
                    throw StoreError(
                        kind: .foreignDatabase,
                        message: "schema \(schema) has \(tables) tables but no Switchyard schema version; give"
                            + " Switchyard a database or a schema of its own (search_path in the URL's options)",
                        path: location)
                }
            }
            if version > PostgresSchema.version {
                throw StoreError(
                    kind: .schemaTooNew,
                    message: "schema version \(version) is newer than this build's \(PostgresSchema.version);"
                        + " upgrade Switchyard",
                    path: location)
            }
            guard version < PostgresSchema.version else { return }
            if !marked { try connection.execute("CREATE TABLE switchyard_schema (version integer NOT NULL)") }
            for migration in PostgresSchema.migrations.dropFirst(version) { try connection.execute(migration) }
            try connection.execute("DELETE FROM switchyard_schema")
            try connection.execute("INSERT INTO switchyard_schema (version) VALUES (\(PostgresSchema.version))")
        }
    }

    // MARK: Clocks and ids

    /// Unix time in milliseconds from `CLOCK_REALTIME`.
    public static let systemClock: @Sendable () -> Int64 = {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }

    /// `<host name>/<pid>/<8 random hex digits>`: readable in `lease_owner`, unique per process start.
    public static func newInstanceID() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        let host =
            gethostname(&buffer, buffer.count - 1) == 0
            ? String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "host"
        var generator = SystemRandomNumberGenerator()
        let suffix = String(UInt32.random(in: .min ... .max, using: &generator), radix: 16)
        return "\(host)/\(getpid())/\(suffix)"
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return max(0, seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }

    var leaseMilliseconds: Int64 { Self.milliseconds(configuration.leaseDuration) }
}
