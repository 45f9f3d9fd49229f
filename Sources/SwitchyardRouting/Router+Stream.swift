import Logging
public import SwitchyardCore
import SwitchyardProviders
import Synchronization

extension Router {
    /// Sends a streaming request (the caller sets `request.stream`). Retries and fallback stay
    /// possible until the first upstream event is decoded (the response head alone does not
    /// count); then the stream is handed over and any failure ends it in-band.
    public func stream(
        _ request: ChatRequest, targets: [RouteTarget], requestID: String
    ) async -> Result<RoutedStream, RouteFailure> {
        let outcome = await drive(request: request, targets: targets, requestID: requestID, streaming: true) {
            target, upstreamRequest in
            await self.streamAttempt(request, target: target, upstreamRequest: upstreamRequest, requestID: requestID)
        }
        switch outcome {
        case .failure(let f):
            return .failure(f)
        case .success(let won):
            let start = won.value
            let stream = RoutedStream(
                target: won.target, attempts: won.attempts, requestID: requestID, router: self, probe: won.probe,
                pump: start.pump)
            if let verdict = start.verdict { stream.settle(verdict) }
            return .success(stream)
        }
    }

    /// One streaming attempt up to the first decoded event.
    private func streamAttempt(
        _ request: ChatRequest, target: RouteTarget, upstreamRequest: UpstreamRequest, requestID: String
    ) async -> AttemptResult<StreamStart> {
        let response: UpstreamStreamingResponse
        do {
            response = try await upstream.stream(upstreamRequest)
        } catch {
            return .failure(AttemptFailure(.transport(error)))
        }
        let status = response.head.status
        guard (200..<300).contains(status) else {
            let body = (try? await response.body.collect(limit: 1 << 20)) ?? []
            if Task.isCancelled { return .failure(AttemptFailure(.transport(.cancelled))) }
            return .failure(providerFailure(target, head: response.head, body: body))
        }
        var judge = StreamJudge(decoder: target.codec.makeStreamDecoder(request: request, target: target.context))
        var iterator = response.body.makeAsyncIterator()
        while true {
            let chunk: [UInt8]?
            do {
                chunk = try await iterator.next()
            } catch {
                return .failure(AttemptFailure(.transport(Task.isCancelled ? .cancelled : error)))
            }
            if chunk == nil && Task.isCancelled { return .failure(AttemptFailure(.transport(.cancelled))) }
            let step = chunk.map { judge.feed($0) } ?? judge.end()
            if step.newMalformed > 0 {
                observer?.malformedStreamEvents(requestID: requestID, target: target.key, count: step.newMalformed)
            }
            if step.events.isEmpty {
                switch step.verdict {
                case nil, .completed?: continue
                case .error(let e)?: return .failure(AttemptFailure(.provider(e)))
                case .truncated?:
                    return .failure(
                        AttemptFailure(
                            .transport(.transport("stream ended before its first event")), outcome: "stream_truncated"))
                }
            }
            // Hand-off: the first events are in. A verdict in the same step is replayed after them.
            var pump = Pump(iterator: iterator, judge: judge, pending: [], finished: false)
            pump.enqueue(step, nil)
            let verdict: StreamSettlement? =
                switch step.verdict {
                case .error(let e)?: .failed(.provider(e))
                case .truncated?: .failed(.transport(.transport("stream truncated")))
                case .completed?: .completed
                case nil: nil
                }
            return .success(StreamStart(pump: pump, verdict: verdict), status: status)
        }
    }

    /// Reports how a handed-off stream ended to its target's breaker: completion is a success,
    /// a failure that is the target's fault counts, anything else releases a probe.
    func settleStream(_ key: String, _ settlement: StreamSettlement, probe: Bool, _ log: Logger) {
        switch settlement {
        case .completed:
            if let t = state.withLock({ $0.recordSuccess(key) }) { breakerChanged(key, t, log) }
        case .failed(let fault) where countsAgainstBreaker(fault):
            let at = now()
            let r = state.withLock { $0.recordFailure(key, now: at) }
            if let t = r.transition { breakerChanged(key, t, log) }
        case .failed, .abandoned:
            if probe { state.withLock { $0.releaseProbe(key) } }
        }
    }
}

/// A stream at its hand-off point.
struct StreamStart {
    var pump: Pump
    /// Set when the stream already ended within the step that handed it off.
    var verdict: StreamSettlement?
}

/// How a handed-off stream ended, for its target's breaker.
enum StreamSettlement: Sendable {
    case completed
    case failed(AttemptFault)
    /// Cancelled or dropped before a verdict.
    case abandoned
}
