import Foundation
import Glibc
import SwitchyardCore
import SwitchyardTasks
import SwitchyardTestSupport
import Synchronization
import Testing

@testable import SwitchyardStore

/// Opening a file that is not a store, a store that cannot be written, a full disk, and task
/// creation as one transaction.
@Suite struct StoreEdgeTests {
    @Test func anEmptyExistingFileIsRefusedNotMadeANewStore() throws {
        try withTemporaryDirectory { directory throws in
            let path = directory + "/tasks.db"
            _ = FileManager.default.createFile(atPath: path, contents: Data())
            for configuration in [SQLiteStore.Configuration(), SQLiteStore.Configuration(readOnly: true)] {
                let error = try #require(storeError { _ = try SQLiteStore(path: path, configuration: configuration) })
                #expect(error.kind == .corrupt)
                #expect(error.message.contains("empty (0 bytes)"))
                #expect(error.description.contains(path))
            }
            #expect(fileBytes(path)?.isEmpty == true)
            #expect(!fileExists(path + "-wal"))
        }
    }

    /// Root ignores file modes, so the file is made immutable (`chattr +i`) when running as root,
    /// read-only by mode otherwise: either way the operating system refuses to write it.
    @Test func aFileThatCannotBeWrittenIsNamedWithItsCause() throws {
        try withTemporaryDirectory { directory throws in
            let path = directory + "/tasks.db"
            do { _ = try SQLiteStore(path: path).createTask(id: "t1", owner: "alice", agent: "a") }
            let locked = try #require(Unwritable(path), "this machine cannot make a file unwritable")
            defer { locked.undo() }
            let error = try #require(storeError { _ = try SQLiteStore(path: path) })
            #expect(error.kind == .readOnly)
            #expect(error.message.contains("cannot be written"))
            #expect(error.message.contains(locked.expectedCause), "\(error.message)")
            #expect(error.description.contains(path))
            // Reading it still works (the CLI's `tasks list`).
            let reader = try SQLiteStore(path: path, configuration: .init(readOnly: true))
            #expect(try reader.task(id: "t1", owner: "alice") != nil)
        }
    }

    @Test func aDirectoryThatCannotBeWrittenIsNamed() throws {
        try withTemporaryDirectory { directory throws in
            let inner = directory + "/ro"
            try FileManager.default.createDirectory(atPath: inner, withIntermediateDirectories: false)
            let locked = try #require(Unwritable(inner), "this machine cannot make a directory unwritable")
            defer { locked.undo() }
            let error = try #require(storeError { _ = try SQLiteStore(path: inner + "/tasks.db") })
            #expect(error.kind == .readOnly)
            #expect(error.message.contains("cannot create files in \(inner)"))
        }
    }

    /// `PRAGMA max_page_count` makes SQLite answer SQLITE_FULL as a full disk would.
    @Test func aFullDiskIsAClearErrorReportedUntilWritesWorkAgain() throws {
        let outcomes = Mutex<[StoreError.Kind?]>([])
        let configuration = SQLiteStore.Configuration(onWrite: { e in outcomes.withLock { $0.append(e?.kind) } })
        try withTemporaryStore(configuration: configuration) { store, _ in
            _ = try store.createTask(id: "t0", owner: "alice", agent: "a")
            #expect(store.lastWriteFailure == nil)
            try store.limitToCurrentSize()
            let big: JSON = ["blob": .string(String(repeating: "x", count: 200_000))]
            let error = try #require(
                storeError { _ = try store.createTask(id: "t1", owner: "alice", agent: "a", metadata: big) })
            #expect(error.kind == .diskFull)
            #expect(error.message.contains("disk is full"))
            #expect(store.lastWriteFailure?.kind == .diskFull)
            #expect(try store.task(id: "t0", owner: "alice") != nil)  // reads go on
            #expect(try store.task(id: "t1", owner: "alice") == nil)
            // A refusal on the request's merits is not a store failure.
            #expect(storeError { try store.transition(taskID: "nope", event: .start) }?.kind == .notFound)
            #expect(store.lastWriteFailure == nil)
            try store.writer.withLock { try $0.execute("PRAGMA max_page_count = 1000000") }
            _ = try store.createTask(id: "t2", owner: "alice", agent: "a", metadata: big)
            #expect(store.lastWriteFailure == nil)
        }
        #expect(outcomes.withLock { $0 } == [nil, .diskFull, nil, nil])
    }

    /// Creating a task, its `start` with the steps and its `plan` are one transaction: a failure
    /// anywhere (here the disk filling up at the steps) leaves no task behind, never an `idle`
    /// one that nothing would ever resume.
    @Test func taskCreationIsOneTransaction() throws {
        try withTemporaryStore { store, _ in
            try store.limitToCurrentSize()
            let steps = (0..<3).map {
                PlannedStep(id: "s\($0)", request: ["content": .string(String(repeating: "y", count: 100_000))])
            }
            let error = storeError {
                _ = try store.createPlannedTask(id: "t1", owner: "alice", agent: "a", steps: steps)
            }
            #expect(error?.kind == .diskFull)
            #expect(try store.listTasks(owner: "alice").tasks.isEmpty)

            try store.writer.withLock { try $0.execute("PRAGMA max_page_count = 1000000") }
            let record = try store.createPlannedTask(id: "t1", owner: "alice", agent: "a", steps: steps)
            #expect(record.state == .executing)
            let snapshot = try #require(try store.task(id: "t1", owner: "alice"))
            #expect(snapshot.steps.map(\.stepID) == ["s0", "s1", "s2"])
            #expect(try store.events(taskID: "t1", owner: "alice").map(\.type).first == "task.created")
        }
    }
}

extension SQLiteStore {
    /// Lets the file grow no further, as if the disk were full.
    func limitToCurrentSize() throws(StoreError) {
        try writer.withLock { connection throws(StoreError) in
            let pages = try connection.queryOne("PRAGMA page_count", cache: false) { $0.int(0) } ?? 1
            try connection.execute("PRAGMA max_page_count = \(pages)")
        }
    }
}

/// A file or directory the operating system refuses to write, even for root; `undo()` restores it.
struct Unwritable {
    let path: String
    let immutable: Bool
    var expectedCause: String { immutable ? "EPERM" : "EACCES" }

    init?(_ path: String) {
        self.path = path
        immutable = geteuid() == 0
        if immutable {
            guard Self.run("/usr/bin/chattr", "+i", path) || Self.run("/bin/chattr", "+i", path) else { return nil }
        } else {
            guard chmod(path, 0o555) == 0 else { return nil }
        }
        guard access(path, W_OK) != 0 else {
            undo()
            return nil
        }
    }

    func undo() {
        if immutable {
            _ = Self.run("/usr/bin/chattr", "-i", path) || Self.run("/bin/chattr", "-i", path)
        } else {
            _ = chmod(path, 0o755)
        }
    }

    static func run(_ tool: String, _ arguments: String...) -> Bool {
        guard access(tool, X_OK) == 0, let pid = try? ChildProcess.spawn(tool, arguments: arguments) else {
            return false
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return status == 0
    }
}
