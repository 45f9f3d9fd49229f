import CMicroHTTPD
import CSwitchyardEdge
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Owns one `struct MHD_Daemon *` and stops it exactly once.
///
/// Threading mode: one MHD internal polling thread using epoll
/// (MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME; the latter implies MHD_USE_ITC, so
/// a resume from a handler task wakes the loop). Connections waiting on a handler or on stream
/// bytes are suspended, so one thread serves thousands of them; handlers run on Swift tasks.
/// Measured on this 2-core box (wrk on the same cores, trivial handler, release build): single
/// epoll thread c=1 p50 49-64 µs / p99 91-189 µs round trip, c=64 ~47k req/s in a quiet moment;
/// a 2-thread epoll pool (MHD_OPTION_THREAD_POOL_SIZE) was worse at c=1 (p99 in ms) and not
/// better at c=64 (the Swift tasks need the second core); MHD_USE_TURBO showed no reliable gain.
/// Thread-per-connection was ~40% slower in the earlier prototype. If epoll is unavailable,
/// a poll() or else select() internal thread is used.
///
/// `@unchecked Sendable`: `daemon` and `core` are immutable after init (an opaque C pointer and
/// an `Unmanaged` are not `Sendable` by type); MHD_quiesce_daemon and MHD_stop_daemon may be
/// called from any thread, and `state` serialises them so each happens at most once and
/// quiesce never follows stop.
final class MHDDaemon: @unchecked Sendable {
    private struct State {
        var stopped = false
        /// The listen socket MHD_quiesce_daemon handed back, or -1.
        var quiescedSocket: Int32 = -1
    }

    private let daemon: OpaquePointer
    private let core: Unmanaged<ServerCore>
    private let state = Mutex(State())

    /// Starts MHD on `listenSocket`, which this call consumes (closes) whether it succeeds or not.
    ///
    /// MHD 0.9.75 closes an adopted listen socket on most, but not all, of its failure paths, so
    /// it gets a `dup` and we close our own descriptor: no double close whatever MHD does; at
    /// worst the duplicate leaks when MHD fails before adopting it (a fatal startup error).
    init(core server: ServerCore, listenSocket: ListenSocket, threadPoolSize: Int = 1) throws(HTTPServerError) {
        let configuration = server.configuration
        let mode =
            if MHD_is_feature_supported(.FEATURE_EPOLL) == .YES {
                MHD_USE_EPOLL_INTERNAL_THREAD.rawValue
            } else if MHD_is_feature_supported(.FEATURE_POLL) == .YES {
                MHD_USE_POLL_INTERNAL_THREAD.rawValue
            } else {
                MHD_USE_INTERNAL_POLLING_THREAD.rawValue
            }
        let adopted = fcntl(listenSocket.fd, F_DUPFD_CLOEXEC, 0)
        close(listenSocket.fd)
        guard adopted >= 0 else {
            throw HTTPServerError(.startFailed, "cannot duplicate the listen socket: \(ListenSocket.errnoText())")
        }
        guard let watcher = server.watcher else {
            close(adopted)
            throw HTTPServerError(.startFailed, "cannot create the connection watcher: \(ListenSocket.errnoText())")
        }
        MHDErrorPages.install()
        let retained = Unmanaged.passRetained(server)
        let started = sy_mhd_start_daemon(
            mode | MHD_ALLOW_SUSPEND_RESUME.rawValue,
            adopted,
            UInt32(clamping: ConnectionTable.hardLimit(max(1, configuration.maxConnections))),
            UInt32(clamping: max(0, configuration.connectionTimeoutSeconds)),
            max(4096, configuration.maxHeaderBytes),
            UInt32(clamping: threadPoolSize),
            acceptPolicyCallback, retained.toOpaque(),
            accessHandlerCallback, retained.toOpaque(),
            requestCompletedCallback, retained.toOpaque(),
            uriLogCallback, retained.toOpaque(),
            connectionNotifyCallback, retained.toOpaque())
        guard let started else {
            retained.release()
            throw HTTPServerError(.startFailed, "MHD_start_daemon failed on port \(listenSocket.port)")
        }
        guard watcher.start(core: server) else {
            MHD_stop_daemon(started)
            retained.release()
            throw HTTPServerError(.startFailed, "cannot start the connection watcher thread")
        }
        daemon = started
        core = retained
    }

    /// MHD_quiesce_daemon: stop accepting; MHD hands the listen socket back, we close it after
    /// MHD_stop_daemon (MHD's doc: not before, its thread may still use it).
    func quiesce() {
        state.withLock { state in
            guard !state.stopped, state.quiescedSocket < 0 else { return }
            let socket = MHD_quiesce_daemon(daemon)
            state.quiescedSocket = socket
            // MHD merely stops accepting; the kernel would keep queueing (and hanging) new clients
            // in the backlog. On Linux, shutdown() on a listening socket stops listening, so
            // they are refused instead. The descriptor stays open until after MHD_stop_daemon.
            if socket >= 0 { _ = shutdown(socket, Int32(SHUT_RDWR)) }
        }
    }

    /// Resumes suspended connections, stops MHD (joins its thread, closes every connection,
    /// which runs the request-completed callback for each) and releases the core. Idempotent.
    func stop() {
        let first = state.withLock { state in
            defer { state.stopped = true }
            return !state.stopped
        }
        guard first else { return }
        core.takeUnretainedValue().beginStopping()
        MHD_stop_daemon(daemon)
        core.takeUnretainedValue().watcher?.stop()
        let socket = state.withLock { $0.quiescedSocket }
        if socket >= 0 { close(socket) }
        core.release()
    }

    deinit {
        stop()
    }
}
