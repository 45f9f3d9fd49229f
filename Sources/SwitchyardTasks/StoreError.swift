/// Why a store operation failed, whichever backend keeps the data (the SQLite store today; kinds
/// name SQLite's result codes where one maps). `kind` is stable and payload-free (metric labels,
/// status mapping); `message` is for people and never contains bound values (keys, prompts), only
/// the database's own text and identifiers; `path` names the database (a file path; never a
/// credential).
public struct StoreError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// The file cannot be opened or created (missing directory, not a regular file…). SQLITE_CANTOPEN.
        case cannotOpen = "cannot_open"
        /// A write on a read-only database or connection. SQLITE_READONLY.
        case readOnly = "read_only"
        /// Not an SQLite database, or `PRAGMA quick_check` / a read found damage. SQLITE_CORRUPT, SQLITE_NOTADB.
        case corrupt
        /// Another connection or process held the lock past `busy_timeout`. SQLITE_BUSY, SQLITE_LOCKED.
        case busy
        /// The file was written by a newer Switchyard (`user_version` above what this build knows).
        case schemaTooNew = "schema_too_new"
        /// An SQLite database that is not Switchyard's (other `application_id`, or unknown tables at version 0).
        case foreignDatabase = "foreign_database"
        /// The file system is full, or the store reached its page limit. SQLITE_FULL.
        case diskFull = "disk_full"
        /// An I/O error. SQLITE_IOERR.
        case io
        /// No such task (or not this owner's), step, or idempotency record.
        case notFound = "not_found"
        /// A task or step id that already exists.
        case duplicate
        /// `TaskMachine` or the step rules rejected the change; `rejection` says why. Nothing was written.
        case rejected
        /// An argument the store cannot use (unknown `after` cursor, limit out of range).
        case invalidArgument = "invalid_argument"
        /// Any other SQLite failure; `sqliteCode` has the extended result code.
        case sqlite
        /// The database server cannot be reached, or the connection to it broke (PostgreSQL).
        case unavailable
        /// Any other PostgreSQL failure; the message ends with its SQLSTATE.
        case postgres
    }

    public var kind: Kind
    public var message: String
    /// The database the error is about (`TaskStore.location`).
    public var path: String
    /// SQLite's extended result code when the error came from SQLite.
    public var sqliteCode: Int32?
    /// Set when `kind == .rejected`: the machine's reason, fit for a 409 body.
    public var rejection: TaskError?

    public init(
        kind: Kind, message: String, path: String, sqliteCode: Int32? = nil, rejection: TaskError? = nil
    ) {
        self.kind = kind
        self.message = message
        self.path = path
        self.sqliteCode = sqliteCode
        self.rejection = rejection
    }

    package static func rejected(_ error: TaskError, path: String) -> StoreError {
        StoreError(kind: .rejected, message: error.reason, path: path, rejection: error)
    }

    public var description: String { "\(kind.rawValue): \(message) (database \(path))" }

    /// The store itself failed (disk full, I/O, read-only, locked, damaged, unopenable), as
    /// opposed to refusing this request (`notFound`, `duplicate`, `rejected`, `invalidArgument`):
    /// what readiness details and `switchyard_store_errors_total` report.
    public var isStoreFailure: Bool {
        switch kind {
        case .cannotOpen, .readOnly, .corrupt, .busy, .schemaTooNew, .foreignDatabase, .diskFull, .io, .sqlite,
            .unavailable, .postgres:
            true
        case .notFound, .duplicate, .rejected, .invalidArgument: false
        }
    }
}
