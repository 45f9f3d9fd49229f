private import CSQLite
import SwitchyardCore
import SwitchyardTasks

/// One SQLite connection (`sqlite3*`), closed exactly once in `deinit`, with its prepared
/// statements cached by SQL text.
///
/// Not thread-safe (opened with `SQLITE_OPEN_NOMUTEX`): `SQLiteStore` keeps each connection inside a
/// `Mutex`, so at most one thread uses it at a time.
final class SQLiteConnection: StoreConnection {
    /// What a statement needs to describe its errors; the `sqlite3*` outlives every statement
    /// because `sqlite3_close_v2` defers the close until the last statement is finalized.
    struct Context {
        let db: OpaquePointer
        let path: String
        let busyTimeoutMilliseconds: Int32

        func error(_ code: Int32, _ doing: String) -> StoreError {
            SQLiteConnection.error(code: code, db: db, path: path, doing: doing, busyTimeout: busyTimeoutMilliseconds)
        }
    }

    let context: Context
    var path: String { context.path }
    var location: String { context.path }
    private var statements: [String: SQLiteStatement] = [:]

    /// Opens (and with `create`, creates) the file. No byte of the file is read or written yet:
    /// SQLite opens lazily, so callers run `PRAGMA quick_check` before anything that could write.
    init(path: String, readOnly: Bool, create: Bool, busyTimeoutMilliseconds: Int32) throws(StoreError) {
        var flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        flags |= readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE
        if create && !readOnly { flags |= SQLITE_OPEN_CREATE }
        var db: OpaquePointer?
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            // "Whether or not an error occurs when it is opened, resources associated with the database
            // connection handle should be released by passing it to sqlite3_close() when it is no longer
            // required." (sqlite3_open_v2 documentation)
            let error = SQLiteConnection.error(
                code: rc, db: db, path: path, doing: "opening the database", busyTimeout: busyTimeoutMilliseconds
            )
            sqlite3_close_v2(db)
            throw error
        }
        self.context = Context(db: db, path: path, busyTimeoutMilliseconds: busyTimeoutMilliseconds)
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, busyTimeoutMilliseconds)
        // Defensive mode: no writable_schema or other ways for SQL text to corrupt the file.
        _ = sy_sqlite3_db_config_int(db, SQLITE_DBCONFIG_DEFENSIVE, 1)
    }

    /// Whether SQLite opened the main database read-only although read-write was asked for:
    /// it falls back to read-only when the operating system refuses write access.
    var isReadOnly: Bool { sqlite3_db_readonly(context.db, "main") == 1 }

    deinit {
        // Finalize cached statements first so close_v2 closes now rather than leaving a zombie.
        statements.removeAll()
        sqlite3_close_v2(context.db)
    }

    /// Runs one or more statements without parameters or results (schema, BEGIN/COMMIT).
    func execute(_ sql: String) throws(StoreError) {
        var message: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(context.db, sql, nil, nil, &message)
        sqlite3_free(message)  // errmsg is also available from sqlite3_errmsg; free per the exec contract
        guard rc == SQLITE_OK else { throw context.error(rc, "executing \(sql.prefix(40))") }
    }

    /// Runs `sql` with `arguments` and maps each row, its statement cached.
    func query<T>(
        _ sql: String, _ arguments: [SQLValue] = [], row: (SQLiteStatement) throws(StoreError) -> T
    ) throws(StoreError) -> [T] {
        try query(sql, arguments, cache: true, row: row)
    }

    func queryOne<T>(
        _ sql: String, _ arguments: [SQLValue] = [], row: (SQLiteStatement) throws(StoreError) -> T
    ) throws(StoreError) -> T? {
        try queryOne(sql, arguments, cache: true, row: row)
    }

    /// Runs `sql` with `arguments` and maps each row. Cached statements are reset even on error.
    func query<T>(
        _ sql: String, _ arguments: [SQLValue] = [], cache: Bool,
        row: (SQLiteStatement) throws(StoreError) -> T
    ) throws(StoreError) -> [T] {
        let statement = try prepare(sql, cache: cache)
        defer { statement.reset() }
        try statement.bind(arguments)
        var rows: [T] = []
        while try statement.step() { rows.append(try row(statement)) }
        return rows
    }

    func queryOne<T>(
        _ sql: String, _ arguments: [SQLValue] = [], cache: Bool,
        row: (SQLiteStatement) throws(StoreError) -> T
    ) throws(StoreError) -> T? {
        let statement = try prepare(sql, cache: cache)
        defer { statement.reset() }
        try statement.bind(arguments)
        return try statement.step() ? try row(statement) : nil
    }

    /// Runs a statement that returns no rows; the number of rows it changed.
    @discardableResult
    func run(_ sql: String, _ arguments: [SQLValue] = []) throws(StoreError) -> Int {
        let statement = try prepare(sql, cache: true)
        defer { statement.reset() }
        try statement.bind(arguments)
        while try statement.step() {}
        return Int(sqlite3_changes(context.db))
    }

    /// One cached INSERT per entry: with SQLite in-process, a statement costs no round trip.
    func insertEvents(
        taskID: String, first: Int64, _ entries: [(type: String, data: JSON)], at now: Int64
    ) throws(StoreError) {
        for (offset, entry) in entries.enumerated() {
            try run(
                "INSERT INTO events (task_id, seq, type, data, at) VALUES (?, ?, ?, ?, ?)",
                [.text(taskID), .integer(first + Int64(offset)), .text(entry.type), .json(entry.data), .integer(now)]
            )
        }
    }

    /// `body` inside `BEGIN IMMEDIATE … COMMIT`, rolled back if it throws.
    ///
    /// IMMEDIATE takes the write lock up front, so a second writer waits in `busy_timeout` at BEGIN
    /// instead of failing at its first write with an unretryable SQLITE_BUSY_SNAPSHOT (WAL upgrade).
    func writeTransaction<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        try run("BEGIN IMMEDIATE")  // cached like any statement: no parse per checkpoint
        do {
            let value = try body()
            try run("COMMIT")
            return value
        } catch {
            rollback()
            throw error
        }
    }

    /// `body` inside a deferred read transaction: several queries see one snapshot.
    func readTransaction<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        try run("BEGIN DEFERRED")
        defer { rollback() }
        return try body()
    }

    private func rollback() {
        if sqlite3_get_autocommit(context.db) == 0 { _ = sqlite3_exec(context.db, "ROLLBACK", nil, nil, nil) }
    }

    private func prepare(_ sql: String, cache: Bool) throws(StoreError) -> SQLiteStatement {
        if !cache { return try SQLiteStatement(sql: sql, connection: context, persistent: false) }
        if let statement = statements[sql] { return statement }
        let statement = try SQLiteStatement(sql: sql, connection: context, persistent: true)
        statements[sql] = statement
        return statement
    }

    /// The one place SQLite result codes become `StoreError` kinds.
    static func error(
        code: Int32, db: OpaquePointer?, path: String, doing: String, busyTimeout: Int32
    ) -> StoreError {
        let sqliteText =
            db.flatMap { sqlite3_errmsg($0) }.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(code))
        let kind: StoreError.Kind
        let message: String
        switch code & 0xff {
        case SQLITE_BUSY, SQLITE_LOCKED:
            kind = .busy
            message =
                "\(doing): the database is locked by another connection or process"
                + " (gave up after busy_timeout of \(busyTimeout) ms): \(sqliteText)"
        case SQLITE_READONLY:
            kind = .readOnly
            message =
                "\(doing): the database is read-only (opened read-only, or the file, its directory"
                + " or the -wal/-shm files are not writable): \(sqliteText)"
        case SQLITE_CORRUPT, SQLITE_NOTADB:
            kind = .corrupt
            message =
                "\(doing): the file is damaged or not an SQLite database; it was left untouched"
                + " (restore it from a backup, or move it away to start empty): \(sqliteText)"
        case SQLITE_CANTOPEN:
            kind = .cannotOpen
            message = "\(doing): cannot open the file (does its directory exist, is it a regular file?): \(sqliteText)"
        case SQLITE_FULL:
            kind = .diskFull
            message =
                "\(doing): the disk is full (no space left on the file system holding the database, or the"
                + " store reached its page limit); nothing was written: \(sqliteText)"
        case SQLITE_IOERR:
            kind = .io
            message = "\(doing): I/O error: \(sqliteText)"
        case SQLITE_CONSTRAINT:
            // SQLITE_CONSTRAINT_PRIMARYKEY and SQLITE_CONSTRAINT_UNIQUE are composite macros Swift does
            // not import: (SQLITE_CONSTRAINT | (6<<8)) and (SQLITE_CONSTRAINT | (8<<8)) in sqlite3.h.
            let unique = code == SQLITE_CONSTRAINT | (6 << 8) || code == SQLITE_CONSTRAINT | (8 << 8)
            kind = unique ? .duplicate : .sqlite
            message = "\(doing): \(sqliteText)"
        default:
            kind = .sqlite
            message = "\(doing): \(sqliteText)"
        }
        return StoreError(kind: kind, message: message, path: path, sqliteCode: code)
    }
}
