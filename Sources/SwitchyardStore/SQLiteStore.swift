import Dispatch
public import SwitchyardCore
public import SwitchyardTasks
import Synchronization

/// The durable home of tasks, steps, their history and idempotency records: one SQLite file in WAL mode.
///
/// **Blocking, by design.** Every method runs SQLite on the calling thread and may wait up to
/// `busyTimeout` for a lock held by another process (the CLI). Call them from a thread you own, or
/// through `perform(_:)`, which runs the body on the store's own dispatch queue so the cooperative
/// pool (two threads on our two cores) never blocks on disk or locks. Synchronous methods keep the
/// hot path free of a thread hop, so a bench measures SQLite itself, and one `perform` can batch
/// several calls.
///
/// **Connections.** One writer connection behind a `Mutex` (writes serialise here and, across
/// processes, on SQLite's write lock; every write is `BEGIN IMMEDIATE`), one read-only reader behind
/// another `Mutex`; WAL lets reads run alongside a write and see the last commit. Statements are
/// prepared once per connection and cached.
///
/// **Checkpoints.** `transition` validates against `TaskMachine` and writes the new state, the step
/// change and the history in one transaction; when it returns the checkpoint is committed and the
/// runtime may act on it.
///
/// **Opening** never loses data: the file is checked (`PRAGMA quick_check`) before anything could
/// write, a damaged, foreign, newer or locked file is a `StoreError` naming the path, and nothing is
/// ever recreated over an existing file.
public final class SQLiteStore: Sendable {
    /// How hard a commit is pushed to disk (`PRAGMA synchronous` in WAL mode).
    public enum Durability: String, Sendable, Hashable {
        /// `synchronous=NORMAL` (the default). A commit that returned survives a crash of the
        /// Switchyard process (kill -9, panic, OOM kill): it is in the WAL file in the OS page cache
        /// and the next open replays it. There is no fsync per commit, so an OS crash or power loss
        /// can roll back the most recent commits (those since the WAL was last synced at a checkpoint
        /// of about 1,000 pages); the database is still consistent, never corrupt, and a task that lost
        /// its last checkpoints re-runs those steps (at-least-once). This is what keeps a checkpoint
        /// commit around 150-200 µs here (measured by `bench/run`) instead of milliseconds.
        case normal
        /// `synchronous=FULL`: the WAL is fsynced on every commit, so a returned commit also survives
        /// power loss and OS crashes, at the cost of one fsync per checkpoint (typically 0.5–10 ms on
        /// SSDs, far more on network disks).
        case full
    }

    public struct Configuration: Sendable {
        /// How long a statement waits for another connection's lock before failing with `.busy`. Default 5 s.
        public var busyTimeout: Duration
        public var durability: Durability
        /// Opens with SQLITE_OPEN_READONLY: no migration, no WAL switch; any write fails with `.readOnly`.
        public var readOnly: Bool
        /// Runs `PRAGMA quick_check` at open (O(file size); about 10 ms per 10k tasks). Default `true`.
        public var checkIntegrityAtOpen: Bool
        /// Wall-clock time in Unix milliseconds; tests inject a manual clock.
        public var clock: @Sendable () -> Int64
        /// Called after every write: `nil` when the store worked (the write committed, or the
        /// request was refused on its merits), else the store's own failure (disk full, I/O,
        /// read-only, locked: `StoreError.isStoreFailure`). For metrics and readiness; it runs on
        /// the writing thread and must not call the store.
        public var onWrite: (@Sendable (StoreError?) -> Void)?

        public init(
            busyTimeout: Duration = .seconds(5), durability: Durability = .normal, readOnly: Bool = false,
            checkIntegrityAtOpen: Bool = true, clock: @escaping @Sendable () -> Int64 = WallClock.milliseconds,
            onWrite: (@Sendable (StoreError?) -> Void)? = nil
        ) {
            self.busyTimeout = busyTimeout
            self.durability = durability
            self.readOnly = readOnly
            self.checkIntegrityAtOpen = checkIntegrityAtOpen
            self.clock = clock
            self.onWrite = onWrite
        }
    }

