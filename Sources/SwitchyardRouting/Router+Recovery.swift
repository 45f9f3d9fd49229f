import Logging
import SwitchyardCore
import SwitchyardProviders
import Synchronization

/// What a recovery attempt produced: the new leg, if any, and every upstream call it made.
struct RecoveryResult {
    var won: Won<StreamStart>?
    var attempts: [AttemptRecord] = []
    /// Targets that refused the prefill (a 400 or 422), now remembered as not continuation-capable.
    var rejected: [String] = []
}

extension Router {
    /// Whether a mid-stream failure is worth another upstream call (not a client cancellation,
    /// not a request the upstream called invalid).
    static func recoverable(_ fault: AttemptFault) -> Bool {
        switch classify(fault) {
        case .retry, .nextTarget: true
        case .final, .cancelled: false
        }
    }

    /// Continues a stream that broke after `prefix` (+ held-back whitespace) reached the client:
    /// the request goes, with `prefix` as a final assistant turn (flagged in each target's
    /// continuation dialect by its codec), to the continuation-capable targets — the broken one
    /// first after a backoff, then the rest by priority — through the ordinary driver (retries,
    /// breakers, budget). A target answering the continuation with a 400/422 is remembered as
    /// not continuation-capable for `continuationBanDuration`, and the next candidate is tried. An empty prefix needs no capability: the request is sent as it was.
    nonisolated(nonsending) func continueStream(
        _ request: ChatRequest, prefix: String, targets: [RouteTarget], failed: RouteTarget, requestID: String
    ) async -> RecoveryResult {
        let at = now()
        var candidates = state.withLock { s in
            targets.filter { prefix.isEmpty || ($0.continuation != .unsupported && s.mayContinue($0.key, now: at)) }
        }
        var result = RecoveryResult()
        guard !candidates.isEmpty else { return result }
        candidates = candidates.map { t in
            var t = t
            if t.key == failed.key { t.priority = Int.min }
            return t
        }
        if candidates.contains(where: { $0.key == failed.key }) {
            let policy = state.withLock { $0.policy }
            do {
                try await sleep(Backoff.delay(retry: 1, policy: policy, jitter: random()))
            } catch {
                return result
            }
        }
        let continued = request.continuing(prefix)
        while !candidates.isEmpty, !Task.isCancelled {
            let outcome = await drive(request: continued, targets: candidates, requestID: requestID, streaming: true) {
                continued, target, upstreamRequest in
                await self.streamAttempt(
                    continued, target: target, upstreamRequest: upstreamRequest, requestID: requestID)
            }
            switch outcome {
            case .success(let won):
                result.attempts += won.attempts
                result.won = won
                return result
            case .failure(let f):
                result.attempts += f.attempts
                guard !prefix.isEmpty else { return result }
                let refused = Set(f.attempts.filter { $0.status == 400 || $0.status == 422 }.map(\.target))
                guard !refused.isEmpty else { return result }
                let t = now()
                state.withLock { s in for key in refused { s.refuseContinuation(key, now: t) } }
                var log = logger
                log[metadataKey: "request_id"] = "\(requestID)"
                for key in refused.sorted() {
                    log.info("target refused a prefilled continuation", metadata: ["target": "\(key)"])
                }
                result.rejected += f.attempts.map(\.target).filter { refused.contains($0) }
                candidates.removeAll { refused.contains($0.key) }
            }
        }
        return result
    }

    /// Restarts a buffered stream (nothing reached the client) on any target, the broken one last.
    nonisolated(nonsending) func restartStream(
        _ request: ChatRequest, targets: [RouteTarget], failed: RouteTarget, requestID: String
    ) async -> RecoveryResult {
        let plan = targets.map { t in
            var t = t
            if t.key == failed.key { t.priority = Int.max }
            return t
        }
        let outcome = await drive(request: request, targets: plan, requestID: requestID, streaming: true) {
            request, target, upstreamRequest in
            await self.streamAttempt(request, target: target, upstreamRequest: upstreamRequest, requestID: requestID)
        }
        switch outcome {
        case .success(let won): return RecoveryResult(won: won, attempts: won.attempts)
        case .failure(let f): return RecoveryResult(won: nil, attempts: f.attempts)
        }
    }
}
