private import CSQLite
import SwitchyardCore
import SwitchyardTasks

/// A value bound to a statement parameter.
enum SQLValue {
    case null
    case integer(Int64)
    case text(String)
    case blob([UInt8])

    static func text(_ s: String?) -> SQLValue { s.map { .text($0) } ?? .null }
    static func integer(_ i: Int64?) -> SQLValue { i.map { .integer($0) } ?? .null }
    static func int(_ i: Int) -> SQLValue { .integer(Int64(i)) }
    /// JSON columns hold compact serialised text.
    static func json(_ j: JSON?) -> SQLValue { j.map { .text($0.serializedString()) } ?? .null }
}

/// One prepared statement (`sqlite3_stmt`), finalized exactly once in `deinit`.
///
/// Statements are cached by their connection and reused: callers bind, step and always `reset()`
/// (`SQLiteConnection.query` does). A statement never outlives the bytes it was bound with because
/// every bind copies (`SQLITE_TRANSIENT`, via `sy_sqlite3_bind_*_transient`).
final class SQLiteStatement: StoreRow {
    private let handle: OpaquePointer
    private let connection: SQLiteConnection.Context

    init(sql: String, connection: SQLiteConnection.Context, persistent: Bool) throws(StoreError) {
        var statement: OpaquePointer?
        // SQLITE_PREPARE_PERSISTENT: a hint that the statement is kept and reused (cache-friendly memory).
        let flags = persistent ? UInt32(SQLITE_PREPARE_PERSISTENT) : 0
        let rc = sqlite3_prepare_v3(connection.db, sql, -1, flags, &statement, nil)
        guard rc == SQLITE_OK, let statement else {
            // "*ppStmt is left pointing to a compiled prepared statement ... or NULL if there is an
            // error": nothing to finalize on failure.
            throw connection.error(rc, "preparing a statement")
        }
        self.handle = statement
        self.connection = connection
    }

    deinit { sqlite3_finalize(handle) }

    func bind(_ values: [SQLValue]) throws(StoreError) {
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let rc: Int32
            switch value {
            case .null: rc = sqlite3_bind_null(handle, index)
            case .integer(let i): rc = sqlite3_bind_int64(handle, index, i)
            case .text(var s):
                rc = s.withUTF8 { buffer in
                    // An empty buffer may have no base address, and a NULL pointer binds SQL NULL.
                    guard let base = buffer.baseAddress, buffer.count > 0 else {
                        return sy_sqlite3_bind_text_transient(handle, index, "", 0)
                    }
                    return base.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                        sy_sqlite3_bind_text_transient(handle, index, $0, Int32(buffer.count))
                    }
                }
            case .blob(let bytes):
                rc = bytes.withUnsafeBytes { buffer in
                    guard let base = buffer.baseAddress, buffer.count > 0 else {
                        return sqlite3_bind_zeroblob(handle, index, 0)
                    }
                    return sy_sqlite3_bind_blob_transient(handle, index, base, Int32(buffer.count))
                }
            }
            guard rc == SQLITE_OK else { throw connection.error(rc, "binding a parameter") }
        }
    }

    /// Advances; `true` when a row is available.
    func step() throws(StoreError) -> Bool {
        let rc = sqlite3_step(handle)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw connection.error(rc, "running a statement")
        }
    }

    /// Makes the statement reusable. Its return value repeats the last step's error, already reported.
    func reset() { sqlite3_reset(handle) }

    // MARK: Columns (0-based)

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(handle, column) == SQLITE_NULL }

    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }

    func int(_ column: Int32) -> Int { Int(sqlite3_column_int64(handle, column)) }

    func optionalInt64(_ column: Int32) -> Int64? { isNull(column) ? nil : int64(column) }

    func text(_ column: Int32) -> String { optionalText(column) ?? "" }

    func optionalText(_ column: Int32) -> String? {
        // column_text first, then column_bytes: the documented order for a stable length.
        guard let pointer = sqlite3_column_text(handle, column) else { return nil }
        let count = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeBufferPointer(start: pointer, count: count), as: UTF8.self)
    }

    func optionalBlob(_ column: Int32) -> [UInt8]? {
        if isNull(column) { return nil }
        let count = Int(sqlite3_column_bytes(handle, column))
        guard count > 0, let pointer = sqlite3_column_blob(handle, column) else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    /// A JSON column; text that does not parse means the file was damaged or written by something else.
    func optionalJSON(_ column: Int32) throws(StoreError) -> JSON? {
        guard let pointer = sqlite3_column_text(handle, column) else { return nil }
        let count = Int(sqlite3_column_bytes(handle, column))
        do {
            return try JSON.parse(UnsafeBufferPointer(start: pointer, count: count))
        } catch {
            let name = sqlite3_column_name(handle, column).map { String(cString: $0) } ?? "?"
            throw StoreError(
                kind: .corrupt, message: "column \(name) holds invalid JSON (\(error))", path: connection.path
            )
        }
    }

    func json(_ column: Int32) throws(StoreError) -> JSON { try optionalJSON(column) ?? .null }
}
