import Logging
public import SwitchyardCore
import Synchronization

/// What a routed stream yields.
public enum RoutedStreamItem: Sendable, Equatable {
    /// Decoded events in order; a completed stream's last batch ends with `.done`.
    case events([StreamEvent])
    /// The stream failed after the hand-off and could not be recovered; write this as the
    /// in-band error event (docs/translation.md §9.3, no `[DONE]` after it). Nothing follows.
    case failed(APIError)
}

/// One mid-stream recovery: the broken target, the one that took over, and how it went.
public struct ContinuationRecord: Sendable, Equatable {
    public var from: String
    /// Target key, or `none` when no target was tried.
    public var to: String
    /// `pending` while the continuation is still streaming.
    public var outcome: ContinuationOutcome

    public init(from: String, to: String, outcome: ContinuationOutcome) {
        self.from = from
        self.to = to
        self.outcome = outcome
    }
}

/// A stream handed to the client after its first upstream event arrived. Fallback is over:
/// a failure from here is either recovered in place (a continuation by prefill, or a restart
/// for buffered streams, see `StreamSession`) or ends the stream with `.failed`.
///
/// Single consumer: call `next()` from one task at a time (a concurrent call returns nil).
/// Cancelling the consuming task, or dropping the stream, aborts the upstream transfer.
public final class RoutedStream: Sendable {
    /// The target that answered first (the one named in the response headers).
    public let target: RouteTarget
    let requestID: String
    let router: Router
    /// The session, held in place: moving the struct (request, targets, pump) out of a mutex and
    /// back on every `next()` copied it, several percent of a short streamed answer's CPU; a box
    /// of its own was one more allocation per stream.
    ///
    /// `nonisolated(unsafe)` invariant: the session (holding a non-Sendable body iterator) is used
    /// by one `next()` at a time (`busy`), by `markSettled()` before the stream is handed out, and
    /// by `deinit` when nothing else can reach it; the atomic orders those uses.
    private nonisolated(unsafe) var session: StreamSession
    /// A `next()` is running (the session is single-consumer).
    private let busy = Atomic<Bool>(false)
    private let info: Mutex<Info>

    struct Info {
        var attempts: [AttemptRecord]
        /// The target a recovery installed; nil while the first one (`target`) answers. Not a
        /// third copy of the first target (a target's copy and destroy is a retain and a release
        /// of each of its fields).
        var answering: RouteTarget?
        var continuations: [ContinuationRecord] = []
        var malformed: Int = 0
        var usage: Usage?
    }

    init(
        leg: consuming Leg, request: ChatRequest, targets: [RouteTarget], mode: StreamMode,
        attempts: consuming [AttemptRecord], requestID: String, router: Router
    ) {
        self.target = leg.target
        self.requestID = requestID
        self.router = router
        self.info = Mutex(Info(attempts: attempts))
        self.session = StreamSession(leg: leg, request: request, targets: targets, mode: mode)
    }

    /// Every upstream call made for this stream, continuations included, in order.
    public var attempts: [AttemptRecord] { info.withLock { $0.attempts } }

    /// Value for an attempts header: total upstream calls made.
    public var upstreamCalls: Int { info.withLock { $0.attempts.count } }

    /// The target whose events are flowing now: after a recovery, the one finishing the answer.
    public var answeringTarget: RouteTarget { info.withLock { $0.answering } ?? target }

    /// `answeringTarget.model`, read without copying the target (asked once per batch of events).
    public var answeringModel: String { info.withLock { $0.answering?.model } ?? target.model }

    /// `answeringTarget`'s provider and model, read without copying the target (a target's copy
    /// and destroy is a retain and a release of each of its fields).
    public var answeringNames: (provider: String, model: String) {
        info.withLock { info in info.answering.map { ($0.provider, $0.model) } } ?? (target.provider, target.model)
    }

    /// `target`'s provider and model, read without copying the target.
    public var targetNames: (provider: String, model: String) { (target.provider, target.model) }

    /// Mid-stream recoveries so far.
    public var continuations: [ContinuationRecord] { info.withLock { $0.continuations } }

    /// Unparseable upstream events skipped so far, over every upstream call of the stream.
    public var malformedEvents: Int { info.withLock { $0.malformed } }

    /// Token usage of every upstream call behind the answer, as far as upstreams reported it
    /// (also when the stream failed and no usage chunk was sent).
    public var usage: Usage? { info.withLock { $0.usage } }

