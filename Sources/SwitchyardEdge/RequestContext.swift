import CMicroHTTPD
import CSwitchyardEdge
import Glibc
import SwitchyardLoop
import SwitchyardThreads
import Synchronization

/// Everything the edge knows about one request on one connection, shared between the loop thread
/// that runs the connection's daemon ("the MHD thread" below) and the handler's Task. The handler
/// normally runs on that same loop, so the lock is uncontended; it still guards against handlers
/// whose work continues on another thread (a background task answering, the heartbeat timer).
///
/// Lifetime: created in MHD's URI-log callback and retained for MHD (`con_cls`); that retain is
/// released exactly once, in MHD's request-completed callback. The handler's `HTTPResponder`
/// and `HTTPStreamWriter` keep their own strong references, so the object may outlive the
/// connection; `Shared.completed` then guards every use of `connection`.
///
/// Suspend/resume invariant (the part that must not race):
/// - `Shared.suspended` is true exactly between our `MHD_suspend_connection` and our
///   `MHD_resume_connection`, and both calls are made while holding `shared`'s lock.
///   Suspending happens only on the MHD thread (access handler or content reader), after it
///   checked under the same lock that there is nothing to do (no answer, no queued bytes, not
///   stopping). Any thread that produces work (answer, bytes, finish, stop) sets it under the lock
///   and, if `suspended`, clears the flag and resumes. So work is either seen by the MHD thread
///   before it suspends, or the producer sees `suspended` and resumes: no lost wake-up, and never
///   a resume without a matching suspend (which MHD calls undefined behaviour).
/// - Lock order is always `shared` -> MHD's internal `cleanup_connection_mutex` (taken inside
///   suspend/resume). MHD never calls our callbacks while holding that mutex (checked in 0.9.75's
///   daemon.c/connection.c), so the order cannot invert.
/// - MHD never closes a suspended connection, and `HTTPServer.stop()` resumes every suspended one
///   before `MHD_stop_daemon` (which panics otherwise), so while `suspended` is true
///   `connection` is valid.
///
/// `@unchecked Sendable`: the `var`s outside `shared` are touched only by the MHD thread that owns
/// the connection (its daemon's loop: every MHD callback runs inside MHD_run there), except
/// `handedRequest` (see there); everything else touched from other threads is inside the `Mutex`.
/// `connection` is an opaque C pointer that is only passed to MHD under the rules above.
final class RequestContext: HTTPResponseSink, @unchecked Sendable {
    enum Pending {
        case none
        case full(status: Int, headers: HTTPHeaders, body: [UInt8])
        case stream(status: Int, headers: HTTPHeaders)
    }

    struct Shared {
        var suspended = false
        /// MHD reported the request finished; `connection` must not be used any more.
        var completed = false
        var clientGone = false
        /// respond/startStream (or the edge's 500) has happened; later answers are ignored.
        var answered = false
        var pending = Pending.none
        var streaming = false
        var finished = false
        var outbound: [UInt8] = []
        var outboundIndex = 0
        /// Read only once `streaming` (set with it in `startStream`): a clock read per request
        /// for the others (about 45 ns on the VM of README "Hot path") bought nothing.
        var lastWrite = RequestContext.processStart
        var task: Task<Void, Never>?
        /// Counted in `ServerCore.inFlight` since init; uncounted once, in `complete(ok:)`.
        var countedInFlight = true
        var countedStream = false
    }

    /// Where the MHD thread is in reading the request. MHD thread only.
    enum Phase {
        case headers, body, handling, answeredByEdge
    }

    /// A fixed instant for `Shared.lastWrite` before a stream starts.
    static let processStart = ContinuousClock.now

    /// Bytes a stream may have queued but not yet sent before the client counts as gone.
    static let maxBufferedStreamBytes = 16 << 20

    let connection: OpaquePointer
    let server: ServerCore
    /// The daemon (and event loop) serving the connection.
    let daemon: MHDDaemon
    /// The connection's record (deadlines, hang-ups); nil only if MHD gave us no socket context.
    let link: EdgeConnection?
    let shared = Mutex(Shared())

    // MHD thread only.
    var phase = Phase.headers
    var rawTarget: String
    var method = ""
    var headers = HTTPHeaders()
    var body: [UInt8] = []
    var bodyTooLarge = false
    var discardedBytes = 0
    /// The connection closes after this answer: the client asked (`Connection: close`, HTTP/1.0
    /// without keep-alive) or the answer says so. A guess at MHD's own decision that only decides
    /// when the hang-up watcher lets go of the socket (`EdgeConnection.requestEnded`).
    var closesAfterAnswer = false
    /// The request from `startHandler` until its task takes it (`takeHandedRequest`): written
    /// before the task is created and read once by it, possibly on another thread (the large-body
    /// executor); task creation orders the two, and nothing else touches it.
    var handedRequest: HTTPRequest?

