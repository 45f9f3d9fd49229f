#if canImport(Glibc)
import Glibc
#endif

/// Starts the helper processes of tests (`posix_spawn`) with only the three standard streams open.
///
/// Every other descriptor of the test process is closed in the child. Tests run in parallel, and at
/// any moment the process holds other tests' sockets (libcurl's, the mock servers'), which are not
/// close-on-exec. A child that inherits one keeps that connection open after its owner closed it,
/// and the peer never sees the close: with `--filter Stream`, a test waiting for a cancelled
/// transfer's connection to close waited for ever, because the PostgreSQL server the run started
/// meanwhile (alive until the run ends), its watcher shell and that shell's `sleep` held both ends
/// of it (`ss -tanp`).
///
/// Foundation's `Process` is not used: see `LifeLine`.
public enum ChildProcess {
    public struct SpawnError: Error, CustomStringConvertible {
        public var description: String
    }

    /// What one of the child's standard streams is.
    public enum Stream: Sendable {
        /// The test process's own.
        case inherit
        /// /dev/null.
        case null
        /// This descriptor of the test process (made descriptor 0, 1 or 2 of the child).
        case descriptor(Int32)
    }

    /// Starts `path` with `arguments` (after `argv[0]`, which is `path`) and `environment` (nil:
    /// the test process's own); returns its pid, to be reaped with `waitpid`.
    public static func spawn(
        _ path: String, arguments: [String] = [], environment: [String: String]? = nil,
        stdin: Stream = .inherit, stdout: Stream = .inherit, stderr: Stream = .inherit
    ) throws(SpawnError) -> Int32 {
        guard let closeFrom = addCloseFrom else {
            throw SpawnError(description: "posix_spawn_file_actions_addclosefrom_np is missing (glibc < 2.34)")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (target, stream) in [(Int32(0), stdin), (1, stdout), (2, stderr)] {
            switch stream {
            case .inherit: break
            case .null:
                posix_spawn_file_actions_addopen(&actions, target, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY, 0)
            case .descriptor(let fd):
                posix_spawn_file_actions_adddup2(&actions, fd, target)
            }
        }
        // After the dup2s, which may take their source from above 2.
        guard closeFrom(&actions, 3) == 0 else { throw SpawnError(description: "addclosefrom failed") }
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer {
            for p in argv { free(p) }
            for p in envp ?? [] { free(p) }
        }
        var child = pid_t()
        let rc =
            if let envp {
                posix_spawn(&child, path, &actions, nil, argv, envp)
            } else {
                posix_spawn(&child, path, &actions, nil, argv, environ)
            }
        guard rc == 0 else { throw SpawnError(description: "posix_spawn \(path): \(String(cString: strerror(rc)))") }
        return child
    }

    /// The kinds of descriptors `pid` has open above 2, as `/proc/<pid>/fd` names their targets
    /// ("socket", "pipe", "anon_inode", or "file"); for tests of what a child inherited.
    public static func openDescriptorKinds(of pid: Int32) -> [String] {
        guard let dir = opendir("/proc/\(pid)/fd") else { return [] }
        defer { closedir(dir) }
        var kinds: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard let fd = Int32(name), fd > 2 else { continue }
            var target = [CChar](repeating: 0, count: 256)
            let n = readlink("/proc/\(pid)/fd/\(fd)", &target, target.count - 1)
            guard n > 0 else { continue }
            let text = String(decoding: target[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if let colon = text.firstIndex(of: ":"), !text.hasPrefix("/") {
                kinds.append(String(text[..<colon]))
            } else {
                kinds.append("file")
            }
        }
        return kinds
    }

    // glibc ≥ 2.34 has it, but the Glibc module declares it only under _GNU_SOURCE: looked up at
    // run time.
    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private static let addCloseFrom: AddCloseFrom? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np")
        else { return nil }
        return unsafeBitCast(symbol, to: AddCloseFrom.self)
    }()
}
