import CCurl
import Glibc
import SwitchyardCore
import Synchronization

/// The curl multi loop: one dedicated pthread (not the cooperative pool) owning a multi handle,
/// its connection cache, the running transfers and a free list of easy handles.
///
/// Other threads talk to it only through `shared` (a command queue under a mutex) and
/// `curl_multi_wakeup`; the multi handle is otherwise used only on the loop thread.
///
/// Why `@unchecked Sendable`: `shared` and `activeCount` are synchronised; `multi` is touched from
/// other threads only via `curl_multi_wakeup`, which curl_multi_wakeup(3) documents as callable from
/// any thread; every other `var` (`running`, `freeEasyHandles`, `nextDeadline`, `thread`) is read
/// and written only on the loop thread, except `thread`, which is written once in `start()` before
/// any other thread can see the loop and read in `shutdown()`.
final class CurlLoop: TaskExecutor, @unchecked Sendable {
    enum Command {
        case add(Transfer)
        case cancel(Transfer)
    }

    struct Shared {
        var commands: [Command] = []
        /// Swift jobs of tasks that prefer this loop as their executor (see `enqueue(_:)`).
        var jobs: [UnownedJob] = []
        /// The loop is in (or about to enter) curl_multi_poll: the next submitter must wake it.
        var sleeping = false
        var stopping = false
    }

    struct Configuration {
        var maxIdleEasyHandles: Int
        var maxCachedConnections: Int?
        var maxConnectionsPerHost: Int?
    }

    let shared = Mutex(Shared())
    let activeCount = Atomic<Int>(0)
    private let multi: MultiHandle
    private let configuration: Configuration
    private var running: [Transfer] = []
    private var freeEasyHandles: [EasyHandle] = []
    private var nextDeadline: Int64 = noDeadline
    private var thread = pthread_t()
    private let joined = Atomic<Bool>(false)

    init?(configuration: Configuration) {
        guard curlGlobalInitResult, let multi = MultiHandle() else { return nil }
        self.multi = multi
        self.configuration = configuration
        if let n = configuration.maxCachedConnections {
            _ = sy_curl_multi_setopt_long(multi.raw, CURLMOPT_MAXCONNECTS, n)
        }
        if let n = configuration.maxConnectionsPerHost {
            _ = sy_curl_multi_setopt_long(multi.raw, CURLMOPT_MAX_HOST_CONNECTIONS, n)
        }
        running.reserveCapacity(256)
    }

    /// Starts the loop thread; the thread keeps the loop alive until it returns.
    func start() -> Bool {
        let context = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(
            &thread, nil,
            { context in
                let loop = Unmanaged<CurlLoop>.fromOpaque(context!).takeRetainedValue()
                loop.run()
                return nil
            }, context)
        if rc != 0 {
            Unmanaged<CurlLoop>.fromOpaque(context).release()
            return false
        }
        return true
    }

    // MARK: Any thread

    var activeTransfers: Int { activeCount.load(ordering: .relaxed) }

