import Foundation
import SwitchyardTasks
import Synchronization
import Testing

@testable import SwitchyardStore

/// A fresh directory per call, removed by the caller (`withTemporaryDirectory`).
func makeTemporaryDirectory() -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("switchyard-store-\(UUID().uuidString)")
        .path
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func withTemporaryDirectory<T>(_ body: (String) throws -> T) rethrows -> T {
    let directory = makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    return try body(directory)
}

/// Opens a store on a unique temporary file, runs `body`, and removes the files afterwards.
func withTemporaryStore<T>(
    configuration: SQLiteStore.Configuration = SQLiteStore.Configuration(),
    _ body: (SQLiteStore, String) throws -> T
) throws -> T {
    try withTemporaryDirectory { directory in
        let path = directory + "/tasks.db"
        let store = try SQLiteStore(path: path, configuration: configuration)
        return try body(store, path)
    }
}

/// A wall clock the test moves by hand (Unix milliseconds).
final class ManualClock: Sendable {
    private let now: Mutex<Int64>
    init(_ start: Int64 = 1_700_000_000_000) { now = Mutex(start) }
    func advance(milliseconds: Int64) { now.withLock { $0 += milliseconds } }
    var current: Int64 { now.withLock { $0 } }
    var configuration: SQLiteStore.Configuration {
        SQLiteStore.Configuration(clock: { [self] in now.withLock { $0 } })
    }
}

/// Runs `body` and returns the `StoreError` it threw, or nil.
func storeError(_ body: () throws -> Void) -> StoreError? {
    do {
        try body()
        return nil
    } catch let error as StoreError {
        return error
    } catch {
        Issue.record("expected a StoreError, got \(error)")
        return nil
    }
}

func fileBytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }
func fileExists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }
