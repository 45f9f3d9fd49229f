import Logging
import SwitchyardCore
import Synchronization

/// One upstream call feeding a routed stream.
struct Leg {
    var pump: Pump
    let target: RouteTarget
    /// The call was its target's half-open probe; `settled` flips once its verdict is reported.
    let probe: Bool
    var settled = false
    /// Set on a continuation: rewrites its events to follow what was delivered.
    var splice: StreamSplice?
    /// Index of this leg's record in `RoutedStream.continuations`, if it is a recovery.
    var record: Int?
    var restart = false
}

/// The state behind a `RoutedStream`: the current leg, what reached the client, usage, and
/// the recovery rules of the README's "Mid-stream recovery":
/// - `incremental`: after a mid-stream failure of a plain-text answer, a continuation-capable
///   target is sent the request plus the delivered text as a final assistant turn, and only
///   what it adds is streamed; if that is impossible or fails, the client gets the error of
///   the ORIGINAL failure. A request is never restarted once text was delivered.
/// - `buffered`: nothing goes out until the upstream stream completed; a failure before that
///   restarts the request on any target.
struct StreamSession {
    var leg: Leg
    let request: ChatRequest
    let targets: [RouteTarget]
    let mode: StreamMode
    var delivered = DeliveredText()
    /// Usage of finished legs that produced the answer; the current leg's latest usage event.
    var priorUsage: Usage?
    var legUsage: StreamEvent?
    var recoveries = 0
    /// The first mid-stream failure: what the client is told if recovery does not work out.
    var original: APIError?
    /// Held events of a buffered stream.
    var buffer: [StreamEvent] = []
    var queue: [RoutedStreamItem] = []
    var over = false

    init(leg: Leg, request: ChatRequest, targets: [RouteTarget], mode: StreamMode) {
        self.leg = leg
        self.request = request
        self.targets = targets
        self.mode = mode
    }

    nonisolated(nonsending) mutating func next(_ owner: RoutedStream) async -> RoutedStreamItem? {
        if !queue.isEmpty { return queue.removeFirst() }
        while !over {
            let key = leg.target.key
            let batch = await leg.pump.next { owner.countMalformed($0, target: key) }
            if let batch {
                let out = process(batch, owner)
                if mode == .buffered {
                    buffer += out
                    guard out.last == .done else { continue }
                    defer { buffer = [] }
                    settleIfEnded(owner)
                    return .events(buffer)
                }
                settleIfEnded(owner)
                if !out.isEmpty { return .events(out) }
                continue
            }
            settleIfEnded(owner)
            switch leg.pump.ending {
            case .failed(let fault, let told)?:
                original = original ?? told
                if await recover(after: fault, owner) { continue }
                over = true
                // The usage the failed stream reported still goes out before the error, as before.
                if let u = legUsage, leg.splice == nil, priorUsage == nil {
                    queue.append(.failed(original ?? told))
                    return .events([u])
                }
                return .failed(original ?? told)
            case .completed?, .abandoned?, nil:
                over = true
                return nil
            }
        }
        return nil
    }

    /// Splices, holds usage until the end, and records what the client gets.
    mutating func process(_ events: consuming [StreamEvent], _ owner: RoutedStream) -> [StreamEvent] {
        var out = events
        if var splice = leg.splice {
            out = splice.rewrite(out)
            leg.splice = splice
        }
        // The batch goes on as it came (no second list per batch) but for usage, which is held
        // back and sent before `[DONE]`.
        var i = 0
        while i < out.count {
            switch out[i] {
            case .usage(let u, _):
                legUsage = out.remove(at: i)
                let total = priorUsage.map { $0 + u } ?? u
                owner.update { $0.usage = total }
                continue
            case .done:
                if let u = finalUsage() {
                    out.insert(u, at: i)
                    i += 1
                }
            default:
                break
            }
            i += 1
        }
        // What the client has is read only to continue after a failure: not kept when the leg
        // completed with this batch (its last), or when the request cannot be continued. A short
        // answer read in one piece skips it (its text built delta by delta was 1.6% of
        // `switchyard-bench gateway --sse`).
        if mode == .incremental, !leg.pump.completed, request.allowsContinuation { delivered.record(out) }
        return out
    }

    /// The usage event to send before `[DONE]`: the upstream's own when one call made the
    /// answer, else the sum in the answer's envelope.
    func finalUsage() -> StreamEvent? {
        guard let splice = leg.splice else { return legUsage }
        var total = priorUsage
        if case .usage(let u, _)? = legUsage { total = total.map { $0 + u } ?? u }
        return total.map { splice.usageEvent($0) }
    }

