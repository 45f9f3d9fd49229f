private import CPostgres
import SwitchyardCore
import SwitchyardTasks

#if canImport(Glibc)
import Glibc
#endif

/// One libpq connection (`PGconn*`), finished exactly once in `deinit`, with its prepared
/// statements named by SQL text so each is parsed and planned once per connection.
///
/// Not thread-safe: libpq allows one thread per connection at a time. `PostgresPool` gives each
/// connection to one of its threads for its whole life; the listener owns its own.
///
/// Every call blocks its thread for a network round trip (or several): it runs on the pool's own
/// threads, never on an event loop or the cooperative pool.
final class PostgresConnection: StoreConnection {
    private let handle: OpaquePointer
    /// Names errors: the server URL without its password.
    let location: String
    private var statements: [String: String] = [:]

    /// Connects with `url` (a `postgres://` URI or a `key=value` string; libpq reads the rest from
    /// its environment variables and `~/.pgpass`). The password never reaches an error: libpq does
    /// not echo it, and `StoreURL.redact` removes it from anything that might.
    init(url: String, location: String, connectTimeoutSeconds: Int = 10) throws(StoreError) {
        self.location = location
        // connect_timeout as a separate keyword so a URL without one cannot hang a start-up for
        // the kernel's TCP timeout; a value in the URL wins (expand_dbname reads it after ours).
        let keywords = ["connect_timeout", "application_name", "dbname"]
        let values = [String(connectTimeoutSeconds), "switchyard", url]
        let connection = withCStrings(keywords) { k in
            withCStrings(values) { v in PQconnectdbParams(k, v, 1) }
        }
        guard let connection else {
            throw StoreError(kind: .unavailable, message: "libpq could not allocate a connection", path: location)
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            let text = Self.text(PQerrorMessage(connection))
            // "Note that when PQconnectdb returns a non-null pointer, you must call PQfinish when you
            // are done with it ... even if the connection attempt fails." (libpq, Database Connection
            // Control Functions)
            PQfinish(connection)
            throw StoreError(
                kind: .unavailable, message: "connecting to PostgreSQL: \(StoreURL.redact(text, url: url))",
                path: location)
        }
        self.handle = connection
        // libpq prints NOTICEs (DROP … CASCADE details, "already exists, skipping") on stderr by
        // default, in the middle of our JSON log lines; the store has no use for them.
        PQsetNoticeProcessor(connection, { _, _ in }, nil)
    }

    deinit { PQfinish(handle) }

    /// False once the server or the network dropped the connection; the pool replaces it.
    var isHealthy: Bool { PQstatus(handle) == CONNECTION_OK }

    /// The server process serving this connection (`pg_backend_pid()`): tells this store's own
    /// notifications from other processes'.
    var backendPID: Int32 { PQbackendPID(handle) }

    /// Runs one or more statements without parameters or results (schema, LISTEN, BEGIN/COMMIT)
    /// through the simple query protocol.
    func execute(_ sql: String, doing: String? = nil) throws(StoreError) {
        let result = PostgresResult(PQexec(handle, sql))
        try check(result, doing: doing ?? "executing \(sql.prefix(40))")
    }

    /// Runs `sql` (placeholders `$1`, `$2`, … or `?`, see `numbered`) with `arguments` and maps
    /// each row. The statement is prepared on this connection the first time its text is seen and
    /// reused afterwards.
    func query<T>(
        _ sql: String, _ arguments: [SQLValue] = [], row: (PostgresRow) throws(StoreError) -> T
    ) throws(StoreError) -> [T] {
        let result = try result(sql, arguments)
        var rows: [T] = []
        rows.reserveCapacity(result.rows)
        for index in 0..<result.rows {
            rows.append(try row(PostgresRow(result: result, index: Int32(index), path: location)))
        }
        return rows
    }

    func queryOne<T>(
        _ sql: String, _ arguments: [SQLValue] = [], row: (PostgresRow) throws(StoreError) -> T
    ) throws(StoreError) -> T? {
        let result = try result(sql, arguments)
        return result.rows > 0 ? try row(PostgresRow(result: result, index: 0, path: location)) : nil
    }