    /// Runs a Swift job on the loop thread. Request handlers that prefer this executor parse,
    /// route and translate on the same thread that drives their transfers, so a request costs two
    /// thread hand-offs (edge → loop → edge) instead of four (edge → pool → loop → pool → edge).
    /// Jobs are short (no blocking work runs on the loop): the loop drains them between polls.
    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        let accepted = shared.withLock { s -> Bool in
            guard !s.stopping else { return false }
            s.jobs.append(unowned)
            wakeIfSleeping(&s)
            return true
        }
        // After shutdown the loop thread is gone: run the job on the global executor instead so
        // the task can still finish (its transfers fail with `.cancelled`).
        if !accepted { unowned.runSynchronously(on: globalConcurrentExecutor.asUnownedTaskExecutor()) }
    }

    /// Queues `transfer`; if the loop is stopping, fails it with `.cancelled` right here.
    func submit(_ transfer: Transfer) {
        activeCount.add(1, ordering: .relaxed)
        let accepted = shared.withLock { s -> Bool in
            guard !s.stopping else { return false }
            s.commands.append(.add(transfer))
            wakeIfSleeping(&s)
            return true
        }
        if !accepted {
            activeCount.subtract(1, ordering: .relaxed)
            transfer.complete(.failure(.cancelled))
        }
    }

    /// Asks the loop to abort `transfer`; harmless if it already finished.
    func cancel(_ transfer: Transfer) {
        guard !transfer.cancelRequested.exchange(true, ordering: .acquiringAndReleasing) else { return }
        shared.withLock { s in
            guard !s.stopping else { return }
            s.commands.append(.cancel(transfer))
            wakeIfSleeping(&s)
        }
    }

    /// Wakes the loop while holding the lock, so it cannot race with the loop seeing `stopping`.
    /// curl_multi_wakeup writes one byte to a socketpair; a wakeup that lands before the loop
    /// actually polls just makes that poll return at once.
    private func wakeIfSleeping(_ s: inout Shared) {
        if s.sleeping {
            s.sleeping = false
            _ = curl_multi_wakeup(multi.raw)
        }
    }

    /// Stops the loop thread and waits for it; outstanding transfers fail with `.cancelled`.
    func shutdown() {
        let first = shared.withLock { s -> Bool in
            guard !s.stopping else { return false }
            s.stopping = true
            _ = curl_multi_wakeup(multi.raw)
            return true
        }
        guard first, !joined.exchange(true, ordering: .acquiringAndReleasing) else { return }
        if pthread_equal(pthread_self(), thread) != 0 {
            pthread_detach(thread)
        } else {
            pthread_join(thread, nil)
        }
    }

    // MARK: Loop thread

    private func run() {
        var batch: [Command] = []
        batch.reserveCapacity(64)
        var jobs: [UnownedJob] = []
        jobs.reserveCapacity(64)
        let me = asUnownedTaskExecutor()
        var stillRunning: Int32 = 0
        var messagesLeft: Int32 = 0
        while true {
            let stopping = shared.withLock { s -> Bool in
                swap(&s.commands, &batch)
                swap(&s.jobs, &jobs)
                s.sleeping = false
                return s.stopping
            }
            for job in jobs { job.runSynchronously(on: me) }
            jobs.removeAll(keepingCapacity: true)
            // Jobs usually queue transfers: take them in this round rather than after a poll.
            let more = shared.withLock { s -> [Command] in
                defer { s.commands.removeAll(keepingCapacity: true) }
                return s.commands
            }
            batch += more
            for command in batch {
                switch command {
                case .add(let t): stopping ? abandon(t) : begin(t)
                case .cancel(let t): abort(t, .cancelled)
                }
            }
            batch.removeAll(keepingCapacity: true)
            if stopping { break }

            _ = curl_multi_perform(multi.raw, &stillRunning)
            while let message = curl_multi_info_read(multi.raw, &messagesLeft) {
                guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle else { continue }
                finished(easy: easy, code: sy_curl_msg_result(message))
            }

            var now = monotonicNanos()
            if now >= nextDeadline {
                expireDeadlines(now: now)
                now = monotonicNanos()
            }

            let timeoutMs = pollTimeout(now: now)
            let mayPoll = shared.withLock { s -> Bool in
                guard s.commands.isEmpty, s.jobs.isEmpty, !s.stopping else { return false }
                s.sleeping = true
                return true
            }
            if mayPoll { _ = curl_multi_poll(multi.raw, nil, 0, timeoutMs, nil) }
        }
        while let t = running.last { detach(t, .failure(.cancelled)) }
        freeEasyHandles.removeAll()
        // Jobs that arrived while stopping run elsewhere; their transfers are refused.
        let leftover = shared.withLock { s in
            defer { s.jobs.removeAll() }
            return s.jobs
        }
        for job in leftover { job.runSynchronously(on: globalConcurrentExecutor.asUnownedTaskExecutor()) }
    }

    private func pollTimeout(now: Int64) -> Int32 {
        // curl_multi_poll also shortens this to curl's own nearest timer (connect timeouts, retries).
        let cap: Int64 = 60_000
        guard nextDeadline != noDeadline else { return Int32(cap) }
        let ms = (nextDeadline - now + 999_999) / 1_000_000
        return Int32(max(0, min(cap, ms)))
    }

    private func begin(_ t: Transfer) {
        if t.cancelRequested.load(ordering: .acquiring) { return abandon(t) }
        guard let easy = freeEasyHandles.popLast() ?? EasyHandle() else {
            activeCount.subtract(1, ordering: .relaxed)
            return t.complete(.failure(.transport("curl_easy_init failed")))
        }
        let retained = Unmanaged.passRetained(t)
        t.retainedByCurl = retained
        t.lastActivity = t.startedAt
        t.configure(easy, context: retained.toOpaque())
        let rc = curl_multi_add_handle(multi.raw, easy.raw)
        guard rc == CURLM_OK else {
            t.retainedByCurl = nil
            t.easy = nil
            recycle(easy)
            retained.release()
            activeCount.subtract(1, ordering: .relaxed)
            return t.complete(.failure(.transport(String(cString: curl_multi_strerror(rc)))))
        }
        t.indexInRunning = running.count
        running.append(t)
        nextDeadline = min(nextDeadline, t.nextDeadline(after: t.startedAt))
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
            _ = curl_multi_remove_handle(multi.raw, easy.raw)
            t.easy = nil
            recycle(easy)
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

    private func recycle(_ easy: EasyHandle) {
        guard freeEasyHandles.count < configuration.maxIdleEasyHandles else { return }
        easy.reset()
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
    }
}
