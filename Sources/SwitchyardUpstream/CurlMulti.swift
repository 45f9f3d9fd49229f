import CCurl
import Glibc
import SwitchyardCore
import SwitchyardLoop
import Synchronization

/// One curl multi handle living on one event loop: its connection cache, its running transfers
/// and a free list of easy handles, driven through curl's multi_socket interface on the loop's
/// epoll set (curl names the sockets to watch and a timeout; the loop calls
/// `curl_multi_socket_action` when one is ready or the timeout passes).
///
/// A transfer started on the loop's own thread (a request handler running there) is added to
/// curl right away, and its completion resumes the handler as a job on the same thread: no lock,
/// no wake-up. Other threads (background tasks) hand it over with `EventLoop.execute`.
///
/// Why `@unchecked Sendable`: every `var` is read and written only on the loop thread; other
/// threads touch `activeCount` and `stopped` (atomics) and call `EventLoop.execute`. curl's
/// callbacks (socket, timer, open and close socket) run inside `curl_multi_socket_action`,
/// `_add_handle`, `_remove_handle` or `_cleanup`, i.e. on the loop thread too.
final class CurlMulti: EventLoopWatcher, @unchecked Sendable {
    struct Configuration {
        var maxIdleEasyHandles: Int
        var maxCachedConnections: Int?
        var maxConnectionsPerHost: Int?
        var maxResponseBytes: Int
        var proxies: ProxyEnvironment
    }

    let loop: EventLoop
    let activeCount = Atomic<Int>(0)
    private let stopped = Atomic<Bool>(false)
    private let configuration: Configuration

    // Loop thread
    private var raw: UnsafeMutableRawPointer?
    private var running: [Transfer] = []
    private var freeEasyHandles: [EasyHandle] = []
    private var nextDeadline: Int64 = noDeadline
    private var curlTimer: LoopTimer?
    private var deadlineTimer: LoopTimer?
    /// Inside a curl call that may run our callbacks: curl forbids adding or removing handles then.
    private var inCurl = false
    /// Header lists of recent requests, most recent first: a target sends the same fields (content
    /// type, key, version) on every request, and building the list was eleven allocations a call.
    private var headerLists: [CurlHeaderList] = []
    static let headerListCacheSize = 16
    /// What we know of each descriptor curl asked us to watch, indexed by descriptor number.
    private var sockets: [CurlSocket] = []

    init?(loop: EventLoop, configuration: Configuration) {
        guard curlGlobalInitResult, let raw = curl_multi_init() else { return nil }
        self.loop = loop
        self.raw = raw
        self.configuration = configuration
        if let n = configuration.maxCachedConnections {
            _ = sy_curl_multi_setopt_long(raw, CURLMOPT_MAXCONNECTS, n)
        }
        if let n = configuration.maxConnectionsPerHost {
            _ = sy_curl_multi_setopt_long(raw, CURLMOPT_MAX_HOST_CONNECTIONS, n)
        }
        // The callbacks' `userp` is this object, unretained: the multi handle is cleaned up in
        // `stopOnLoop()` before the owner (CurlUpstream) lets go of it.
        let me = Unmanaged.passUnretained(self).toOpaque()
        _ = sy_curl_multi_setopt_socketcb(raw, curlSocketCallback)
        _ = sy_curl_multi_setopt_ptr(raw, CURLMOPT_SOCKETDATA, me)
        _ = sy_curl_multi_setopt_timercb(raw, curlTimerCallback)
        _ = sy_curl_multi_setopt_ptr(raw, CURLMOPT_TIMERDATA, me)
        running.reserveCapacity(256)
        let attached = loop.executeAndWait { [self] in attach() }
        guard attached else {
            curl_multi_cleanup(raw)
            return nil
        }
    }