    /// The schema version this build writes (`PRAGMA user_version` after open).
    public static var schemaVersion: Int { Schema.version }

    public let path: String
    public let configuration: Configuration
    let writer: Mutex<SQLiteConnection>
    let reader: Mutex<SQLiteConnection>
    private let lastWrite = Mutex<StoreError?>(nil)
    /// Where the asynchronous calls run: one serial queue per connection. Each connection serves
    /// one call at a time anyway (its lock), and a call waiting for it on a concurrent queue held a
    /// libdispatch thread blocked on that lock, for which libdispatch added threads: a soak with
    /// stored Responses API requests went from 13 threads to 21 in ten minutes, each with its
    /// stack and its malloc arena. Serial, the store's work holds at most two threads.
    private let writes = DispatchQueue(label: "switchyard.store.writes")
    private let reads = DispatchQueue(label: "switchyard.store.reads")

    /// Opens or creates the database at `path`, checks it and runs pending migrations.
    /// Blocking; throws `StoreError` with kind `cannotOpen`, `readOnly`, `corrupt`, `busy`,
    /// `schemaTooNew` or `foreignDatabase` and the path.
    public init(path: String, configuration: Configuration = Configuration()) throws(StoreError) {
        self.path = path
        self.configuration = configuration
        let timeout = Self.milliseconds(configuration.busyTimeout)
        try StoreFile.check(path, readOnly: configuration.readOnly)
        let writer = try SQLiteConnection(
            path: path, readOnly: configuration.readOnly, create: !configuration.readOnly,
            busyTimeoutMilliseconds: timeout
        )
        if !configuration.readOnly, writer.isReadOnly {
            // SQLite fell back to read-only: the operating system refused write access after all.
            let cause = StoreFile.writeProblem(path) ?? "the operating system refused write access"
            throw StoreError(kind: .readOnly, message: "the database file cannot be written: \(cause)", path: path)
        }
        try Self.prepare(writer, configuration: configuration)
        let reader = try SQLiteConnection(path: path, readOnly: true, create: false, busyTimeoutMilliseconds: timeout)
        self.writer = Mutex(writer)
        self.reader = Mutex(reader)
    }

    /// Runs `body` on the store's queue for writes and resumes the caller with its result, keeping
    /// blocking SQLite work off the cooperative pool and the event loops:
    /// `try await store.perform { try $0.transition(...) }`. Calls run one at a time, in order.
    public func perform<T: Sendable>(
        _ body: @escaping @Sendable (SQLiteStore) throws(StoreError) -> T
    ) async throws(StoreError) -> T {
        try await run(on: writes, body)
    }

    /// `perform` for a call that only reads (the reader connection): it runs on the queue for
    /// reads, so it never waits behind a write's commit.
    public func performRead<T: Sendable>(
        _ body: @escaping @Sendable (SQLiteStore) throws(StoreError) -> T
    ) async throws(StoreError) -> T {
        try await run(on: reads, body)
    }

    private func run<T: Sendable>(
        on queue: DispatchQueue, _ body: @escaping @Sendable (SQLiteStore) throws(StoreError) -> T
    ) async throws(StoreError) -> T {
        let result: Result<T, StoreError> = await withCheckedContinuation { continuation in
            queue.async {
                continuation.resume(returning: Result { () throws(StoreError) -> T in try body(self) })
            }
        }
        return try result.get()
    }

    /// The store failure that stopped the last write, or nil when the last write worked (or
    /// none was made yet): what `/readyz` reports as the store's state.
    public var lastWriteFailure: StoreError? { lastWrite.withLock { $0 } }

