import Glibc
import SwitchyardCore
import SwitchyardTasks
import SwitchyardTestSupport
import Synchronization
import Testing

@testable import SwitchyardStore

/// The store behind a test's store path. Every test store is named by a path from
/// `temporaryStorePath` (`/tmp/switchyard-test-…`), which `GatewayHarness.start`, the task
/// helpers and the process tests write into `store:`. With `SWITCHYARD_TEST_STORE=postgres`
/// (`TestStoreBackend`) such a path stands for a scratch schema on the suite's PostgreSQL server
/// instead of a file: created on first use, the same schema for the same path (a restart on "the
/// same store" finds its data), dropped by `removeStore`. A path from `sqliteStorePath` stays a
/// file whatever the switch says: the tests about SQLite itself.
enum TestStore {
    /// The variable a configuration's `store.url_env` names when the store is a scratch schema.
    static let urlVariable = "SWITCHYARD_TEST_STORE_URL"
    static let prefix = "/tmp/switchyard-test-"
    static let sqlitePrefix = "/tmp/switchyard-test-sqlite-"

    /// Whether `path` stands for a scratch schema in this run.
    static func onPostgres(_ path: String) -> Bool {
        TestStoreBackend.selected == .postgres && path.hasPrefix(prefix) && !path.hasPrefix(sqlitePrefix)
    }

    private static let schemas = Mutex<[String: (name: String, url: String)]>([:])

    /// The URL of the scratch schema standing for `path`, created on first use.
    static func url(for path: String) async throws -> String {
        if let known = schemas.withLock({ $0[path] }) { return known.url }
        let server = try PostgresTestServer.storeURL()
        var g = SystemRandomNumberGenerator()
        let name = "t_gw_" + String(g.next() as UInt64, radix: 36)
        let url = try await PostgresStore.createScratchSchema(url: server, name: name)
        // Two helpers racing for one path (never seen; a test starts its processes in turn) keep the first.
        let (winner, lost) = schemas.withLock { s -> (String, Bool) in
            if let known = s[path] { return (known.url, true) }
            s[path] = (name, url.value)
            return (url.value, false)
        }
        if lost { try? await PostgresStore.dropScratchSchema(url: server, name: name) }
        record(.postgres)
        return winner
    }

    /// `store:`'s value for `path` in a `serve` process's configuration: the file, or the scratch
    /// schema through `urlVariable` (whose value `environment(for:)` gives). A process the test
    /// SIGKILLs leaves its tasks to the next one after its lease: 5 s instead of the default 15 s
    /// keeps a test that kills twice short, while a renewal (every 1.7 s) still outlasts the stalls
    /// of a loaded CI machine.
    static func yaml(_ path: String) -> String {
        onPostgres(path) ? "{kind: postgres, url_env: \(urlVariable), lease_ms: 5000}" : "{path: \"\(path)\"}"
    }

    /// What a gateway on `yaml(path)` needs in its environment.
    static func environment(for path: String) async throws -> [String: String] {
        guard onPostgres(path) else {
            record(.sqlite)
            return [:]
        }
        return [urlVariable: try await url(for: path)]
    }

    /// `config.store` moved onto the scratch schema for its path when the switch says so, with
    /// the environment that reaches it; a configuration that names its own store is left alone.
    static func apply(to config: inout SwitchyardConfig) async throws -> [String: String] {
        guard config.store.kind == .sqlite else {
            record(.postgres)
            return [:]
        }
        let environment = try await environment(for: config.store.path)
        guard onPostgres(config.store.path) else { return [:] }
        config.store.kind = .postgres
        config.store.urlEnv = urlVariable
        return environment
    }

    /// Forgets the scratch schema standing for `path`, so the path stands for a fresh one if a test
    /// uses it again. The schema itself is left on the run's server, which `scripts/test-postgres
    /// run` deletes with its directory afterwards: dropping it on a thread of its own raced the test
    /// process's exit (libpq connecting while `exit` tore down the TLS library's globals crashed
    /// a run whose every test had passed, 2 of 9 runs), and dropping it inline would hold one of the
    /// cooperative pool's threads, two on CI, for the round trips.
    static func drop(_ path: String) {
        _ = schemas.withLock { $0.removeValue(forKey: path) }
    }

    /// Everything the store standing for `path` holds, as text, for leak checks: the SQLite file
    /// and its WAL as bytes, or every row of the scratch schema's tables (byte columns with their
    /// printable bytes as they are, so a secret in a stored body shows).
    static func contents(_ path: String) throws -> String {
        guard let schema = schemas.withLock({ $0[path] }) else {
            return ["", "-wal"].map { fileText(path + $0) }.joined(separator: "\n")
        }
        let server = try PostgresTestServer.storeURL()
        let connection = try PostgresConnection(url: server.value, location: server.location)
        let columns = try connection.query(
            "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = $1"
                + " ORDER BY table_name, ordinal_position", [.text(schema.name)]
        ) { row throws(StoreError) in (table: row.text(0), column: row.text(1), type: row.text(2)) }
        var text: [String] = []
        for (table, columns) in Dictionary(grouping: columns, by: \.table).sorted(by: { $0.key < $1.key }) {
            let values = columns.map { c in
                c.type == "bytea" ? "encode(\"\(c.column)\", 'escape')" : "\"\(c.column)\"::text"
            }
            text += try connection.query(
                "SELECT concat_ws(E'\\t', \(values.joined(separator: ", "))) FROM \(schema.name).\"\(table)\""
            ) { row throws(StoreError) in row.text(0) }
        }
        #expect(!text.isEmpty, "the schema holds rows")
        return text.joined(separator: "\n")
    }

    /// Counts the running test as one that used `backend` (`TestStoreBackend.record`).
    static func record(_ backend: TestStoreBackend) {
        backend.record(test: Test.current.map { "\($0.id)" } ?? "unknown")
    }
}