    /// Runs a statement whose rows, if any, are not needed; the number of rows it changed.
    @discardableResult
    func run(_ sql: String, _ arguments: [SQLValue]) throws(StoreError) -> Int {
        try result(sql, arguments).changedRows
    }

    /// All the entries in one statement: each statement is a round trip to the server.
    func insertEvents(
        taskID: String, first: Int64, _ entries: [(type: String, data: JSON)], at now: Int64
    ) throws(StoreError) {
        guard !entries.isEmpty else { return }
        try run(
            """
            INSERT INTO events (task_id, seq, type, data, at)
            SELECT $1, $2 + ordinality - 1, type, data, $3
            FROM unnest($4::text[], $5::text[]) WITH ORDINALITY AS entries (type, data, ordinality)
            """,
            [
                .text(taskID), .integer(first), .integer(now), .textArray(entries.map(\.type)),
                .textArray(entries.map { $0.data.serializedString() }),
            ])
    }

    /// Runs `sql` with `arguments`; the result of a successful statement.
    func result(_ sql: String, _ arguments: [SQLValue]) throws(StoreError) -> PostgresResult {
        let name = try prepared(sql)
        // Text format for every parameter but bytes, which go binary (no escaping, no hex doubling).
        var lengths = [Int32](repeating: 0, count: arguments.count)
        var formats = [Int32](repeating: 0, count: arguments.count)
        var buffers: [[CChar]?] = []
        buffers.reserveCapacity(arguments.count)
        for (i, argument) in arguments.enumerated() {
            switch argument {
            case .null: buffers.append(nil)
            case .integer(let value): buffers.append(Array(String(value).utf8CString))
            case .text(let value): buffers.append(Array(value.utf8CString))
            case .blob(let bytes):
                buffers.append(bytes.map { CChar(bitPattern: $0) })
                lengths[i] = Int32(bytes.count)
                formats[i] = 1
            }
        }
        let raw = withPointers(to: buffers) { values in
            PQexecPrepared(handle, name, Int32(arguments.count), values, lengths, formats, 0)
        }
        let result = PostgresResult(raw)
        try check(result, doing: "running \(sql.prefix(48).split(separator: "\n").first ?? "")")
        return result
    }

    /// The number of rows an INSERT, UPDATE or DELETE changed.
    @discardableResult
    func changes(_ sql: String, _ arguments: [SQLValue] = []) throws(StoreError) -> Int {
        try result(sql, arguments).changedRows
    }