    /// A request counts in flight from its request line until MHD's request-completed callback
    /// (answer sent, or the connection ended), so drain also waits for uploads still arriving.
    init(connection: OpaquePointer, daemon: MHDDaemon, rawTarget: String, link: EdgeConnection?) {
        self.connection = connection
        self.daemon = daemon
        self.server = daemon.core
        self.rawTarget = rawTarget
        self.link = link
        server.inFlight.add(1, ordering: .relaxed)
    }

    // MARK: MHD thread

    /// Suspends the connection for the handler (before its Task starts) unless the server is
    /// stopping. Returns false when stopping: the caller answers 503 instead.
    func suspendForHandler() -> Bool {
        shared.withLock { state in
            if server.isStopping { return false }
            state.suspended = true
            MHD_suspend_connection(connection)
            return true
        }
    }

    func attach(task: Task<Void, Never>) {
        let cancelNow = shared.withLock { state in
            state.task = task
            return state.clientGone
        }
        if cancelNow { task.cancel() }
    }

    enum Reentry {
        case full(status: Int, headers: HTTPHeaders, body: [UInt8])
        case stream(status: Int, headers: HTTPHeaders)
        case wait
        case close
    }

    /// The access handler was called again after a resume: take the answer, or suspend again.
    func takeAnswer() -> Reentry {
        shared.withLock { state in
            switch state.pending {
            case .full(let status, let headers, let body):
                state.pending = .none
                return .full(status: status, headers: headers, body: body)
            case .stream(let status, let headers):
                state.pending = .none
                // A stream that ended before its head went out (a short answer that came from
                // upstream in one read) goes out as one response framed by Content-Length: one
                // send of head and events, where the chunked form takes three (head, events, end
                // chunk), each a loopback write that costs more than decoding the answer.
                if state.finished {
                    let body = state.outbound
                    state.outbound = []
                    state.outboundIndex = 0
                    return .full(status: status, headers: headers, body: body)
                }
                return .stream(status: status, headers: headers)
            case .none:
                if server.isStopping || state.clientGone { return .close }
                state.suspended = true
                MHD_suspend_connection(connection)
                return .wait
            }
        }
    }

    /// MHD's content reader for a stream: copies queued bytes, ends the stream after `finish`,
    /// or suspends the connection until the next write (returning 0, as MHD's docs require).
    func read(into buffer: UnsafeMutableRawPointer, max: Int) -> Int {
        shared.withLock { state in
            let available = state.outbound.count - state.outboundIndex
            if available > 0 {
                let count = min(available, max)
                state.outbound.withUnsafeBytes { bytes in
                    buffer.copyMemory(from: bytes.baseAddress! + state.outboundIndex, byteCount: count)
                }
                state.outboundIndex += count
                if state.outboundIndex == state.outbound.count {
                    state.outbound.removeAll(keepingCapacity: state.outbound.capacity <= 64 * 1024)
                    state.outboundIndex = 0
                }
                return count
            }
            if state.finished {
                // Out of flight now rather than in MHD's completion callback: MHD asks for the next
                // block only once the previous one is in the kernel, so only the 5-byte end chunk
                // is left, and the daemon writes it in its next run, which the loop makes before
                // any other work (a drain's stop included). The completion callback follows the
                // write, so a client that had read the end could still find the stream counted.
                uncount(&state)
                return sy_mhd_reader_end_of_stream()
            }
            if state.clientGone || server.isStopping { return sy_mhd_reader_end_with_error() }
            state.suspended = true
            MHD_suspend_connection(connection)
            return 0
        }
    }

    /// MHD's request-completed callback. Returns the task to cancel, if the request ended badly.
    func complete(ok: Bool) {
        let task: Task<Void, Never>? = shared.withLock { state in
            state.completed = true
            state.suspended = false
            state.outbound = []
            state.outboundIndex = 0
            if !ok { state.clientGone = true }
            uncount(&state)
            return ok ? nil : state.task
        }
        task?.cancel()
    }

    // MARK: any thread

    func respond(status: Int, headers: HTTPHeaders, body: [UInt8]) {
        shared.withLock { state in
            guard !state.answered else { return }
            state.answered = true
            // Still counted in flight: `complete(ok:)` uncounts once MHD has sent the answer.
            guard !state.completed else { return }
            state.pending = .full(status: status, headers: headers, body: body)
            wake(&state)
        }
        // Outside the lock: MHD_run calls the access handler, which takes it.
        daemon.answerReady()
    }

