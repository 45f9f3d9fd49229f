#if canImport(Glibc)
import Glibc
#endif

/// A child process that only sleeps, for `PostgresTestServer.startServer(watching:)`: the test's
/// own server lives until the test kills this child.
///
/// Spawned with `posix_spawn` rather than Foundation's `Process`: on Linux, `Process.run()` (Swift
/// 6.3.1) reads `/proc/self/fd` with a 256-byte copy of each directory entry that can run past
/// glibc's buffer, and crashed the test process (SIGSEGV in memmove) in a run whose gateways held
/// four hundred PostgreSQL connections open (swift-corelibs-foundation pull request 5472).
public final class LifeLine: Sendable {
    public let pid: Int32

    public struct SpawnError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Starts `/bin/sleep seconds` (holding none of the test process's descriptors but 0-2).
    public init(seconds: Int = 600) throws {
        do {
            pid = try ChildProcess.spawn("/bin/sleep", arguments: [String(seconds)])
        } catch {
            throw SpawnError(description: error.description)
        }
    }

    /// Kills the child with SIGKILL (it inherits the test process's blocked signals, SIGTERM among
    /// them) and reaps it; calling it again does nothing.
    public func kill() {
        guard Glibc.kill(pid, SIGKILL) == 0 else { return }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }

    deinit { kill() }
}