    /// `body` inside `BEGIN … COMMIT` (READ COMMITTED; writers serialise on the rows they lock),
    /// rolled back if it throws.
    func transaction<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        try run("BEGIN", [])
        do {
            let value = try body()
            try run("COMMIT", [])
            return value
        } catch {
            rollback()
            throw error
        }
    }

    /// `body` inside a read-only REPEATABLE READ transaction: several queries see one snapshot.
    func snapshot<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        try run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", [])
        defer { rollback() }
        return try body()
    }

    private func rollback() {
        if PQtransactionStatus(handle) != PQTRANS_IDLE { PQclear(PQexec(handle, "ROLLBACK")) }
    }

    private func prepared(_ sql: String) throws(StoreError) -> String {
        if let name = statements[sql] { return name }
        let name = "sy\(statements.count + 1)"
        let result = PostgresResult(PQprepare(handle, name, Self.numbered(sql), 0, nil))
        try check(result, doing: "preparing \(sql.prefix(48).split(separator: "\n").first ?? "")")
        statements[sql] = name
        return name
    }

    /// `sql` with each `?` placeholder (the syntax of the SQL both stores share) numbered `$1`,
    /// `$2`, … in order; a `?` inside a quoted literal or identifier stays. SQL without `?` is
    /// returned as it is.
    static func numbered(_ sql: String) -> String {
        guard sql.utf8.contains(UInt8(ascii: "?")) else { return sql }
        var out = ""
        out.reserveCapacity(sql.utf8.count + 16)
        var quote: Character?
        var number = 0
        for character in sql {
            if let open = quote {
                if character == open { quote = nil }
            } else if character == "'" || character == "\"" {
                quote = character
            } else if character == "?" {
                number += 1
                out += "$\(number)"
                continue
            }
            out.append(character)
        }
        return out
    }

    // MARK: Notifications (LISTEN)

    /// The connection's socket, to wait on for notifications.
    var socket: Int32 { PQsocket(handle) }

    /// Reads what the server sent and returns the notifications received, each as
    /// (channel, payload, sending backend's pid). Throws when the connection broke.
    func notifications() throws(StoreError) -> [(channel: String, payload: String, pid: Int32)] {
        guard PQconsumeInput(handle) == 1 else {
            throw StoreError(
                kind: .unavailable, message: "listening: \(Self.text(PQerrorMessage(handle)))", path: location)
        }
        var received: [(String, String, Int32)] = []
        while let notify = PQnotifies(handle) {
            received.append(
                (String(cString: notify.pointee.relname), String(cString: notify.pointee.extra), notify.pointee.be_pid))
            PQfreemem(notify)
        }
        return received
    }

    // MARK: Errors

    private func check(_ result: PostgresResult, doing: String) throws(StoreError) {
        switch PQresultStatus(result.handle) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY: return
        default: break
        }
        let state = sy_pq_sqlstate(result.handle).map { String(cString: $0) }
        let text = result.handle.map { Self.text(PQresultErrorMessage($0)) } ?? ""
        let message = text.isEmpty ? Self.text(PQerrorMessage(handle)) : text
        throw Self.error(sqlState: state, message: message, healthy: isHealthy, doing: doing, path: location)
    }

    /// The one place SQLSTATE codes (PostgreSQL, Appendix A) become `StoreError` kinds.
    static func error(sqlState: String?, message: String, healthy: Bool, doing: String, path: String) -> StoreError {
        let detail = message.trimmingSuffixNewlines
        guard healthy, let sqlState else {
            return StoreError(
                kind: .unavailable, message: "\(doing): the connection to PostgreSQL failed: \(detail)", path: path)
        }
        let kind: StoreError.Kind
        switch sqlState {
        case "23505": kind = .duplicate  // unique_violation
        case "40001", "40P01", "55P03", "57014": kind = .busy  // serialization, deadlock, lock or statement timeout
        case "25006": kind = .readOnly  // read_only_sql_transaction: a standby, or default_transaction_read_only
        case "53100": kind = .diskFull  // disk_full
        case "58030": kind = .io  // io_error
        case "XX001", "XX002": kind = .corrupt  // data_corrupted, index_corrupted
        case _ where sqlState.hasPrefix("08") || sqlState.hasPrefix("57P"): kind = .unavailable
        default: kind = .postgres
        }
        return StoreError(kind: kind, message: "\(doing): \(detail) (SQLSTATE \(sqlState))", path: path)
    }

    fileprivate static func text(_ pointer: UnsafePointer<CChar>?) -> String {
        pointer.map { String(cString: $0) }?.trimmingSuffixNewlines ?? ""
    }
}

/// One `PGresult*`, cleared exactly once in `deinit`. Values are read as text (the result format
/// of every statement here), `bytea` in PostgreSQL's hex output.
final class PostgresResult {
    fileprivate let handle: OpaquePointer?

    fileprivate init(_ handle: OpaquePointer?) { self.handle = handle }

    deinit { PQclear(handle) }

    var rows: Int { handle.map { Int(PQntuples($0)) } ?? 0 }

    /// `PQcmdTuples`: rows an INSERT, UPDATE or DELETE changed (0 for other statements).
    var changedRows: Int { handle.flatMap { Int(String(cString: PQcmdTuples($0))) } ?? 0 }

    fileprivate func value(_ row: Int32, _ column: Int32) -> UnsafeBufferPointer<UInt8>? {
        guard let handle, PQgetisnull(handle, row, column) == 0, let pointer = PQgetvalue(handle, row, column) else {
            return nil
        }
        let count = Int(PQgetlength(handle, row, column))
        return UnsafeRawPointer(pointer).withMemoryRebound(to: UInt8.self, capacity: count) {
            UnsafeBufferPointer(start: $0, count: count)
        }
    }