    /// The next item; the first call returns the events already decoded before the hand-off.
    /// nil once the stream is over (after `.done`, after `.failed`, or on cancellation).
    public nonisolated(nonsending) func next() async -> RoutedStreamItem? {
        guard !busy.exchange(true, ordering: .acquiring) else { return nil }
        defer { busy.store(false, ordering: .releasing) }
        return await session.next(self)
    }

    func update(_ body: (inout Info) -> Void) { info.withLock { body(&$0) } }

    func countMalformed(_ n: Int, target: String) {
        guard n > 0 else { return }
        info.withLock { $0.malformed += n }
        router.observer?.malformedStreamEvents(requestID: requestID, target: target, count: n)
    }

    /// The first leg's verdict was reported at the hand-off.
    func markSettled() {
        session.leg.settled = true
    }

    deinit {
        let router = self.router
        let requestID = self.requestID
        session.abandon(router: router, requestID: requestID)
        let pending = info.withLock { info -> [ContinuationRecord] in
            var out: [ContinuationRecord] = []
            for i in info.continuations.indices where info.continuations[i].outcome == .pending {
                info.continuations[i].outcome = .abandoned
                out.append(info.continuations[i])
            }
            return out
        }
        for r in pending {
            router.observer?.continuation(requestID: requestID, from: r.from, to: r.to, outcome: r.outcome)
        }
    }
}

/// How a pumped stream ended: for its target's breaker and for recovery.
enum PumpEnding {
    case completed
    /// `error` is what the client would be told.
    case failed(AttemptFault, APIError)
    /// Cancelled before a verdict.
    case abandoned
}

/// One upstream body after the hand-off and what was decoded ahead of the consumer.
///
/// A class: the hand-off passes it from the attempt through the driver's result into the
/// session, and as a struct each step copied it (its body iterator with the redactor, the decoder,
/// the first events) and destroyed the copy, about 4% of a streamed answer's own CPU
/// (`switchyard-bench gateway --sse`). It has one owner at a time, the attempt and then the
/// session, which uses it from one `next()` at a time (`RoutedStream`).
final class Pump {
    var iterator: UpstreamBodyStream.AsyncIterator
    var judge: StreamJudge
    var pending: [StreamEvent] = []
    var ending: PumpEnding?
    /// Usage the decoder still held when the transport failed (not shown to the client).
    var flushedUsage: Usage?

    init(iterator: UpstreamBodyStream.AsyncIterator, judge: StreamJudge) {
        self.iterator = iterator
        self.judge = judge
    }

    /// The stream completed: the events now pending are its last.
    var completed: Bool {
        if case .completed? = ending { return true }
        return false
    }

    /// The next batch of events; nil once the stream ended (see `ending`).
    nonisolated(nonsending) func next(malformed: (Int) -> Void) async -> [StreamEvent]? {
        while true {
            if !pending.isEmpty {
                defer { pending = [] }
                return pending
            }
            guard ending == nil else { return nil }
            if Task.isCancelled {
                ending = .abandoned
                return nil
            }
            let chunk: [UInt8]?
            do {
                chunk = try await iterator.next()
            } catch {
                if error == .cancelled || Task.isCancelled {
                    ending = .abandoned
                    return nil
                }
                for case .usage(let u, _) in judge.end().events { flushedUsage = u }
                let told = if case .timeout = error { RouterErrors.streamStalled } else { RouterErrors.streamTruncated }
                ending = .failed(.transport(error), told)
                return nil
            }
            // The body ends with nil when the consumer is cancelled: not a body end.
            if chunk == nil && Task.isCancelled {
                ending = .abandoned
                return nil
            }
            let step = chunk.map { judge.feed($0) } ?? judge.end()
            malformed(step.newMalformed)
            enqueue(step)
        }
    }

    /// Queues a step's events and records how it ended the stream, if it did.
    func enqueue(_ step: StreamJudge.Step) {
        if pending.isEmpty { pending = step.events } else { pending += step.events }
        switch step.verdict {
        case nil: break
        case .completed?: ending = .completed
        case .error(let e)?: ending = .failed(.provider(e), e.apiError)
        case .truncated?: ending = .failed(.transport(.transport("stream truncated")), RouterErrors.streamTruncated)
        }
    }
}
