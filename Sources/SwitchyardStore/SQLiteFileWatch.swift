import Glibc
import SwitchyardThreads
import Synchronization

/// Tells a running server, without polling, that some process may have committed to its SQLite
/// file: `switchyard tasks pause|resume|cancel`, or another server on the same file.
///
/// inotify on the file's directory, for writes to the database, its WAL and its rollback journal
/// (every commit writes one of them with `write`; readers write nothing but the mmapped `-shm`,
/// which inotify does not see). One thread per process (`sy-store-watch`, `FileWatchHub`) sleeps in
/// `read` on the inotify descriptor until such a write and then calls `onChange`, so an idle server
/// wakes for nothing; before this, the server polled `data_version` every 500 ms (about 10 context
/// switches a second, idle). The signal is a hint: this process's own commits raise it too, so the
/// receiver still asks `data_version` whether the write was another process's. After signalling,
/// the thread waits `FileWatchHub.coalesce` (50 ms) before it reads again, so a busy writer (this
/// server's own commits: task checkpoints, idempotency records, stored responses) raises at most 20
/// signals a second, each a `data_version` read.
public final class SQLiteFileWatch: Sendable {
    private let id: UInt64
    private let hub: FileWatchHub
    private let counter: Counter

    private final class Counter: Sendable {
        let signals = Atomic<Int>(0)
    }

    /// Signals raised so far (tests).
    var signals: Int { counter.signals.load(ordering: .relaxed) }

    /// Starts watching the database at `path` (as SQLite opens it: relative to the working
    /// directory). `onChange` runs on the watch thread with its registry locked: keep it short,
    /// and start or stop no watch in it. Nil when the system refuses (no inotify, a limit on
    /// inotify instances or watches reached, the directory unreadable); the caller then polls.
    public init?(path: String, onChange: @escaping @Sendable () -> Void) {
        let base = path.lastIndex(of: "/").map { String(path[path.index(after: $0)...]) } ?? path
        guard !base.isEmpty, let hub = FileWatchHub.shared else { return nil }
        let directory = StoreFile.directory(of: path)
        let counter = Counter()
        let signal: @Sendable () -> Void = {
            counter.signals.add(1, ordering: .relaxed)
            onChange()
        }
        guard let id = hub.register(directory: directory, names: Self.names(base: base), onChange: signal) else {
            return nil
        }
        self.id = id
        self.hub = hub
        self.counter = counter
    }

    /// Stops the watch: no `onChange` call starts after this returns. Idempotent.
    public func stop() { hub.unregister(id) }

    /// The names of the store's files that a commit writes: `path`'s base name, with `-wal` and
    /// `-journal`.
    static func names(base: String) -> Set<[UInt8]> {
        [Array(base.utf8), Array((base + "-wal").utf8), Array((base + "-journal").utf8)]
    }
}

/// The process's one inotify descriptor and the thread that reads it, shared by every
/// `SQLiteFileWatch` (a user may hold only 128 inotify descriptors, `fs.inotify.max_user_instances`,
/// and a test process runs many servers at once). Started on first use; lives as long as the
/// process, asleep in `read` while no watched file is written.
final class FileWatchHub: Sendable {
    /// Nil when inotify is refused.
    static let shared: FileWatchHub? = FileWatchHub()

    /// The pause after a signal before the next read (see `SQLiteFileWatch`).
    static let coalesce = timespec(tv_sec: 0, tv_nsec: 50_000_000)

    private struct Registration {
        var watch: Int32
        var names: Set<[UInt8]>
        var onChange: @Sendable () -> Void
    }

    private struct State {
        var nextID: UInt64 = 1
        /// In the order registered (ids ascending).
        var registrations: [(id: UInt64, registration: Registration)] = []
        /// inotify gives a directory watched twice the same watch descriptor: how many
        /// registrations use each, so the last one out removes it.
        var users: [Int32: Int] = [:]
        var thread: OSThread?
    }

    private let fd: Int32
    private let state = Mutex(State())

    private init?() {
        fd = inotify_init1(Int32(IN_CLOEXEC))
        guard fd >= 0 else { return nil }
    }

    /// Watches `directory` for writes to `names`; nil when inotify refuses the watch or no thread
    /// could be started.
    func register(directory: String, names: Set<[UInt8]>, onChange: @escaping @Sendable () -> Void) -> UInt64? {
        state.withLock { s -> UInt64? in
            if s.thread == nil {
                s.thread = try? OSThread.start(name: "sy-store-watch", stackSize: 256 << 10) { [self] in run() }
                if s.thread == nil { return nil }
            }
            let watch = inotify_add_watch(fd, directory, UInt32(IN_MODIFY | IN_CREATE | IN_MOVED_TO))
            guard watch >= 0 else { return nil }
            let id = s.nextID
            s.nextID += 1
            s.registrations.append((id, Registration(watch: watch, names: names, onChange: onChange)))
            s.users[watch, default: 0] += 1
            return id
        }
    }

    func unregister(_ id: UInt64) {
        state.withLock { s in
            guard let index = s.registrations.firstIndex(where: { $0.id == id }) else { return }
            let registration = s.registrations.remove(at: index).registration
            s.users[registration.watch, default: 1] -= 1
            if s.users[registration.watch] == 0 {
                s.users[registration.watch] = nil
                _ = inotify_rm_watch(fd, registration.watch)
            }
        }
    }

    private func run() {
        var buffer = [UInt8](repeating: 0, count: 8192)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }
            let signalled = buffer.withUnsafeBytes { raw in
                deliver(UnsafeRawBufferPointer(rebasing: raw[..<n]))
            }
            if signalled {
                var wait = Self.coalesce
                var rest = timespec()
                while nanosleep(&wait, &rest) != 0 && errno == EINTR { wait = rest }
            }
        }
    }

    /// Calls, in the order registered, every registration that one of `events` concerns; true
    /// when any was called.
    private func deliver(_ events: UnsafeRawBufferPointer) -> Bool {
        state.withLock { s in
            var called = false
            for (_, r) in s.registrations where Self.concern(events, watch: r.watch, names: r.names) {
                r.onChange()
                called = true
            }
            return called
        }
    }

    /// True when one of the inotify events in `events` (as `read` returned them) is about `watch`
    /// and names one of `names`, or says the queue overflowed (events were lost, a commit may be
    /// among them). Each event is `struct inotify_event`: wd (4 bytes), mask (4), cookie (4),
    /// len (4), then len bytes of name, NUL-padded.
    static func concern(_ events: UnsafeRawBufferPointer, watch: Int32, names: Set<[UInt8]>) -> Bool {
        var offset = 0
        while offset + 16 <= events.count {
            let wd = events.loadUnaligned(fromByteOffset: offset, as: Int32.self)
            let mask = events.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)
            let length = Int(events.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
            if mask & UInt32(IN_Q_OVERFLOW) != 0 { return true }
            if wd == watch {
                let name = events[(offset + 16)..<min(events.count, offset + 16 + length)].prefix { $0 != 0 }
                if names.contains(Array(name)) { return true }
            }
            offset += 16 + length
        }
        return false
    }
}