    fileprivate func columnName(_ column: Int32) -> String {
        handle.flatMap { PQfname($0, column) }.map { String(cString: $0) } ?? "?"
    }
}

/// A row of a `PostgresResult`, with the same accessors as an SQLite row (columns 0-based).
struct PostgresRow: StoreRow {
    let result: PostgresResult
    let index: Int32
    /// The store the row came from, for errors.
    let path: String

    func isNull(_ column: Int32) -> Bool { result.value(index, column) == nil }

    func optionalText(_ column: Int32) -> String? {
        result.value(index, column).map { String(decoding: $0, as: UTF8.self) }
    }

    func text(_ column: Int32) -> String { optionalText(column) ?? "" }

    func optionalInt64(_ column: Int32) -> Int64? {
        guard let bytes = result.value(index, column) else { return nil }
        var value: Int64 = 0
        var negative = false
        for byte in bytes {
            if byte == UInt8(ascii: "-") {
                negative = true
            } else if byte >= 0x30 && byte <= 0x39 {
                value = value &* 10 &+ Int64(byte - 0x30)
            }
        }
        return negative ? -value : value
    }

    func int64(_ column: Int32) -> Int64 { optionalInt64(column) ?? 0 }

    func int(_ column: Int32) -> Int { Int(int64(column)) }

    func optionalBool(_ column: Int32) -> Bool? { result.value(index, column).map { $0.first == UInt8(ascii: "t") } }

    /// A `bytea` column in hex output (`\x0a1b…`, the server default since 9.0).
    func optionalBlob(_ column: Int32) -> [UInt8]? {
        guard let text = result.value(index, column) else { return nil }
        guard text.count >= 2, text[0] == UInt8(ascii: "\\"), text[1] == UInt8(ascii: "x") else {
            return Array(text)  // escape output would need decoding; the schema never asks for it
        }
        func nibble(_ c: UInt8) -> UInt8 { Hex.value(of: c) ?? 0 }
        var bytes: [UInt8] = []
        bytes.reserveCapacity((text.count - 2) / 2)
        var i = 2
        while i + 1 < text.count {
            bytes.append(nibble(text[i]) << 4 | nibble(text[i + 1]))
            i += 2
        }
        return bytes
    }

    /// A JSON column (text); text that does not parse means the row was written by something else.
    func optionalJSON(_ column: Int32) throws(StoreError) -> JSON? {
        guard let bytes = result.value(index, column) else { return nil }
        do {
            return try JSON.parse(bytes)
        } catch {
            throw StoreError(
                kind: .corrupt, message: "column \(result.columnName(column)) holds invalid JSON (\(error))",
                path: path)
        }
    }

    func json(_ column: Int32) throws(StoreError) -> JSON { try optionalJSON(column) ?? .null }
}

extension String {
    fileprivate var trimmingSuffixNewlines: String {
        var s = Substring(self)
        while let last = s.last, last == "\n" || last == " " { s = s.dropLast() }
        return String(s)
    }
}

/// Calls `body` with a NULL-terminated-free array of C strings that live for the call.
private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let copies = strings.map { strdup($0) }
    defer { for copy in copies { free(copy) } }
    let pointers = copies.map { UnsafePointer($0) } + [nil]
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

/// Calls `body` with an array of pointers into `buffers` (nil for SQL NULL), valid for the call.
private func withPointers<R>(
    to buffers: [[CChar]?], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R
) -> R {
    var pinned: [UnsafeMutablePointer<CChar>?] = []
    pinned.reserveCapacity(buffers.count)
    defer { for p in pinned { p?.deallocate() } }
    for buffer in buffers {
        guard let buffer else {
            pinned.append(nil)
            continue
        }
        let p = UnsafeMutablePointer<CChar>.allocate(capacity: max(1, buffer.count))
        p.initialize(from: buffer, count: buffer.count)
        pinned.append(p)
    }
    let pointers = pinned.map { UnsafePointer($0) }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress) }
}
