import Logging
public import SwitchyardCore
import Synchronization

/// What a routed stream yields.
public enum RoutedStreamItem: Sendable, Equatable {
    /// Decoded events in order; a completed stream's last batch ends with `.done`.
    case events([StreamEvent])
    /// The stream failed after the hand-off; write this as the in-band error event
    /// (mapping.md §9.3, no `[DONE]` after it). Nothing follows.
    case failed(APIError)
}

/// A stream handed to the client after its first upstream event arrived. No more fallback:
/// failures from here end the stream with `.failed`.
///
/// Single consumer: call `next()` from one task at a time (a concurrent call returns nil).
/// Cancelling the consuming task, or dropping the stream, aborts the upstream transfer.
public final class RoutedStream: Sendable {
    /// The target that answered.
    public let target: RouteTarget
    /// Every upstream call made before the hand-off, the answering one last (`ok`).
    public let attempts: [AttemptRecord]
    let requestID: String
    let router: Router
    private let pump: Mutex<PumpBox?>
    private let malformed: Mutex<Int>
    /// Whether the winning attempt was a half-open probe; `settled` flips once.
    let probe: Bool
    private let settled = Mutex(false)

    init(
        target: RouteTarget, attempts: [AttemptRecord], requestID: String, router: Router, probe: Bool,
        pump: consuming Pump
    ) {
        self.probe = probe
        self.target = target
        self.attempts = attempts
        self.requestID = requestID
        self.router = router
        self.malformed = Mutex(pump.judge.malformedEvents)
        self.pump = Mutex(PumpBox(pump: pump))
    }

    /// Value for an attempts header: total upstream calls made.
    public var upstreamCalls: Int { attempts.count }

    /// Unparseable upstream events skipped so far in the answering stream.
    public var malformedEvents: Int { malformed.withLock { $0 } }

    /// The next item; the first call returns the events already decoded before the hand-off.
    /// nil once the stream is over (after `.done`, after `.failed`, or on cancellation).
    public func next() async -> RoutedStreamItem? {
        guard var box = pump.withLock({ $0.take() }) else { return nil }
        let item = await box.pump.next(self)
        pump.withLock { $0 = box }
        return item
    }

    func countMalformed(_ n: Int, total: Int) {
        guard n > 0 else { return }
        malformed.withLock { $0 = total }
        router.observer?.malformedStreamEvents(requestID: requestID, target: target.key, count: n)
    }

    /// Reports the stream's end to the breaker, once: completion closes it, a failure that is
    /// the target's fault counts, cancellation or dropping the stream releases a probe.
    func settle(_ settlement: StreamSettlement) {
        guard
            settled.withLock({ s in
                defer { s = true }
                return !s
            })
        else { return }
        var log = router.logger
        log[metadataKey: "request_id"] = "\(requestID)"
        if case .failed(let fault) = settlement {
            log.debug(
                "stream failed after hand-off", metadata: ["target": "\(target.key)", "outcome": "\(fault.outcome)"])
        }
        router.settleStream(target.key, settlement, probe: probe, log)
    }

    deinit { settle(.abandoned) }
}

/// Carries the pump in and out of `RoutedStream`'s mutex.
///
/// `@unchecked Sendable` invariant: the pump (a non-Sendable body iterator) is only ever used
/// by the one task that took it out of the mutex with `take()`; while it is out the mutex holds
/// nil, so no other task can reach it, and it is put back before `next()` returns.
struct PumpBox: @unchecked Sendable {
    var pump: Pump
}

/// The upstream body after the hand-off and what was decoded ahead of the consumer.
struct Pump {
    var iterator: UpstreamBodyStream.AsyncIterator
    var judge: StreamJudge
    var pending: [RoutedStreamItem]
    var finished: Bool

    mutating func next(_ owner: RoutedStream) async -> RoutedStreamItem? {
        if !pending.isEmpty { return pending.removeFirst() }
        while !finished {
            if Task.isCancelled { return cancelled(owner) }
            let chunk: [UInt8]?
            do {
                chunk = try await iterator.next()
            } catch {
                if error == .cancelled || Task.isCancelled { return cancelled(owner) }
                finished = true
                owner.settle(.failed(.transport(error)))
                if case .timeout = error { return .failed(RouterErrors.streamStalled) }
                return .failed(RouterErrors.streamTruncated)
            }
            // AsyncThrowingStream ends with nil when the consumer is cancelled: not a body end.
            if chunk == nil && Task.isCancelled { return cancelled(owner) }
            let step = chunk.map { judge.feed($0) } ?? judge.end()
            owner.countMalformed(step.newMalformed, total: judge.malformedEvents)
            enqueue(step, owner)
            if !pending.isEmpty { return pending.removeFirst() }
        }
        return nil
    }

    /// Queues a step's items; records a breaker failure when it ends the stream badly.
    mutating func enqueue(_ step: StreamJudge.Step, _ owner: RoutedStream?) {
        if !step.events.isEmpty { pending.append(.events(step.events)) }
        switch step.verdict {
        case nil:
            break
        case .completed?:
            owner?.settle(.completed)
        case .error(let e)?:
            pending.append(.failed(e.apiError))
            owner?.settle(.failed(.provider(e)))
        case .truncated?:
            pending.append(.failed(RouterErrors.streamTruncated))
            owner?.settle(.failed(.transport(.transport("stream truncated"))))
        }
        if step.verdict != nil { finished = true }
    }

    private mutating func cancelled(_ owner: RoutedStream) -> RoutedStreamItem? {
        owner.settle(.abandoned)
        finished = true
        pending = []
        return nil
    }
}