    /// Runs `body` with the writer connection and records the outcome (`lastWriteFailure`,
    /// `Configuration.onWrite`). Every write goes through here.
    func write<T: Sendable>(_ body: (SQLiteConnection) throws(StoreError) -> T) throws(StoreError) -> T {
        do {
            let value = try writer.withLock { connection throws(StoreError) in try body(connection) }
            noteWrite(nil)
            return value
        } catch {
            noteWrite(error.isStoreFailure ? error : nil)
            throw error
        }
    }

    private func noteWrite(_ failure: StoreError?) {
        lastWrite.withLock { $0 = failure }
        configuration.onWrite?(failure)
    }

    /// `PRAGMA user_version` as stored in the file.
    public func storedSchemaVersion() throws(StoreError) -> Int {
        try reader.withLock { connection throws(StoreError) in
            try connection.queryOne("PRAGMA user_version", cache: false) { $0.int(0) } ?? 0
        }
    }

    static func milliseconds(_ duration: Duration) -> Int32 {
        Int32(clamping: max(0, duration.wholeMilliseconds))
    }

    /// Check, configure and migrate, in an order that never writes to a file we have not verified.
    private static func prepare(_ connection: SQLiteConnection, configuration: Configuration) throws(StoreError) {
        let path = connection.path
        // The first statement reads the header: garbage fails here with SQLITE_NOTADB, before any write.
        if configuration.checkIntegrityAtOpen {
            let problems = try connection.query("PRAGMA quick_check", cache: false) { $0.text(0) }
            if problems != ["ok"] {
                throw StoreError(
                    kind: .corrupt,
                    message: "PRAGMA quick_check found damage; the file was left untouched: "
                        + problems.prefix(3).joined(separator: "; "),
                    path: path
                )
            }
        }
        let applicationID = try connection.queryOne("PRAGMA application_id", cache: false) { $0.int64(0) } ?? 0
        let version = try connection.queryOne("PRAGMA user_version", cache: false) { $0.int(0) } ?? 0
        if applicationID != 0 && applicationID != Int64(Schema.applicationID) {
            throw StoreError(
                kind: .foreignDatabase,
                message: "an SQLite database of another application (application_id \(applicationID))", path: path
            )
        }
        if version > Schema.version {
            throw StoreError(
                kind: .schemaTooNew,
                message: "schema version \(version) is newer than this build's \(Schema.version); upgrade Switchyard",
                path: path
            )
        }
        if version == 0 {
            let objects = try connection.queryOne("SELECT count(*) FROM sqlite_schema", cache: false) { $0.int(0) }
            if let objects, objects > 0 {
                throw StoreError(
                    kind: .foreignDatabase,
                    message: "an SQLite database with \(objects) schema objects but no Switchyard schema version",
                    path: path
                )
            }
        }
        if configuration.readOnly {
            if version < Schema.version {
                throw StoreError(
                    kind: .readOnly,
                    message: "schema version \(version) needs migrating to \(Schema.version), but the store is"
                        + " opened read-only",
                    path: path
                )
            }
            return
        }
        let mode = try connection.queryOne("PRAGMA journal_mode = WAL", cache: false) { $0.text(0) }
        if mode?.lowercased() != "wal" {
            throw StoreError(
                kind: .sqlite, message: "could not switch to WAL (journal_mode is \(mode ?? "unknown"))", path: path
            )
        }
        try connection.execute("PRAGMA synchronous = \(configuration.durability == .full ? "FULL" : "NORMAL")")
        try connection.execute("PRAGMA foreign_keys = ON")
        if version < Schema.version {
            try connection.writeTransaction { () throws(StoreError) in
                // Another process may have migrated between our read and the write lock.
                let current = try connection.queryOne("PRAGMA user_version", cache: false) { $0.int(0) } ?? 0
                guard current < Schema.version else { return }
                for (index, migration) in Schema.migrations.enumerated() where index >= current {
                    try connection.execute(migration)
                }
                try connection.execute("PRAGMA user_version = \(Schema.version)")
            }
        }
    }
}
