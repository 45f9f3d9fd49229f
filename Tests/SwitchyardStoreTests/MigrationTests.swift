import Foundation
import SwitchyardCore
import SwitchyardInbound
import SwitchyardTasks
import Testing

@testable import SwitchyardStore

@Suite struct MigrationTests {
    @Test func freshFileIsMigratedToTheLatestVersion() throws {
        try withTemporaryStore { store, path throws in
            #expect(try store.storedSchemaVersion() == SQLiteStore.schemaVersion)
            #expect(SQLiteStore.schemaVersion == 3)
            #expect(fileExists(path + "-wal"), "WAL mode")
        }
    }

    /// An SQLite file with no schema (version 0) becomes a store; a zero-byte file is refused
    /// instead (`StoreEdgeTests`).
    @Test func emptyDatabaseAtVersionZeroIsMigrated() throws {
        try withTemporaryDirectory { directory throws in
            let path = directory + "/empty.db"
            do {
                let other = try SQLiteConnection(path: path, readOnly: false, create: true, busyTimeoutMilliseconds: 0)
                try other.execute("CREATE TABLE x (y); DROP TABLE x")
            }
            let store = try SQLiteStore(path: path)
            #expect(try store.storedSchemaVersion() == SQLiteStore.schemaVersion)
            _ = try store.createTask(id: "t1", owner: "alice", agent: "a")
        }
    }

    @Test func reopenIsIdempotentAndKeepsData() throws {
        try withTemporaryDirectory { directory throws in
            let path = directory + "/tasks.db"
            do {
                let store = try SQLiteStore(path: path)
                _ = try store.createTask(id: "t1", owner: "alice", agent: "a", metadata: ["k": "v"])
            }
            for _ in 0..<3 {
                let store = try SQLiteStore(path: path)
                #expect(try store.storedSchemaVersion() == SQLiteStore.schemaVersion)
                #expect(try store.task(id: "t1", owner: "alice")?.task.metadata == ["k": "v"])
            }
        }
    }

    @Test func migratesVersionOneWithDataToVersionTwo() throws {
        try withTemporaryDirectory { directory throws in
            let path = directory + "/v1.db"
            do {
                let raw = try SQLiteConnection(path: path, readOnly: false, create: true, busyTimeoutMilliseconds: 100)
                try raw.execute(Schema.migrations[0])
                try raw.execute("PRAGMA user_version = 1")
                try raw.execute(
                    """
                    INSERT INTO tasks (id, owner, agent, state, metadata, created_at, updated_at, last_event_seq)
                    VALUES ('old', 'alice', 'a', 'paused', '{"x":1}', 5, 6, 0)
                    """
                )
            }
            let store = try SQLiteStore(path: path)
            #expect(try store.storedSchemaVersion() == SQLiteStore.schemaVersion)
            #expect(try store.task(id: "old", owner: "alice")?.task.state == .paused)
            #expect(try store.beginIdempotent(owner: "alice", key: "k", requestHash: "h", ttl: .seconds(60)) == .new)
        }
    }

    @Test func newerSchemaIsRefused() throws {
        try withTemporaryDirectory { directory throws in
            let path = directory + "/future.db"
            do { _ = try SQLiteStore(path: path) }
            do {
                let raw = try SQLiteConnection(path: path, readOnly: false, create: false, busyTimeoutMilliseconds: 100)
                try raw.execute("PRAGMA user_version = 99")
            }
            let error = storeError { _ = try SQLiteStore(path: path) }
            #expect(error?.kind == .schemaTooNew)
            #expect(error?.path == path)
        }
    }

    @Test func anotherApplicationsDatabaseIsRefused() throws {
        try withTemporaryDirectory { directory throws in
            let path = directory + "/other.db"
            do {
                let raw = try SQLiteConnection(path: path, readOnly: false, create: true, busyTimeoutMilliseconds: 100)
                try raw.execute("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('keep me')")
            }
            let before = fileBytes(path)
            let error = storeError { _ = try SQLiteStore(path: path) }
            #expect(error?.kind == .foreignDatabase)
            #expect(fileBytes(path) == before)
        }
    }
}
