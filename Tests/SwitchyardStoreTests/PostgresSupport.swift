import Foundation
import SwitchyardCore
import SwitchyardTasks
import SwitchyardTestSupport
import Testing

@testable import SwitchyardStore

/// A fresh schema on the suite's server, dropped afterwards: the URL of an empty store.
func withPostgresSchema<T>(_ body: (StoreURL) async throws -> T) async throws -> T {
    let server = try PostgresTestServer.storeURL()
    let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
    let url = try await PostgresStore.createScratchSchema(url: server, name: name)
    TestStoreBackend.postgres.record(test: Test.current.map { "\($0.id)" } ?? "unknown")
    do {
        let value = try await body(url)
        try await PostgresStore.dropScratchSchema(url: server, name: name)
        return value
    } catch {
        try? await PostgresStore.dropScratchSchema(url: server, name: name)
        throw error
    }
}

/// Opens a PostgreSQL store on a fresh schema, runs `body`, closes it and drops the schema.
func withPostgresStore<T>(
    configuration: PostgresStore.Configuration = PostgresStore.Configuration(listen: false),
    _ body: (PostgresStore, StoreURL) async throws -> T
) async throws -> T {
    try await withPostgresSchema { url in
        let store = try await PostgresStore(url: url, configuration: configuration)
        defer { store.close() }
        return try await body(store, url)
    }
}

extension ManualClock {
    /// A PostgreSQL store configuration on this clock, as process `instance`.
    func postgres(instance: String, lease: Duration = .seconds(15), listen: Bool = false) -> PostgresStore.Configuration
    {
        PostgresStore.Configuration(
            poolSize: 2, leaseDuration: lease, instanceID: instance, clock: { [self] in current }, listen: listen)
    }
}

/// Runs `body` and returns the `StoreError` it threw, or nil.
func storeError(_ body: () async throws -> Void) async -> StoreError? {
    do {
        try await body()
        return nil
    } catch let error as StoreError {
        return error
    } catch {
        Issue.record("expected a StoreError, got \(error)")
        return nil
    }
}

/// A task store on the backend `SWITCHYARD_TEST_STORE` selects (`TestStoreBackend`): a fresh
/// SQLite file, or a PostgreSQL store on a fresh schema (dropped afterwards), for the tests of
/// what runs on top of `TaskStore` whatever the backend.
func withSelectedTaskStore(_ body: (any TaskStore) async throws -> Void) async throws {
    switch TestStoreBackend.selected {
    case .sqlite:
        TestStoreBackend.sqlite.record(test: Test.current.map { "\($0.id)" } ?? "unknown")
        let directory = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await body(SQLiteTaskStore(try SQLiteStore(path: directory + "/tasks.db")))
    case .postgres:
        try await withPostgresStore { store, _ in try await body(PostgresTaskStore(store)) }
    }
}
