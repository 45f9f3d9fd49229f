import Logging
public import SwitchyardCore
import SwitchyardProviders
import Synchronization

extension Router {
    /// Sends a streaming request (the caller sets `request.stream`). Retries and fallback stay
    /// possible until the first upstream event is decoded (the response head alone does not
    /// count); then the stream is handed over. A failure after that is recovered in place when
    /// `mode` and the delivered text allow it (see `StreamSession`), else ends the stream in-band.
    public nonisolated(nonsending) func stream(
        _ request: ChatRequest, targets: [RouteTarget], requestID: String, mode: StreamMode = .incremental
    ) async -> Result<RoutedStream, RouteFailure> {
        let outcome = await drive(request: request, targets: targets, requestID: requestID, streaming: true) {
            request, target, upstreamRequest in
            await self.streamAttempt(request, target: target, upstreamRequest: upstreamRequest, requestID: requestID)
        }
        // The winner is taken apart, not copied: the session is built in place from its parts (a
        // copy of the result, the leg and the session, and their destroys, were 3% of a short
        // streamed answer's CPU, `switchyard-bench gateway --sse`).
        switch consume outcome {
        case .failure(let f):
            return .failure(f)
        case .success(let won):
            let pump = won.value.pump
            let stream = RoutedStream(
                leg: Leg(pump: pump, target: won.target, probe: won.probe), request: request, targets: targets,
                mode: mode, attempts: won.attempts, requestID: requestID, router: self)
            if pump.completed {
                // Over within the hand-off step: its target's verdict need not wait for the consumer.
                settleStream(stream.target.key, .completed, probe: won.probe, logger)
                stream.markSettled()
            }
            return .success(stream)
        }
    }

    /// One streaming attempt up to the first decoded event, abandoned when no event was decoded
    /// within `firstByteTimeout` of sending the request. Headers, SSE comments and pings alone do
    /// not count: the transport's own first-byte timer would let an upstream that sends a comment
    /// and then stalls hold the request until the (much longer) idle timeout.
    ///
    /// A transport that enforces `firstEventTimeout` (ours: its event loop checks it with its
    /// other deadlines) is given the limit; otherwise a timer task races the attempt. The race
    /// costs two child tasks and a timer on the global executor per stream, about a fifth of the
    /// CPU of a short streamed answer (perf, c=16).
    nonisolated(nonsending) func streamAttempt(
        _ request: ChatRequest, target: RouteTarget, upstreamRequest: UpstreamRequest, requestID: String
    ) async -> AttemptResult<StreamStart> {
        guard let limit = upstreamRequest.firstByteTimeout else {
            return await streamUntilFirstEvent(
                request, target: target, upstreamRequest: upstreamRequest, requestID: requestID)
        }
        if upstream.enforcesFirstEventTimeout {
            var limited = upstreamRequest
            limited.firstEventTimeout = limit
            return await streamUntilFirstEvent(request, target: target, upstreamRequest: limited, requestID: requestID)
        }
        let box = StartBox()
        let finished = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                let r = await self.streamUntilFirstEvent(
                    request, target: target, upstreamRequest: upstreamRequest, requestID: requestID)
                box.put(r)
                return true
            }
            group.addTask {
                // A timeout, not a backoff: it runs on the real clock like the transport's timers.
                try? await Task.sleep(for: limit)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        if finished, let r = box.take() { return r }
        return .failure(AttemptFailure(.transport(.timeout(.firstByte)), outcome: .firstEventTimeout))
    }

    nonisolated(nonsending) func streamUntilFirstEvent(
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
                            .transport(.transport("stream ended before its first event")), outcome: .streamTruncated))
                }
            }
            // Hand-off: the first events are in. A verdict in the same step is replayed after them.
            response.body.eventArrived()
            let pump = Pump(iterator: consume iterator, judge: consume judge)
            pump.enqueue(step)
            return .success(StreamStart(pump: pump), status: status)
        }
    }

    /// Reports how a handed-off stream ended to its target's breaker: completion is a success,
    /// a failure that is the target's fault counts, anything else releases a probe.
    /// `log` is made only for a breaker change (a logger with metadata is an allocation).
    func settleStream(
        _ key: String, _ settlement: StreamSettlement, probe: Bool, _ log: @autoclosure () -> Logger
    ) {
        switch settlement {
        case .completed:
            if let t = recordSuccess(key) { breakerChanged(key, t, log()) }
        case .failed(let fault) where countsAgainstBreaker(fault):
            let at = now()
            let r = state.withLock { $0.recordFailure(key, now: at) }
            if let t = r.transition { breakerChanged(key, t, log()) }
        case .failed, .abandoned:
            if probe { state.withLock { $0.releaseProbe(key) } }
        }
    }
}

/// Carries an attempt's result out of the racing child task.
///
/// `@unchecked Sendable` invariant: the result (holding a non-Sendable body iterator) is put by
/// the one child task that produced it and taken by the parent only after that child finished
/// (`group.next()` returned its value); the Mutex orders the two.
final class StartBox: @unchecked Sendable {
    private let lock = Mutex(())
    private var value: AttemptResult<StreamStart>?

    func put(_ r: sending AttemptResult<StreamStart>) {
        lock.withLock { _ in value = r }
    }

    func take() -> AttemptResult<StreamStart>? {
        lock.withLock { _ in
            defer { value = nil }
            return value
        }
    }
}

/// A stream at its hand-off point (`pump.ending` is set when it ended within that step).
struct StreamStart {
    var pump: Pump
}

/// How a handed-off stream ended, for its target's breaker.
enum StreamSettlement: Sendable {
    case completed
    case failed(AttemptFault)
    /// Cancelled or dropped before a verdict.
    case abandoned
}