    /// Reports the current leg's end to its breaker and its continuation record, once.
    mutating func settleIfEnded(_ owner: RoutedStream) {
        guard !leg.settled, let ending = leg.pump.ending else { return }
        leg.settled = true
        let router = owner.router
        // `request_id` joins a logger only when a line is written (it was an allocation and a
        // metadata copy per stream that ended over several reads).
        let log = RequestLogger(base: router.logger, requestID: owner.requestID, level: router.logLevel)
        let settlement: StreamSettlement
        let outcome: ContinuationOutcome
        switch ending {
        case .completed:
            settlement = .completed
            outcome = leg.restart ? .restartOK : .ok
        case .failed(let fault, _):
            log.debug(
                "stream failed after hand-off",
                metadata: ["target": "\(leg.target.key)", "outcome": "\(fault.outcome.rawValue)"])
            settlement = .failed(fault)
            outcome = leg.restart ? .restartFailed : .failed
        case .abandoned:
            settlement = .abandoned
            outcome = .abandoned
        }
        router.settleStream(leg.target.key, settlement, probe: leg.probe, log.logger)
        if let i = leg.record { finishRecord(i, outcome, owner) }
    }

    func finishRecord(_ i: Int, _ outcome: ContinuationOutcome, _ owner: RoutedStream) {
        var record: ContinuationRecord?
        owner.update { info in
            guard i < info.continuations.count else { return }
            info.continuations[i].outcome = outcome
            record = info.continuations[i]
        }
        if let record {
            owner.router.observer?.continuation(
                requestID: owner.requestID, from: record.from, to: record.to, outcome: record.outcome)
        }
    }

    /// Adds a finished recovery record (or a pending one, finished by `settleIfEnded`).
    func addRecord(_ record: ContinuationRecord, _ owner: RoutedStream) -> Int {
        var index = 0
        owner.update { info in
            index = info.continuations.count
            info.continuations.append(record)
        }
        if record.outcome != .pending {
            owner.router.observer?.continuation(
                requestID: owner.requestID, from: record.from, to: record.to, outcome: record.outcome)
        }
        return index
    }

    /// Tries to carry on after the current leg failed; true when a new leg is streaming.
    nonisolated(nonsending) mutating func recover(after fault: AttemptFault, _ owner: RoutedStream) async -> Bool {
        let router = owner.router
        let maxRecoveries = router.state.withLock { $0.policy.maxRecoveries }
        guard recoveries < maxRecoveries, Router.recoverable(fault), !Task.isCancelled else { return false }
        let from = leg.target
        let brokenUsage: Usage? = {
            if case .usage(let u, _)? = legUsage { return u }
            return leg.pump.flushedUsage
        }()
        switch mode {
        case .buffered:
            recoveries += 1
            let result = await router.restartStream(
                request, targets: targets, failed: from, requestID: owner.requestID)
            owner.update { $0.attempts += result.attempts }
            guard let won = result.won else {
                let to = result.attempts.last?.target ?? "none"
                _ = addRecord(ContinuationRecord(from: from.key, to: to, outcome: .restartFailed), owner)
                return false
            }
            buffer = []
            legUsage = nil
            let i = addRecord(ContinuationRecord(from: from.key, to: won.target.key, outcome: .pending), owner)
            install(won, splice: nil, record: i, restart: true, owner)
            return true
        case .incremental:
            guard delivered.plainText, request.allowsContinuation else { return false }
            recoveries += 1
            let (prefix, held) = delivered.prefill
            let result = await router.continueStream(
                request, prefix: prefix, targets: targets, failed: from, requestID: owner.requestID)
            owner.update { $0.attempts += result.attempts }
            guard let won = result.won else {
                let outcome: ContinuationOutcome =
                    if result.attempts.isEmpty {
                        .unavailable
                    } else if result.rejected.last == result.attempts.last?.target {
                        .rejected
                    } else {
                        .failed
                    }
                let to = result.attempts.last?.target ?? "none"
                _ = addRecord(ContinuationRecord(from: from.key, to: to, outcome: outcome), owner)
                return false
            }
            if let brokenUsage { priorUsage = priorUsage.map { $0 + brokenUsage } ?? brokenUsage }
            legUsage = nil
            let i = addRecord(ContinuationRecord(from: from.key, to: won.target.key, outcome: .pending), owner)
            // A server of the `prefix` dialect may answer with the prefix again before the rest
            // (unverified for Mistral, whose guide slices it off the answer); no other dialect
            // repeats it.
            let echo = won.target.continuation == .prefix ? prefix : ""
            let splice = StreamSplice(held: held, envelope: delivered.envelope, model: won.target.model, echo: echo)
            install(won, splice: splice, record: i, restart: false, owner)
            return true
        }
    }

    mutating func install(
        _ won: Won<StreamStart>, splice: StreamSplice?, record: Int, restart: Bool, _ owner: RoutedStream
    ) {
        leg = Leg(
            pump: won.value.pump, target: won.target, probe: won.probe, splice: splice, record: record,
            restart: restart)
        owner.update { $0.answering = won.target }
    }

    /// The stream was dropped: release the current leg's breaker probe or mark its record.
    mutating func abandon(router: Router, requestID: String) {
        guard !leg.settled else { return }
        leg.settled = true
        let settlement: StreamSettlement
        switch leg.pump.ending {
        case .completed?: settlement = .completed
        case .failed(let fault, _)?: settlement = .failed(fault)
        case .abandoned?, nil: settlement = .abandoned
        }
        let log = RequestLogger(base: router.logger, requestID: requestID, level: router.logLevel)
        router.settleStream(leg.target.key, settlement, probe: leg.probe, log.logger)
    }
}
