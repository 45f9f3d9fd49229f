import Foundation
import SwitchyardCore
import SwitchyardTasks
import Testing

@testable import SwitchyardStore

/// Failures at open and on write. Tests run as root, which ignores file modes (chmod 0444 still
/// opens read-write), so read-only is SQLITE_OPEN_READONLY and "cannot open" is a missing directory.
@Suite struct OpenErrorTests {
    @Test func pathInAMissingDirectoryCannotBeOpened() throws {
        try withTemporaryDirectory { directory throws in
            let path = directory + "/missing/dir/tasks.db"
            let error = try #require(storeError { _ = try SQLiteStore(path: path) })
            #expect(error.kind == .cannotOpen)
            #expect(error.path == path)
            #expect(error.description.contains(path))
            #expect(!fileExists(directory + "/missing"))
        }
    }

    @Test func readOnlyStoreRefusesWritesAndMigrations() throws {
        try withTemporaryDirectory { directory throws in
            let path = directory + "/tasks.db"
            do { _ = try SQLiteStore(path: path).createTask(id: "t1", owner: "alice", agent: "a") }
            let store = try SQLiteStore(path: path, configuration: .init(readOnly: true))
            #expect(try store.task(id: "t1", owner: "alice")?.task.id == "t1")
            let error = try #require(storeError { try store.transition(taskID: "t1", event: .start) })
            #expect(error.kind == .readOnly)
            #expect(error.path == path)
            #expect(try store.task(id: "t1", owner: "alice")?.task.state == .idle)
            #expect(storeError { _ = try store.createTask(id: "t2", owner: "alice", agent: "a") }?.kind == .readOnly)

            // A read-only open of a file that needs migrating fails at open, not at first write.
            let empty = directory + "/empty.db"
            do {
                let other = try SQLiteConnection(path: empty, readOnly: false, create: true, busyTimeoutMilliseconds: 0)
                try other.execute("CREATE TABLE x (y); DROP TABLE x")  // an SQLite file at schema version 0
            }
            let before = fileBytes(empty)
            let migrate = storeError { _ = try SQLiteStore(path: empty, configuration: .init(readOnly: true)) }
            #expect(migrate?.kind == .readOnly)
            #expect(fileBytes(empty) == before)
        }
    }

    @Test func garbageFileIsReportedAndLeftUntouched() throws {
        try withTemporaryDirectory { directory throws in
            let path = directory + "/tasks.db"
            var generator = SystemRandomNumberGenerator()
            let garbage = Data((0..<8192).map { _ in UInt8.random(in: 0...255, using: &generator) })
            _ = FileManager.default.createFile(atPath: path, contents: garbage)
            for configuration in [SQLiteStore.Configuration(), SQLiteStore.Configuration(checkIntegrityAtOpen: false)] {
                let error = try #require(storeError { _ = try SQLiteStore(path: path, configuration: configuration) })
                #expect(error.kind == .corrupt)
                #expect(error.path == path)
                #expect(error.message.contains("left untouched"))
            }
            #expect(fileBytes(path) == garbage)
            #expect(!fileExists(path + "-wal") && !fileExists(path + "-journal"))
        }
    }

    @Test func damagedPagesAreFoundByQuickCheck() throws {
        try withTemporaryDirectory { directory throws in
            let path = directory + "/tasks.db"
            do {
                let store = try SQLiteStore(path: path)
                for i in 0..<300 {
                    _ = try store.createTask(id: "task-\(i)", owner: "alice", agent: "agent", metadata: ["i": .int(i)])
                }
            }  // closing the last connection checkpoints the WAL into the file
            var bytes = try #require(fileBytes(path))
            let pageSize = 4096
            #expect(bytes.count > 6 * pageSize)
            // Smash pages 3 and 4, keeping the header (page 1) intact so the file still opens.
            for i in (2 * pageSize)..<(4 * pageSize) { bytes[i] = 0xA5 }
            try bytes.write(to: URL(fileURLWithPath: path))
            let error = try #require(storeError { _ = try SQLiteStore(path: path) })
            #expect(error.kind == .corrupt)
            #expect(fileBytes(path) == bytes)
        }
    }

    @Test func writerBlockedByAnExclusiveTransactionGetsBusy() throws {
        try withTemporaryDirectory { directory throws in
            let path = directory + "/tasks.db"
            let store = try SQLiteStore(path: path, configuration: .init(busyTimeout: .milliseconds(100)))
            _ = try store.createTask(id: "t1", owner: "alice", agent: "a")
            let other = try SQLiteConnection(path: path, readOnly: false, create: false, busyTimeoutMilliseconds: 0)
            try other.execute("BEGIN EXCLUSIVE")
            let started = ContinuousClock.now
            let error = try #require(storeError { try store.transition(taskID: "t1", event: .start) })
            #expect(ContinuousClock.now - started >= .milliseconds(100))
            #expect(error.kind == .busy)
            #expect(error.message.contains("locked by another connection"))
            #expect(error.message.contains("busy_timeout of 100 ms"))
            // WAL: readers are not blocked by the writer's lock.
            #expect(try store.task(id: "t1", owner: "alice")?.task.state == .idle)
            try other.execute("ROLLBACK")
            try store.transition(taskID: "t1", event: .start)
        }
    }

    @Test func openBlockedByAnExclusiveLockOnARollbackJournalFileGetsBusy() throws {
        try withTemporaryDirectory { directory throws in
            let path = directory + "/plain.db"
            let other = try SQLiteConnection(path: path, readOnly: false, create: true, busyTimeoutMilliseconds: 0)
            try other.execute("CREATE TABLE x (y); PRAGMA user_version = 0")
            try other.execute("DROP TABLE x")
            try other.execute("BEGIN EXCLUSIVE")
            let error = try #require(
                storeError { _ = try SQLiteStore(path: path, configuration: .init(busyTimeout: .milliseconds(50))) }
            )
            #expect(error.kind == .busy)
            #expect(error.path == path)
            try other.execute("ROLLBACK")
            _ = try SQLiteStore(path: path)
        }
    }
}
