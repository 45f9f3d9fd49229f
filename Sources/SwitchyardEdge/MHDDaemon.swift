#if canImport(Glibc)
import Glibc
#endif
import CMicroHTTPD
import Synchronization

/// Owns one `struct MHD_Daemon *` and stops it exactly once.
///
/// Threading mode: one MHD internal polling thread using epoll
/// (MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME, the latter implies MHD_USE_ITC so a
/// resume from a handler task wakes the loop). Connections waiting on a handler or on stream
/// bytes are suspended, so one thread serves thousands of them; handlers run on Swift tasks.
/// Measured here: this beat thread-per-connection by ~40% and a 2-thread epoll pool gave no
/// gain on 2 cores (the handler tasks need the second core). If epoll is unavailable, poll()
/// and then select() internal threads are tried.
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

    /// Starts MHD on `listenSocket`; on failure the socket is closed (MHD did not adopt it).
    init(core server: ServerCore, listenSocket: ListenSocket, threadPoolSize: Int = 1) throws(HTTPServerError) {
        let configuration = server.configuration
        let retained = Unmanaged.passRetained(server)
        let modes: [UInt32] = [
            MHD_USE_EPOLL_INTERNAL_THREAD.rawValue,
            MHD_USE_POLL_INTERNAL_THREAD.rawValue,
            MHD_USE_INTERNAL_POLLING_THREAD.rawValue,
        ]
        var started: OpaquePointer?
        for mode in modes where started == nil {
            started = sy_mhd_start_daemon(
                mode | MHD_ALLOW_SUSPEND_RESUME.rawValue,
                listenSocket.fd,
                UInt32(clamping: max(1, configuration.maxConnections)),
                UInt32(clamping: max(0, configuration.connectionTimeoutSeconds)),
                max(4096, configuration.maxHeaderBytes),
                UInt32(clamping: threadPoolSize),
                accessHandlerCallback, retained.toOpaque(),
                requestCompletedCallback, retained.toOpaque(),
                uriLogCallback, retained.toOpaque())
        }
        guard let started else {
            retained.release()
            close(listenSocket.fd)
            throw HTTPServerError(.startFailed, "MHD_start_daemon failed for port \(listenSocket.port)")
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
        let socket = state.withLock { $0.quiescedSocket }
        if socket >= 0 { close(socket) }
        core.release()
    }

    deinit {
        stop()
    }
}