    private func attach() -> Bool {
        let curlTimer = LoopTimer { [unowned self] in act(sy_curl_socket_timeout(), 0) }
        let deadlineTimer = LoopTimer { [unowned self] in expireDeadlines(now: monotonicNanos()) }
        loop.add(curlTimer)
        loop.add(deadlineTimer)
        self.curlTimer = curlTimer
        self.deadlineTimer = deadlineTimer
        return true
    }

    // MARK: Any thread

    /// Queues `transfer`; if this multi has stopped, fails it with `.cancelled` right here.
    func submit(_ transfer: Transfer) {
        activeCount.add(1, ordering: .relaxed)
        if loop.inLoop {
            begin(transfer)
            return
        }
        let accepted = !stopped.load(ordering: .acquiring) && loop.execute { [self] in begin(transfer) }
        if !accepted {
            activeCount.subtract(1, ordering: .relaxed)
            transfer.complete(.failure(.cancelled))
        }
    }

    /// Aborts `transfer`; harmless if it already finished.
    func cancel(_ transfer: Transfer) {
        guard !transfer.cancelRequested.exchange(true, ordering: .acquiringAndReleasing) else { return }
        if loop.inLoop && !inCurl {
            abort(transfer, .cancelled)
        } else {
            loop.execute { [self] in abort(transfer, .cancelled) }
        }
    }

