package import SwitchyardCore
package import SwitchyardTasks

/// Scratch schemas, so tests and benchmarks running at once on one server each get an empty
/// store of their own: a schema named after the caller, and the server's URL with that schema as
/// its `search_path` (libpq's `options` parameter).
extension PostgresStore {
    /// Creates schema `name` (letters, digits, `_`) and returns `url` pointing at it.
    package static func createScratchSchema(url: StoreURL, name: String) async throws(StoreError) -> StoreURL {
        precondition(name.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" }, "schema names are plain identifiers")
        try await adminRun(url: url, "CREATE SCHEMA \(name)")
        let separator = url.value.contains("?") ? "&" : "?"
        let scoped = url.value + separator + "options=-c%20search_path%3D\(name)"
        guard case .success(let result) = StoreURL.parse(scoped) else {
            throw StoreError(kind: .invalidArgument, message: "not a PostgreSQL URL", path: url.location)
        }
        return result
    }

    /// Drops schema `name` and everything in it.
    package static func dropScratchSchema(url: StoreURL, name: String) async throws(StoreError) {
        try await adminRun(url: url, dropStatement(name))
    }

    /// `dropScratchSchema` waited for on the calling thread, for a caller that must not return
    /// before it is done (a test helper whose process may exit next: libpq's libraries abort in
    /// their exit-time clean-up when a connection is still being opened).
    package static func dropScratchSchemaNow(url: StoreURL, name: String) throws(StoreError) {
        let pool = PostgresPool(url: url.value, location: url.location, size: 1)
        defer { pool.close() }
        let sql = dropStatement(name)
        try pool.performBlocking { connection throws(StoreError) in try connection.execute(sql) }
    }

    private static func dropStatement(_ name: String) -> String { "DROP SCHEMA IF EXISTS \(name) CASCADE" }

    /// Runs one statement on a connection of its own, off the caller's thread.
    package static func adminRun(url: StoreURL, _ sql: String) async throws(StoreError) {
        let pool = PostgresPool(url: url.value, location: url.location, size: 1)
        defer { pool.close() }
        try await pool.perform { connection throws(StoreError) in try connection.execute(sql) }
    }
}
