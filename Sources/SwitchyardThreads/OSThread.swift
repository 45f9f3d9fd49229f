import Glibc

/// A plain thread of the system, for a blocking loop that must never sit on the cooperative pool
/// (an event loop, the worker pool, the edge's watcher, the PostgreSQL store's connections,
/// listener and lease keeper, the mock servers' connections): one way to hand it a Swift closure
/// (retained across `pthread_create`, released when it returns or when no thread was made) and
/// to wait for it.
public struct OSThread: Sendable {
    private let handle: pthread_t

    private final class Body {
        let name: String?
        let run: @Sendable () -> Void
        init(_ name: String?, _ run: @escaping @Sendable () -> Void) {
            self.name = name
            self.run = run
        }
    }

    /// The longest thread name Linux keeps, in bytes (16 with the terminating zero); it cuts a
    /// longer one there, even inside a character.
    public static let maxNameBytes = 15

    /// Starts a thread running `body`, which keeps what it captures alive until it returns.
    /// `name` is what `top -H`, `ps -L`, `/proc/PID/task/TID/comm`, `perf` and debuggers show
    /// for it (cut to `maxNameBytes` at a character boundary; without one the thread keeps its
    /// creator's name, which is often a dispatch queue's). `stackSize` (bytes) replaces the
    /// system's default (8 MiB); a detached thread frees itself when it ends and must not be
    /// joined. Throws pthread_create's error when the system refused the thread; `body` is then
    /// released without running.
    @discardableResult
    public static func start(
        name: String? = nil, stackSize: Int? = nil, detached: Bool = false,
        _ body: @escaping @Sendable () -> Void
    ) throws(OSThreadError) -> OSThread {
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        defer { pthread_attr_destroy(&attr) }
        if detached { pthread_attr_setdetachstate(&attr, Int32(PTHREAD_CREATE_DETACHED)) }
        if let stackSize { pthread_attr_setstacksize(&attr, stackSize) }
        let context = Unmanaged.passRetained(Body(name.map(Self.systemName), body)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(
            &thread, &attr,
            { raw in
                let body = Unmanaged<Body>.fromOpaque(raw!).takeRetainedValue()
                if let name = body.name { OSThread.nameCurrentThread(name) }
                body.run()
                return nil
            }, context)
        guard rc == 0 else {
            Unmanaged<Body>.fromOpaque(context).release()
            throw OSThreadError(code: rc)
        }
        return OSThread(handle: thread)
    }

    /// `name` cut to the bytes Linux keeps for a thread's name, never inside a character.
    private static func systemName(_ name: String) -> String {
        var name = Substring(name)
        while name.utf8.count > maxNameBytes { name.removeLast() }
        return String(name)
    }

    /// Names the calling thread through procfs (Glibc's module does not export
    /// `pthread_setname_np`, which writes the same file).
    private static func nameCurrentThread(_ name: String) {
        let fd = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = name.withCString { write(fd, $0, strlen($0)) }
        close(fd)
    }

    /// True when called on this thread.
    public var isCurrent: Bool { pthread_equal(handle, pthread_self()) != 0 }

    /// Waits for the thread to end, unless it is the calling thread (an owner released or stopped
    /// on its own thread cannot wait for itself). Once per started, not detached, thread.
    public func join() {
        if !isCurrent { pthread_join(handle, nil) }
    }
}

/// `pthread_create` refused a thread.
public struct OSThreadError: Error, Sendable {
    /// Its error number (EAGAIN: a limit on threads or memory; EINVAL: an attribute).
    public let code: Int32
}
