import SwitchyardCore
import SwitchyardTasks

/// What the logic both stores share (task creation, the checkpoint's step updates and history,
/// row decoding) needs from a connection: `SQLiteConnection` and `PostgresConnection` conform.
///
/// The shared code is generic over it, never an existential, so each store's calls are
/// specialised and dispatched statically as if written for its own connection type.
///
/// Shared SQL writes its parameters as `?` (SQLite's syntax); the PostgreSQL connection numbers
/// them `$1`, `$2`, … once per statement text, when it prepares the statement. Shared SQL must
/// therefore not use PostgreSQL's jsonb `?` operators (`jsonb_exists` says the same).
protocol StoreConnection: AnyObject {
    associatedtype Row: StoreRow

    /// Names the store in errors: the SQLite file's path, the PostgreSQL URL without its password.
    var location: String { get }

    /// Runs `sql` with `arguments` and maps each row.
    func query<T>(
        _ sql: String, _ arguments: [SQLValue], row: (Row) throws(StoreError) -> T
    ) throws(StoreError) -> [T]

    /// The first row of `sql`, mapped; nil if it returned none.
    func queryOne<T>(
        _ sql: String, _ arguments: [SQLValue], row: (Row) throws(StoreError) -> T
    ) throws(StoreError) -> T?

    /// Runs a statement whose rows, if any, are not needed; the number of rows it changed.
    @discardableResult
    func run(_ sql: String, _ arguments: [SQLValue]) throws(StoreError) -> Int

    /// Inserts history `entries` of `taskID`, numbered from `first`, in the order given.
    func insertEvents(
        taskID: String, first: Int64, _ entries: [(type: String, data: JSON)], at now: Int64)
        throws(StoreError)
}

/// A result row, columns 0-based. SQL NULL reads as "" or 0 from the non-optional accessors.
protocol StoreRow {
    func isNull(_ column: Int32) -> Bool
    func text(_ column: Int32) -> String
    func optionalText(_ column: Int32) -> String?
    func int(_ column: Int32) -> Int
    func int64(_ column: Int32) -> Int64
    func optionalInt64(_ column: Int32) -> Int64?
    func json(_ column: Int32) throws(StoreError) -> JSON
    func optionalJSON(_ column: Int32) throws(StoreError) -> JSON?
}
