import SwitchyardTasks
import SwitchyardThreads
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One connection that `LISTEN`s on `switchyard_tasks` on a thread of its own and hands each
/// notification to `handler` (on that thread). The triggers of the schema send one per committed
/// task change, from any process, this one's included (`pid` tells them apart).
///
/// A broken connection is replaced after a pause (doubling from 100 ms to 5 s); notifications sent
/// meanwhile are lost, so every reconnection is reported (`.reconnected`) and the store's users
/// look at the database again.
///
/// `@unchecked Sendable`: `thread` is written in `start()` and read in `stop()`, which the
/// `stopping` flag (an atomic) makes run once; `schema` is behind its own mutex.
final class PostgresListener: @unchecked Sendable {
    enum Event {
        case notification(payload: String, pid: Int32)
        case reconnected
    }

    static let channel = "switchyard_tasks"

    private let url: String
    private let location: String
    private let handler: @Sendable (Event) -> Void
    private let stopping = Atomic<Bool>(false)
    /// True while the connection listens (after its LISTEN committed).
    let listening = Atomic<Bool>(false)
    /// True from a failed connection attempt (or a dropped connection) until the next LISTEN
    /// works: the database is unreachable from here. False while the first attempt runs.
    let unreachable = Atomic<Bool>(false)
    private let schemaName = Mutex<String?>(nil)
    private var thread: OSThread?

    /// The schema whose notifications count (`current_schema()` of the listening connection).
    var schema: String? { schemaName.withLock { $0 } }

    init(url: String, location: String, handler: @escaping @Sendable (Event) -> Void) {
        self.url = url
        self.location = location
        self.handler = handler
    }

    func start() {
        thread = try? OSThread.start(name: "sy-pg-listen") { [self] in run() }
    }

    /// Ends the thread within one poll interval and waits for it. Idempotent.
    func stop() {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing), let thread else { return }
        thread.join()
    }

    private func run() {
        var pause: UInt32 = 100_000
        var first = true
        while !stopping.load(ordering: .relaxed) {
            do {
                let connection = try PostgresConnection(url: url, location: location)
                try connection.execute("LISTEN \(Self.channel)")
                let schema = try connection.queryOne("SELECT current_schema()") { $0.optionalText(0) } ?? nil
                schemaName.withLock { $0 = schema }
                listening.store(true, ordering: .releasing)
                unreachable.store(false, ordering: .releasing)
                if !first { handler(.reconnected) }
                first = false
                pause = 100_000
                defer { listening.store(false, ordering: .releasing) }
                try listen(on: connection)
            } catch {
                // Unreachable or dropped: try again after a pause, unless stopping.
                if stopping.load(ordering: .relaxed) { return }
                unreachable.store(true, ordering: .releasing)
                usleep(pause)
                pause = min(pause * 2, 5_000_000)
                first = false
            }
        }
    }

    /// Waits on the socket (200 ms at a time, to notice `stop()`), delivering what arrives.
    private func listen(on connection: PostgresConnection) throws(StoreError) {
        while !stopping.load(ordering: .relaxed) {
            var descriptor = pollfd(fd: connection.socket, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, 200)
            if ready < 0 && errno != EINTR {
                throw StoreError(kind: .unavailable, message: "poll failed (errno \(errno))", path: location)
            }
            guard ready > 0 else { continue }
            for notification in try connection.notifications() where notification.channel == Self.channel {
                handler(.notification(payload: notification.payload, pid: notification.pid))
            }
            if !connection.isHealthy {
                throw StoreError(kind: .unavailable, message: "the listening connection closed", path: location)
            }
        }
    }
}
