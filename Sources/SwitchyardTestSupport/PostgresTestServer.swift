#if canImport(Glibc)
import Glibc
public import SwitchyardCore
#endif

/// The PostgreSQL server the suites share: `$SWITCHYARD_TEST_POSTGRES_URL` when set (`scripts/test`
/// starts one with `scripts/test-postgres run` and sets it), else a throwaway server this test
/// process starts once with `scripts/test-postgres start`, which stops it when the process exits.
///
/// Nothing is mocked: the tests talk to a real server on loopback. When none can be started (no
/// PostgreSQL installed, run by hand), the PostgreSQL cases are skipped with `reason`; with
/// `$SWITCHYARD_TEST_POSTGRES_REQUIRED` set (as `scripts/test` sets it), they run and fail instead.
public enum PostgresTestServer {
    /// The server's URL (password included), or why there is none.
    public static let url: Result<String, Unavailable> = start()

    /// The server as a parsed `StoreURL`, or why there is none (a URL that does not parse counts as
    /// none).
    public static func storeURL() throws(Unavailable) -> StoreURL {
        switch url {
        case .success(let text):
            guard case .success(let parsed) = StoreURL.parse(text) else { throw Unavailable(description: "bad URL") }
            return parsed
        case .failure(let problem):
            throw problem
        }
    }

    /// Whether a missing server fails the PostgreSQL cases instead of skipping them.
    public static var required: Bool { getenv("SWITCHYARD_TEST_POSTGRES_REQUIRED").map { String(cString: $0) } == "1" }

    /// Whether the PostgreSQL cases run: a server is there, or one is required (and its absence fails them).
    public static var enabled: Bool {
        if case .success = url { return true }
        if required { return true }
        print("note: PostgreSQL cases skipped: \(reason ?? "")")
        return false
    }

    /// Why there is no server, for skip messages.
    public static var reason: String? {
        if case .failure(let problem) = url { return problem.description }
        return nil
    }

    public struct Unavailable: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    private static func start() -> Result<String, Unavailable> {
        if let value = getenv("SWITCHYARD_TEST_POSTGRES_URL"), value.pointee != 0 {
            return .success(String(cString: value))
        }
        return startServer(watching: getpid())
    }

    /// Starts a server of its own (for a test that stops it) and returns its URL; the server is
    /// stopped and its directory removed within about a second of process `pid` exiting.
    public static func startServer(watching pid: Int32, file: String = #filePath) -> Result<String, Unavailable> {
        let root = file.firstRange(of: "/Sources/SwitchyardTestSupport/").map { String(file[..<$0.lowerBound]) } ?? "."
        let script = root + "/scripts/test-postgres"
        guard access(script, X_OK) == 0 else {
            return .failure(Unavailable(description: "\(script) not found; set SWITCHYARD_TEST_POSTGRES_URL"))
        }
        // The script returns once the server accepts connections; the server's watcher is detached
        // and stops it when process `pid` has exited. Not popen: the server and its watcher live on
        // and must not hold the test process's sockets (see `ChildProcess`).
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return .failure(Unavailable(description: "pipe: errno \(errno)")) }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let child: pid_t
        do {
            child = try ChildProcess.spawn(
                script, arguments: ["start", "--watch", String(pid)], stdout: .descriptor(fds[1]),
                stderr: .descriptor(fds[1]))
        } catch {
            close(fds[0])
            close(fds[1])
            return .failure(Unavailable(description: "could not run \(script): \(error)"))
        }
        close(fds[1])
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fds[0], &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            output += buffer[0..<n]
        }
        close(fds[0])
        var status: Int32 = 0
        while waitpid(child, &status, 0) < 0 && errno == EINTR {}
        let text = String(decoding: output, as: UTF8.self)
        let lines = text.split(separator: "\n")
        guard status == 0, let url = lines.last(where: { $0.hasPrefix("postgres://") }) else {
            return .failure(
                Unavailable(
                    description:
                        "scripts/test-postgres could not start a server: \(lines.suffix(3).joined(separator: " / "))"))
        }
        return .success(String(url))
    }
}
