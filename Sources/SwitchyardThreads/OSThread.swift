import Glibc

/// A plain thread of the system, for a blocking loop that must never sit on the cooperative pool
/// (an event loop, the worker pool, the edge's watcher, the PostgreSQL store's connections,
/// listener and lease keeper, the mock servers' connections): one way to hand it a Swift closure
/// (retained across `pthread_create`, released when it returns or when no thread was made) and
/// to wait for it.
public struct OSThread: Sendable {
    private let handle: pthread_t

    private final class Body {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    /// Starts a thread running `body`, which keeps what it captures alive until it returns.
    /// `stackSize` (bytes) replaces the system's default (8 MiB); a detached thread frees itself
    /// when it ends and must not be joined. Throws pthread_create's error when the system refused
    /// the thread; `body` is then released without running.
    @discardableResult
    public static func start(
        stackSize: Int? = nil, detached: Bool = false, _ body: @escaping @Sendable () -> Void
    ) throws(OSThreadError) -> OSThread {
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        defer { pthread_attr_destroy(&attr) }
        if detached { pthread_attr_setdetachstate(&attr, Int32(PTHREAD_CREATE_DETACHED)) }
        if let stackSize { pthread_attr_setstacksize(&attr, stackSize) }
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(
            &thread, &attr,
            { raw in
                Unmanaged<Body>.fromOpaque(raw!).takeRetainedValue().run()
                return nil
            }, context)
        guard rc == 0 else {
            Unmanaged<Body>.fromOpaque(context).release()
            throw OSThreadError(code: rc)
        }
        return OSThread(handle: thread)
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
