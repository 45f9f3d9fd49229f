import Foundation
import Logging
import SwitchyardCore
import SwitchyardTasks
import Synchronization
import Testing

@testable import SwitchyardStore

/// A running server hears another process's commits to its SQLite file when the file is written,
/// not at its next poll (`SQLiteFileWatch`, `TaskRuntime.externalChangeHint`).
@Suite(.timeLimit(.minutes(1)))
struct SQLiteFileWatchTests {
    static let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    @Test func anotherConnectionsCommitSignals() async throws {
        let directory = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/tasks.db"
        let server = try SQLiteStore(path: path)
        _ = try server.createTask(id: "t", owner: "alice", agent: "a")
        let cli = try SQLiteStore(path: path)
        let (signals, signal) = AsyncStream.makeStream(of: Void.self)
        let watch = try #require(SQLiteFileWatch(path: path) { signal.yield() })
        defer { watch.stop() }
        var heard = signals.makeAsyncIterator()
        try cli.transition(taskID: "t", event: .start)
        _ = await heard.next()
        #expect(watch.signals >= 1)
        #expect(try server.externalChangeVersion() != 0)
    }

    /// Two watches of one file share the directory's inotify watch: stopping the first leaves the
    /// second heard, and the first is not called again (the thread calls watches in the order they
    /// were made, so by the second's signal the first would have had its call).
    @Test func aStoppedWatchIsNotCalledAndLeavesAnotherOnTheSameDirectoryWatching() async throws {
        let directory = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/tasks.db"
        let server = try SQLiteStore(path: path)
        let first = try #require(SQLiteFileWatch(path: path) {})
        let (signals, signal) = AsyncStream.makeStream(of: Void.self)
        let second = try #require(SQLiteFileWatch(path: path) { signal.yield() })
        defer { second.stop() }
        first.stop()
        first.stop()  // idempotent
        var heard = signals.makeAsyncIterator()
        _ = try server.createTask(id: "t", owner: "alice", agent: "a")
        _ = await heard.next()
        #expect(first.signals == 0)
        #expect(second.signals >= 1)
    }

    @Test func aDirectoryThatCannotBeWatchedGivesNoWatch() {
        #expect(SQLiteFileWatch(path: "/nonexistent-\(UUID().uuidString)/tasks.db") {} == nil)
        #expect(SQLiteFileWatch(path: "/tmp/") {} == nil, "no file name")
    }

    /// One inotify event as the kernel writes it: a 16-byte header, then the name NUL-padded to
    /// `length`.
    static func event(
        _ name: String, watch: Int32 = 1, mask: UInt32 = UInt32(IN_MODIFY), length: Int? = nil
    ) -> [UInt8] {
        let padded = length ?? (name.utf8.count / 16 + 1) * 16
        var bytes: [UInt8] = []
        withUnsafeBytes(of: watch.littleEndian) { bytes += $0 }
        for word in [mask, 0, UInt32(padded)] { withUnsafeBytes(of: word.littleEndian) { bytes += $0 } }
        bytes += Array(name.utf8) + [UInt8](repeating: 0, count: padded - name.utf8.count)
        return bytes
    }

    static func concern(_ events: [[UInt8]]) -> Bool {
        let names = SQLiteFileWatch.names(base: "tasks.db")
        return events.joined().map { $0 }.withUnsafeBytes { FileWatchHub.concern($0, watch: 1, names: names) }
    }

    /// Writes to the database, its WAL or its journal in the watched directory concern the store;
    /// other files of that directory, names that only start like them, the mmapped `-shm` and
    /// files of another watched directory do not; a lost-events notice does, since a commit may
    /// be among them.
    @Test func onlyTheStoresOwnFilesConcernIt() {
        #expect(Self.concern([Self.event("tasks.db")]))
        #expect(Self.concern([Self.event("tasks.db-wal")]))
        #expect(Self.concern([Self.event("tasks.db-journal")]))
        #expect(Self.concern([Self.event("tasks.db-wal", length: 32)]))
        #expect(!Self.concern([Self.event("tasks.db-wal", watch: 2)]), "another directory's")
        #expect(!Self.concern([Self.event("tasks.db-shm")]))
        #expect(!Self.concern([Self.event("other.log"), Self.event("tasks.db.bak"), Self.event("tasks.db-walnut")]))
        #expect(!Self.concern([Self.event("tasks.d"), Self.event("asks.db"), Self.event("")]))
        #expect(!Self.concern([]))
        // The store's file after others in one read.
        #expect(Self.concern([Self.event("other.log"), Self.event("tasks.db.bak"), Self.event("tasks.db-wal")]))
        #expect(Self.concern([Self.event("", watch: -1, mask: UInt32(IN_Q_OVERFLOW), length: 0)]))
        // A header cut short by the buffer's end is not read past it.
        let cut = Array(Self.event("tasks.db-wal").prefix(12))
        #expect(!Self.concern([cut]))
    }

    /// Answers nothing until cancelled; tells when each call starts and when it saw its cancel.
    final class Hang: StepRunner {
        let started: AsyncStream<Void>
        let cancelled: AsyncStream<Void>
        private let start: AsyncStream<Void>.Continuation
        private let cancel: AsyncStream<Void>.Continuation

        init() {
            (started, start) = AsyncStream.makeStream()
            (cancelled, cancel) = AsyncStream.makeStream()
        }

        func run(_ request: JSON, requestID: String) async -> StepOutcome {
            start.yield()
            while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
            cancel.yield()
            return StepOutcome(state: .failed, errorClass: "cancelled")
        }
    }

    /// A cancel committed by another process (`switchyard tasks cancel`) aborts the running
    /// step as the file is written. The runtime's own poll is an hour here, so without the watch
    /// the step would hang until the suite's time limit.
    @Test func aCancelCommittedElsewhereAbortsTheStepWithoutWaitingForAPoll() async throws {
        let directory = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/tasks.db"
        let store = try SQLiteStore(path: path)
        let runner = Hang()
        let runtime = TaskRuntime(
            store: SQLiteTaskStore(store), runner: runner, workers: 1, logger: Self.quiet,
            watchInterval: .seconds(3600))
        let watch = try #require(SQLiteFileWatch(path: path) { runtime.externalChangeHint() })
        defer {
            watch.stop()
            runtime.stop()
        }
        _ = try await runtime.recover()
        runtime.startWatching()
        let body = JSON.object([
            "agent": "a",
            "steps": [["id": "s0", "request": ["model": "m", "messages": [["role": "user", "content": "hang"]]]]],
        ]).serialized()
        let id = try await TaskService(runtime: runtime).create(
            owner: "alice", try TaskCreateRequest.parse(body: body) { _ in true }
        ).task.id
        var started = runner.started.makeAsyncIterator()
        _ = await started.next()

        let cli = try SQLiteStore(path: path)
        try cli.transition(taskID: id, event: .cancel)
        var cancelled = runner.cancelled.makeAsyncIterator()
        _ = await cancelled.next()
        #expect(watch.signals >= 1)
    }
}
