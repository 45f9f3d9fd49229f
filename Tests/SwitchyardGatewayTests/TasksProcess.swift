import Dispatch
import Foundation
import Glibc
import SwitchyardCore
import SwitchyardTestSupport
import Synchronization

/// The real `switchyard` executable as a child process, with its stderr (JSON log lines) read on
/// a dispatch thread so tests can wait for a line instead of sleeping.
final class SwitchyardProcess: Sendable {
    struct SpawnError: Error, CustomStringConvertible {
        var description: String
    }

    private struct Output {
        var lines: [String] = []
        var partial: [UInt8] = []
        var waiters: [(String, CheckedContinuation<String?, Never>)] = []
        var ended = false
    }

    let pid: pid_t
    private let output = Mutex(Output())
    /// While set, the reader stops reading the child's stderr (after at most one more read) until
    /// it is signalled: `pauseReading()`.
    private let readGate = Mutex<DispatchSemaphore?>(nil)
    private let exited = Mutex<Int32?>(nil)

    /// `$SWITCHYARD_TEST_BINARY` if set (to run the suites against another build), else the
    /// executable next to the test bundle (`.build/<triple>/debug/switchyard`), else
    /// `.build/debug/switchyard` under the package root found from this file's path.
    static func binaryPath(file: String = #filePath) -> String? {
        if let path = ProcessInfo.processInfo.environment["SWITCHYARD_TEST_BINARY"] { return path }
        var candidates: [String] = []
        if let arg0 = CommandLine.arguments.first, let slash = arg0.lastIndex(of: "/") {
            var dir = String(arg0[..<slash])
            // Inside `switchyardPackageTests.xctest/…` on some layouts: climb out of the bundle.
            if let bundle = dir.range(of: ".xctest") {
                dir = String(dir[..<bundle.lowerBound])
                dir = String(dir[..<(dir.lastIndex(of: "/") ?? dir.endIndex)])
            }
            candidates.append(dir + "/switchyard")
        }
        let root = file.components(separatedBy: "/Tests/").dropLast().joined(separator: "/Tests/")
        candidates.append(root + "/.build/debug/switchyard")
        return candidates.first { access($0, X_OK) == 0 }
    }

    /// Starts `path arguments…` with exactly `environment`; stderr is captured, stdout discarded
    /// (or captured with stderr when `captureStdout`).
    init(path: String, arguments: [String], environment: [String: String], captureStdout: Bool = false) throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw SpawnError(description: "pipe: errno \(errno)") }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        // Only stdin, stdout and stderr reach the child (see ChildProcess).
        do {
            pid = try ChildProcess.spawn(
                path, arguments: arguments, environment: environment, stdin: .null,
                stdout: captureStdout ? .descriptor(fds[1]) : .null, stderr: .descriptor(fds[1]))
        } catch {
            close(fds[0])
            close(fds[1])
            throw SpawnError(description: error.description)
        }
        close(fds[1])
        let readFD = fds[0]
        // A blocking read for the child's whole life: on its own serial queue, which overcommits (a
        // new thread if needed). On the global queue, whose width is the core count, two children
        // alive at once on CI's two cores would hold every thread and a third child's output
        // would not be read until one of them exited.
        DispatchQueue(label: "switchyard-test.child-stderr").async { [self] in readLoop(readFD) }
    }

    private func readLoop(_ fd: Int32) {
        var buffer = [UInt8](repeating: 0, count: 8192)
        while true {
            if let gate = readGate.withLock({ $0 }) {
                gate.wait()
                gate.signal()
            }
            let n = read(fd, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            let ready = output.withLock { o -> [(CheckedContinuation<String?, Never>, String)] in
                o.partial += buffer[0..<n]
                var ready: [(CheckedContinuation<String?, Never>, String)] = []
                while let newline = o.partial.firstIndex(of: 0x0A) {
                    let line = String(decoding: o.partial[..<newline], as: UTF8.self)
                    o.partial.removeSubrange(...newline)
                    o.lines.append(line)
                    o.waiters.removeAll { needle, waiter in
                        guard line.contains(needle) else { return false }
                        ready.append((waiter, line))
                        return true
                    }
                }
                return ready
            }
            for (waiter, line) in ready { waiter.resume(returning: line) }
        }
        close(fd)
        let waiting = output.withLock { o -> [CheckedContinuation<String?, Never>] in
            o.ended = true
            defer { o.waiters = [] }
            return o.waiters.map(\.1)
        }
        for waiter in waiting { waiter.resume(returning: nil) }
    }

    /// The first stderr line containing `needle` (already printed or still to come); nil if the
    /// process closed stderr (exited) first.
    func line(containing needle: String) async -> String? {
        await withCheckedContinuation { (waiter: CheckedContinuation<String?, Never>) in
            let found = output.withLock { o -> String?? in
                if let line = o.lines.first(where: { $0.contains(needle) }) { return .some(line) }
                if o.ended { return .some(nil) }
                o.waiters.append((needle, waiter))
                return nil
            }
            if let found { waiter.resume(returning: found) }
        }
    }

    /// Waits for the process to exit on its own; returns its exit code (128 + signal if killed).
    func exitCode() async -> Int32 {
        _ = await line(containing: "\u{0}never")  // returns once the output closes
        let status = kill(0)
        return status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    /// Stops reading the child's stderr, as a log reader that fell behind would: once the pipe is
    /// full, the child's writes to it block (or fail with EAGAIN) until `resumeReading()`.
    func pauseReading() { readGate.withLock { $0 = $0 ?? DispatchSemaphore(value: 0) } }

    func resumeReading() {
        let gate = readGate.withLock { g in
            defer { g = nil }
            return g
        }
        gate?.signal()
    }

    /// Everything the process wrote to stderr so far.
    var stderr: String { output.withLock { $0.lines.joined(separator: "\n") } }

    /// The port from the `listening` log line.
    func port() async throws -> Int {
        guard let line = await line(containing: #""msg":"listening""#), let json = try? JSON.parse(line),
            let port = json["port"]?.intValue ?? json["port"]?.stringValue.flatMap({ Int($0) })
        else { throw SpawnError(description: "switchyard did not start:\n\(stderr)") }
        return port
    }

    /// Sends `signal` without waiting (SIGTERM to start a drain, SIGHUP to reload).
    func signal(_ signal: Int32) { _ = Glibc.kill(pid, signal) }

    /// Sends `signal` and reaps the process; returns its wait status.
    @discardableResult
    func kill(_ signal: Int32 = SIGKILL) -> Int32 {
        if let status = exited.withLock({ $0 }) { return status }
        _ = Glibc.kill(pid, signal)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        exited.withLock { $0 = status }
        return status
    }

    deinit { kill() }
}
