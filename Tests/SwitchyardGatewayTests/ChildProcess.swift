import Foundation
import Synchronization

/// The real `switchyard` binary as a child process, with its stderr captured line by line so a
/// test can wait for a log line (an event) instead of sleeping.
// Invariant for @unchecked Sendable: `process` is configured and started in init and afterwards
// only read through Foundation's thread-safe accessors (isRunning, pid, waitUntilExit); the
// mutable line log and waiter list live in Mutexes.
final class ChildProcess: @unchecked Sendable {
    let process: Process
    private let lines = Mutex<[String]>([])
    private let waiters = Mutex<[(String, CheckedContinuation<String?, Never>)]>([])

    /// `.build/debug/<name>` of this package, next to the test bundle.
    static func binary(_ name: String) -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/\(name)").path
    }

    init(_ arguments: [String], environment: [String: String]) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary("switchyard"))
        process.arguments = arguments
        process.environment = environment
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = FileHandle.nullDevice
        let handle = pipe.fileHandleForReading
        let box = LineSink()
        let reader = Thread {
            var pending = Data()
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                pending.append(chunk)
                while let nl = pending.firstIndex(of: 0x0A) {
                    let line = String(decoding: pending[pending.startIndex..<nl], as: UTF8.self)
                    pending.removeSubrange(pending.startIndex...nl)
                    box.deliver(line)
                }
            }
            box.deliver(nil)
        }
        try process.run()
        box.owner = self
        reader.start()
    }

    fileprivate func receive(_ line: String?) {
        guard let line else {
            let all = waiters.withLock { w in
                defer { w.removeAll() }
                return w
            }
            for (_, c) in all { c.resume(returning: nil) }
            return
        }
        lines.withLock { $0.append(line) }
        let ready = waiters.withLock { w -> [CheckedContinuation<String?, Never>] in
            var hit: [CheckedContinuation<String?, Never>] = []
            w.removeAll { (needle, c) in
                if line.contains(needle) {
                    hit.append(c)
                    return true
                }
                return false
            }
            return hit
        }
        for c in ready { c.resume(returning: line) }
    }

    /// Waits for a stderr line containing `needle` (already seen lines count); nil if the
    /// process closed stderr first.
    func waitForLine(containing needle: String) async -> String? {
        await withCheckedContinuation { c in
            let seen = lines.withLock { $0.first { $0.contains(needle) } }
            if let seen {
                c.resume(returning: seen)
                return
            }
            let exited = !process.isRunning
            if exited {
                c.resume(returning: nil)
                return
            }
            waiters.withLock { $0.append((needle, c)) }
            // A line may have arrived between the check and the registration.
            if let late = lines.withLock({ $0.first { $0.contains(needle) } }) {
                let mine = waiters.withLock { w -> CheckedContinuation<String?, Never>? in
                    guard let i = w.firstIndex(where: { $0.0 == needle }) else { return nil }
                    return w.remove(at: i).1
                }
                mine?.resume(returning: late)
            }
        }
    }

    var output: String { lines.withLock { $0.joined(separator: "\n") } }

    /// The port from the `listening` log line.
    func port() async -> Int? {
        guard let line = await waitForLine(containing: "\"msg\":\"listening\"") else { return nil }
        guard let r = line.range(of: "\"port\":") else { return nil }
        return Int(line[r.upperBound...].prefix { $0.isNumber })
    }

    func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    /// Waits for exit and returns the status.
    func wait() async -> Int32 {
        await withCheckedContinuation { c in
            Thread {
                self.process.waitUntilExit()
                c.resume(returning: self.process.terminationStatus)
            }.start()
        }
    }

    deinit { if process.isRunning { process.terminate() } }
}

/// Hands lines from the reader thread to the owner once it exists.
private final class LineSink: @unchecked Sendable {
    // Invariant: `owner` is set once, before the reader thread starts, and never changed.
    weak var owner: ChildProcess?
    func deliver(_ line: String?) { owner?.receive(line) }
}