    /// Fails outstanding transfers with `.cancelled`, closes the connection cache and detaches
    /// from the loop; later submissions fail at once. Blocks until the loop has done it. Idempotent.
    func shutdown() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        loop.executeAndWait { [self] in stopOnLoop() }
    }

    // MARK: Loop thread

    private func stopOnLoop() {
        while let t = running.last { detach(t, .failure(.cancelled)) }
        freeEasyHandles.removeAll()
        headerLists.removeAll()
        if let curlTimer { loop.remove(curlTimer) }
        if let deadlineTimer { loop.remove(deadlineTimer) }
        curlTimer = nil
        deadlineTimer = nil
        // curl_multi_cleanup(3): "all easy handles should be removed first" (done above). It
        // closes the cached connections, reporting each socket's removal to the callback.
        if let raw {
            curl_multi_cleanup(raw)
            self.raw = nil
        }
        for entry in sockets {
            if let watch = entry.watch { loop.unwatch(watch) }
            // A connection curl did not report closing: no longer this loop's either way.
            if entry.opened { loop.upstreamConnectionClosed() }
        }
        sockets = []
    }

    /// curl asks to watch `fd` for `what` (CURL_POLL_*), or to stop (CURL_POLL_REMOVE).
    ///
    /// A kept-alive connection goes back to curl's cache after every answer (REMOVE) and comes out
    /// of it for the next request (IN): taking it out of the epoll set and putting it back was two
    /// epoll_ctl calls per request, 4.3% of a plain request's CPU (perf, c16). So a connection
    /// socket curl opened through us (`opened`), last watched for reading only, stays in the set
    /// while idle ("parked"): its next request costs no system call. Idle, it is silent; if the
    /// server closes it or sends anything, `ready` takes it out then (curl's reuse check finds it
    /// dead). Its close comes through `closing` (CURLOPT_CLOSESOCKETFUNCTION), and a new socket
    /// under the same number through `opened`, so an entry never outlives its descriptor.
    fileprivate func socket(_ fd: curl_socket_t, what: Int32) {
        guard fd >= 0 else { return }
        if what == CURL_POLL_REMOVE {
            guard Int(fd) < sockets.count, let watch = sockets[Int(fd)].watch else { return }
            if sockets[Int(fd)].opened && sockets[Int(fd)].events == .readable {
                sockets[Int(fd)].parked = true
            } else {
                loop.unwatch(watch)
                sockets[Int(fd)] = CurlSocket(opened: sockets[Int(fd)].opened)
            }
            return
        }
        var events: IOEvents = []
        if what & CURL_POLL_IN != 0 { events.insert(.readable) }
        if what & CURL_POLL_OUT != 0 { events.insert(.writable) }
        growSockets(to: fd)
        sockets[Int(fd)].parked = false
        if let watch = sockets[Int(fd)].watch {
            if sockets[Int(fd)].events != events { loop.modify(watch, events: events) }
            sockets[Int(fd)].events = events
        } else if let added = try? loop.watch(fd: fd, events: events, watcher: self, token: Int(fd)) {
            sockets[Int(fd)].watch = added
            sockets[Int(fd)].events = events
        }
    }

    /// curl opened `fd` for a connection (CURLOPT_OPENSOCKETFUNCTION). Whatever we knew under this
    /// number belonged to a descriptor closed since (the kernel dropped it from the epoll set).
    fileprivate func opened(_ fd: curl_socket_t) {
        growSockets(to: fd)
        if let stale = sockets[Int(fd)].watch { loop.unwatch(stale) }
        if sockets[Int(fd)].opened { loop.upstreamConnectionClosed() }
        sockets[Int(fd)] = CurlSocket(opened: true)
        loop.upstreamConnectionOpened()
    }

    /// curl is about to close `fd` (CURLOPT_CLOSESOCKETFUNCTION): out of the epoll set first,
    /// whether curl still watched it or it was parked.
    fileprivate func closing(_ fd: curl_socket_t) {
        guard fd >= 0, Int(fd) < sockets.count else { return }
        if let watch = sockets[Int(fd)].watch { loop.unwatch(watch) }
        if sockets[Int(fd)].opened { loop.upstreamConnectionClosed() }
        sockets[Int(fd)] = CurlSocket()
    }

    private func growSockets(to fd: curl_socket_t) {
        if Int(fd) >= sockets.count {
            sockets.append(contentsOf: repeatElement(CurlSocket(), count: Int(fd) + 1 - sockets.count))
        }
    }

    /// The options that tie an easy handle's connections to this multi handle's socket table.
    fileprivate func applySocketOptions(_ h: UnsafeMutableRawPointer) {
        let me = Unmanaged.passUnretained(self).toOpaque()
        _ = sy_curl_setopt_opensocketcb(h, curlOpenSocketCallback)
        _ = sy_curl_setopt_ptr(h, CURLOPT_OPENSOCKETDATA, me)
        _ = sy_curl_setopt_closesocketcb(h, curlCloseSocketCallback)
        _ = sy_curl_setopt_ptr(h, CURLOPT_CLOSESOCKETDATA, me)
    }

    /// curl's timer: call back after `ms` milliseconds (0: as soon as possible), or never (-1).
    fileprivate func setTimer(_ ms: Int) {
        curlTimer?.deadline = ms < 0 ? LoopTimer.never : monotonicNanos() &+ Int64(ms) &* 1_000_000
    }

    func ready(events: IOEvents, token: Int) {
        if token < sockets.count, sockets[token].parked, let watch = sockets[token].watch {
            // An idle cached connection spoke or closed: nobody waits on it now.
            loop.unwatch(watch)
            sockets[token] = CurlSocket(opened: true)
            return
        }
        var mask: Int32 = 0
        if events.contains(.readable) { mask |= CURL_CSELECT_IN }
        if events.contains(.writable) { mask |= CURL_CSELECT_OUT }
        if !events.isDisjoint(with: [.error, .hangUp]) { mask |= CURL_CSELECT_ERR }
        act(curl_socket_t(token), mask)
    }

    /// curl_multi_socket_action for one socket (or the timeout), then the finished transfers.
    private func act(_ fd: curl_socket_t, _ mask: Int32) {
        guard let raw else { return }
        var stillRunning: Int32 = 0
        inCurl = true
        _ = curl_multi_socket_action(raw, fd, mask, &stillRunning)
        inCurl = false
        var messagesLeft: Int32 = 0
        while let message = curl_multi_info_read(raw, &messagesLeft) {
            guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle else { continue }
            finished(easy: easy, code: sy_curl_msg_result(message))
        }
    }

    private func begin(_ t: Transfer) {
        guard let raw, !stopped.load(ordering: .relaxed) else { return abandon(t) }
        if inCurl {
            loop.execute { [self] in begin(t) }
            return
        }
        if t.cancelRequested.load(ordering: .acquiring) { return abandon(t) }
        guard
            let easy = freeEasyHandles.popLast()
                ?? EasyHandle(
                    proxies: configuration.proxies,
                    fixedOptions: { [unowned self] in
                        Transfer.applyFixedOptions($0.raw)
                        applySocketOptions($0.raw)
                    })
        else {
            activeCount.subtract(1, ordering: .relaxed)
            return t.complete(.failure(.transport("curl_easy_init failed")))
        }
        let retained = Unmanaged.passRetained(t)
        t.retainedByCurl = retained
        t.lastActivity = t.startedAt
        t.headerList = headerList(for: t.request.headers)
        t.maxBodyBytes = configuration.maxResponseBytes
        t.configure(easy, context: retained.toOpaque())
        let rc = curl_multi_add_handle(raw, easy.raw)
        guard rc == CURLM_OK else {
            t.retainedByCurl = nil
            t.easy = nil
            recycle(easy, succeeded: false)
            retained.release()
            activeCount.subtract(1, ordering: .relaxed)
            return t.complete(.failure(.transport(String(cString: curl_multi_strerror(rc)))))
        }
        t.indexInRunning = running.count
        running.append(t)
        let deadline = t.nextDeadline(after: t.startedAt)
        if deadline < nextDeadline {
            nextDeadline = deadline
            deadlineTimer?.deadline = deadline
        }
    }

    /// The cached list for `fields`, or a new one put in front (the least recent falls out; a
    /// transfer still running with it keeps it alive).
    private func headerList(for fields: [HeaderField]) -> CurlHeaderList {
        if let i = headerLists.firstIndex(where: { $0.fields == fields }) {
            let list = headerLists[i]
            if i > 0 {
                headerLists.remove(at: i)
                headerLists.insert(list, at: 0)
            }
            return list
        }
        let list = CurlHeaderList(fields)
        if headerLists.count >= Self.headerListCacheSize { headerLists.removeLast() }
        headerLists.insert(list, at: 0)
        return list
    }

    /// A queued transfer that never reached curl.
    private func abandon(_ t: Transfer) {
        activeCount.subtract(1, ordering: .relaxed)
        t.complete(.failure(.cancelled))
    }

    private func abort(_ t: Transfer, _ failure: UpstreamFailure) {
        guard t.indexInRunning >= 0 else { return }  // not started yet (it sees the flag) or done
        detach(t, .failure(failure))
    }

    private func finished(easy raw: UnsafeMutableRawPointer, code: CURLcode) {
        var context: UnsafeMutableRawPointer?
        guard sy_curl_getinfo_ptr(raw, CURLINFO_PRIVATE, &context) == CURLE_OK, let context else { return }
        let t = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
        if code == CURLE_OK {
            if t.status == 0 {
                var status = 0
                _ = sy_curl_getinfo_long(raw, CURLINFO_RESPONSE_CODE, &status)
                t.status = status
            }
            detach(t, .success(()))
        } else if t.bodyTooLarge {
            detach(t, .failure(.transport("the answer is larger than \(t.maxBodyBytes) bytes (not read further)")))
        } else if t.consumerGone || t.cancelRequested.load(ordering: .relaxed) {
            detach(t, .failure(.cancelled))
        } else if t.resendRefused {
            // The connection died after the request went out and before any response byte.
            detach(t, .failure(.transport("connection closed before any response (not re-sent)")))
        } else {
            let message = t.easy?.message(for: code) ?? "curl error \(code.rawValue)"
            detach(t, .failure(upstreamFailure(for: code, message: message)))
        }
    }

    /// Removes a running transfer from curl, recycles its easy handle, drops curl's reference and
    /// only then resumes the waiter. `activeTransfers` goes down first, before the connection is
    /// closed, so whoever sees the close or the result also sees the count.
    private func detach(_ t: Transfer, _ outcome: Result<Void, UpstreamFailure>) {
        activeCount.subtract(1, ordering: .relaxed)
        if let easy = t.easy {
            if let raw { _ = curl_multi_remove_handle(raw, easy.raw) }
            t.easy = nil
            recycle(easy, succeeded: outcome.succeeded)
        }
        let i = t.indexInRunning
        if i >= 0 {
            let last = running.removeLast()
            if i < running.count {
                running[i] = last
                last.indexInRunning = i
            }
            t.indexInRunning = -1
        }
        t.retainedByCurl?.release()
        t.retainedByCurl = nil
        t.complete(outcome)
    }

    /// Keeps `easy` for the next transfer: as it is after a success, reset after anything else
    /// (see `EasyHandle`).
    private func recycle(_ easy: EasyHandle, succeeded: Bool) {
        guard freeEasyHandles.count < configuration.maxIdleEasyHandles, raw != nil else { return }
        if !succeeded { easy.reset() }
        freeEasyHandles.append(easy)
    }

    private func expireDeadlines(now: Int64) {
        var next = noDeadline
        var i = 0
        while i < running.count {
            let t = running[i]
            if let phase = t.expiredPhase(at: now) {
                detach(t, .failure(.timeout(phase)))  // moves the last transfer into slot i
                continue
            }
            next = min(next, t.nextDeadline(after: now))
            i += 1
        }
        nextDeadline = next
        deadlineTimer?.deadline = next == noDeadline ? LoopTimer.never : next
    }
}