    /// Returns false when the request was already answered (the writer is then dead).
    func startStream(status: Int, headers: HTTPHeaders) -> Bool {
        // (started, the first open stream): the first rings the heartbeat timer, outside the lock.
        let (started, first) = shared.withLock { state in
            guard !state.answered else { return (false, false) }
            state.answered = true
            guard !state.completed else { return (false, false) }
            state.streaming = true
            state.countedStream = true
            let first = server.streams.add(1, ordering: .relaxed).oldValue == 0
            state.lastWrite = .now
            state.pending = .stream(status: status, headers: headers)
            wake(&state)
            return (true, first)
        }
        if first { server.streamOpened.ring() }
        return started
    }

    func write(_ bytes: [UInt8]) -> Bool {
        shared.withLock { state in
            guard state.streaming, !state.finished, !state.clientGone, !state.completed else { return false }
            if bytes.isEmpty { return true }
            if state.outbound.count - state.outboundIndex + bytes.count > Self.maxBufferedStreamBytes {
                // The client stopped reading: drop it rather than buffer without bound. The
                // reader then fails the response, MHD closes, and complete(ok: false) cancels.
                state.clientGone = true
                state.outbound = []
                state.outboundIndex = 0
                abort(&state)
                return false
            }
            if state.outbound.isEmpty {
                state.outbound = bytes
            } else {
                state.outbound.append(contentsOf: bytes)
            }
            state.lastWrite = .now
            wake(&state)
            return true
        }
    }

    func finish() {
        shared.withLock { state in
            guard state.streaming, !state.finished else { return }
            state.finished = true
            uncountStream(&state)
            // In flight until `complete(ok:)`: the queued tail and the last chunk are not out yet.
            if !state.completed { wake(&state) }
        }
    }

    var isClientGone: Bool { shared.withLock { $0.clientGone } }

    /// After `handle` returned: a missing answer becomes the edge's 500; an open stream ends.
    func handlerReturned() {
        let needs500 = shared.withLock { state in
            if state.answered { return false }
            // The client is gone: nothing to send, and complete(ok:) already uncounted.
            if state.completed {
                state.answered = true
                return false
            }
            return true
        }
        if needs500 {
            let (headers, body) = server.configuration.errorResponse(500, "the handler did not produce a response")
            respond(status: 500, headers: headers, body: body)
        } else {
            finish()
        }
    }

    /// Writes `bytes` if the stream has been idle for `interval`.
    func heartbeat(now: ContinuousClock.Instant, interval: Duration, bytes: [UInt8]) {
        shared.withLock { state in
            guard state.streaming, !state.finished, !state.clientGone, !state.completed,
                now - state.lastWrite >= interval
            else { return }
            state.outbound.append(contentsOf: bytes)
            state.lastWrite = now
            wake(&state)
        }
    }

    /// The watcher saw the client close or reset the connection: cancel the handler (which aborts
    /// its upstream call) now, and resume a suspended connection so MHD closes it (the access
    /// handler and the stream reader end a request whose client is gone).
    func peerHungUp() {
        let task: Task<Void, Never>? = shared.withLock { state in
            guard !state.completed, !state.clientGone else { return nil }
            state.clientGone = true
            wake(&state)
            return state.task
        }
        task?.cancel()
    }

    /// `HTTPServer.stop()`: let a suspended connection run so MHD can close it.
    func wakeForStop() {
        shared.withLock { state in wake(&state) }
    }

    var isStreaming: Bool { shared.withLock { $0.streaming && !$0.finished } }

    // MARK: lock held

    private func wake(_ state: inout Shared) {
        guard state.suspended else { return }
        state.suspended = false
        MHD_resume_connection(connection)
        daemon.runSoon()
    }

    /// Ends the connection from any thread. A suspended one is resumed, and its reader fails
    /// the response; one blocked on a full socket buffer would wait for the client (or the
    /// timeout), so its socket is shut down, which MHD sees as an error and closes. The fd is
    /// still open here: MHD closes it only after the request-completed callback, which needs
    /// this lock to set `completed`.
    private func abort(_ state: inout Shared) {
        guard !state.completed else { return }
        if state.suspended {
            wake(&state)
        } else {
            let fd = sy_mhd_connection_fd(connection)
            if fd >= 0 { _ = shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }

    /// Leaves both counts, once each (MHD's request-completed callback).
    private func uncount(_ state: inout Shared) {
        if state.countedInFlight {
            state.countedInFlight = false
            server.inFlight.subtract(1, ordering: .relaxed)
        }
        uncountStream(&state)
    }

    /// Leaves the open-streams count, once: when the stream finishes, or with the request.
    private func uncountStream(_ state: inout Shared) {
        if state.countedStream {
            state.countedStream = false
            server.streams.subtract(1, ordering: .relaxed)
        }
    }
}
