#if canImport(Glibc)
import Glibc
#endif

/// The threads of the PostgreSQL store (its pool's connections, the listener, the lease keeper):
/// each runs one blocking loop, so each is a plain thread, never a task on the cooperative pool.
enum PostgresThread {
    private final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    /// Starts a thread running `body` (which keeps what it captures alive until it returns);
    /// nil when the system refused the thread.
    static func start(_ body: @escaping () -> Void) -> pthread_t? {
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(
            &thread, nil,
            { raw in
                Unmanaged<Body>.fromOpaque(raw!).takeRetainedValue().run()
                return nil
            }, context)
        guard rc == 0 else {
            Unmanaged<Body>.fromOpaque(context).release()
            return nil
        }
        return thread
    }

    /// Waits for `thread` to end, unless it is the calling thread (an owner released on its own
    /// thread cannot wait for itself).
    static func join(_ thread: pthread_t) {
        if pthread_equal(thread, pthread_self()) == 0 { pthread_join(thread, nil) }
    }
}