extension Result where Success == Void {
    fileprivate var succeeded: Bool {
        if case .success = self { return true }
        return false
    }
}

// MARK: - C callbacks: one line each, from `userp` back to the CurlMulti.

private let curlSocketCallback: sy_curl_socket_cb = { _, fd, what, userp, _ in
    guard let userp else { return 0 }
    Unmanaged<CurlMulti>.fromOpaque(userp).takeUnretainedValue().socket(fd, what: what)
    return 0
}

/// socket(2) as curl would call it, close-on-exec (a child process must not keep an upstream
/// connection, or its epoll registration, alive), then recorded.
private let curlOpenSocketCallback: sy_curl_opensocket_cb = { clientp, _, address in
    guard let clientp, let address else { return -1 }
    let fd = Glibc.socket(
        address.pointee.family, address.pointee.socktype | Int32(SOCK_CLOEXEC.rawValue), address.pointee.protocol)
    if fd >= 0 { Unmanaged<CurlMulti>.fromOpaque(clientp).takeUnretainedValue().opened(fd) }
    return fd
}

private let curlCloseSocketCallback: sy_curl_closesocket_cb = { clientp, fd in
    if let clientp { Unmanaged<CurlMulti>.fromOpaque(clientp).takeUnretainedValue().closing(fd) }
    return Glibc.close(fd)
}

/// A descriptor curl named to the socket callback, or opened through us.
private struct CurlSocket {
    /// Our registration in the loop's epoll set, if any.
    var watch: EventLoop.Watch?
    /// The events `watch` waits for.
    var events: IOEvents = []
    /// curl removed it but it stays registered (see `CurlMulti.socket`).
    var parked = false
    /// A connection socket from CURLOPT_OPENSOCKETFUNCTION: its close reaches `closing`.
    var opened = false
}

private let curlTimerCallback: sy_curl_timer_cb = { _, ms, userp in
    guard let userp else { return 0 }
    Unmanaged<CurlMulti>.fromOpaque(userp).takeUnretainedValue().setTimer(ms)
    return 0
}
