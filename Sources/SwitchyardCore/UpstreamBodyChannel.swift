import Synchronization

/// The body of a streamed upstream answer on its way from a transport to its one consumer:
/// chunks queued in arrival order (no bound: the transport's own flow control limits them),
/// then the end or a failure. What `AsyncThrowingStream.makeStream` did for `CurlUpstream`,
/// with a single consumer in mind: one shared object and one consumer token (the stream took
/// three objects and a closure), one uncontended lock per call, and a chunk that is already
/// queued is taken without suspending.
///
/// Termination as the stream had it: when the consumer goes before the end (its task is
/// cancelled while it waits or before it asks, or every copy of the body and its iterators is
/// dropped), `onTermination` runs once and the producer's next `yield` returns false. Chunks
/// still queued then are dropped, and `next()` returns nil from then on. A failure is thrown
/// once, after the chunks queued before it; `next()` returns nil after that.
package final class UpstreamBodyChannel: Sendable {
    private struct State {
        /// The oldest queued chunk when it is the only one: a body that arrives in one read (a
        /// short answer, the common case on a fast upstream) then queues without allocating a
        /// list. Later chunks queue in `chunks` behind it.
        var head: [UInt8]?
        var chunks: [[UInt8]] = []
        var taken = 0
        /// nil while open; `.success` at the end, `.failure` when the body failed.
        var ending: Result<Void, UpstreamFailure>?
        var consumerGone = false
        var waiter: UnsafeContinuation<Void, Never>?
        var onTermination: (@Sendable () -> Void)?
    }

    private let state: Mutex<State>

    /// `onTermination` runs once if the consumer goes before `finish` (it cancels the transfer).
    package init(onTermination: (@Sendable () -> Void)? = nil) {
        state = Mutex(State(onTermination: onTermination))
    }

    // MARK: Producer

    /// Queues a chunk. False once the consumer is gone (the transfer should stop) or after `finish`.
    package func yield(_ chunk: [UInt8]) -> Bool {
        let (accepted, waiter) = state.withLock { s -> (Bool, UnsafeContinuation<Void, Never>?) in
            guard !s.consumerGone, s.ending == nil else { return (false, nil) }
            if s.head == nil, s.taken == s.chunks.count {
                s.head = chunk
            } else {
                s.chunks.append(chunk)
            }
            defer { s.waiter = nil }
            return (true, s.waiter)
        }
        waiter?.resume()
        return accepted
    }

    /// Ends the body (`failure` nil: it is complete). Later calls do nothing.
    package func finish(throwing failure: UpstreamFailure? = nil) {
        let waiter = state.withLock { s -> UnsafeContinuation<Void, Never>? in
            guard s.ending == nil else { return nil }
            s.ending = failure.map { .failure($0) } ?? .success(())
            s.onTermination = nil
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume()
    }

    // MARK: Consumer

    /// The next chunk; nil at the end or once the consumer is gone. Throws the failure once.
    nonisolated(nonsending) func next() async throws(UpstreamFailure) -> [UInt8]? {
        while true {
            if Task.isCancelled {
                consumerLeft()
                return nil
            }
            switch state.withLock({ Self.take(&$0) }) {
            case .chunk(let chunk): return chunk
            case .end: return nil
            case .failed(let failure): throw failure
            case .wait: break
            }
            await withTaskCancellationHandler {
                await withUnsafeContinuation { (c: UnsafeContinuation<Void, Never>) in
                    let ready = state.withLock { s in
                        if s.consumerGone || s.ending != nil || s.head != nil || s.taken < s.chunks.count {
                            return true
                        }
                        s.waiter = c
                        return false
                    }
                    if ready { c.resume() }
                }
            } onCancel: {
                consumerLeft()
            }
        }
    }

    private enum Taken {
        case chunk([UInt8])
        case end
        case failed(UpstreamFailure)
        case wait
    }

    private static func take(_ s: inout State) -> Taken {
        if s.consumerGone { return .end }
        if let head = s.head {
            s.head = nil
            return .chunk(head)
        }
        if s.taken < s.chunks.count {
            let chunk = s.chunks[s.taken]
            s.taken += 1
            if s.taken == s.chunks.count {
                s.chunks.removeAll(keepingCapacity: true)
                s.taken = 0
            } else {
                s.chunks[s.taken - 1] = []
            }
            return .chunk(chunk)
        }
        switch s.ending {
        case nil: return .wait
        case .success?: return .end
        case .failure(let failure)?:
            s.ending = .success(())
            return .failed(failure)
        }
    }

    /// The consumer is gone: drop what is queued, wake a waiting `next()`, tell the producer.
    func consumerLeft() {
        let (waiter, onTermination) = state.withLock { s in
            guard !s.consumerGone else { return (UnsafeContinuation<Void, Never>?.none, (@Sendable () -> Void)?.none) }
            s.consumerGone = true
            s.head = nil
            s.chunks = []
            s.taken = 0
            defer {
                s.waiter = nil
                s.onTermination = nil
            }
            return (s.waiter, s.ending == nil ? s.onTermination : nil)
        }
        waiter?.resume()
        onTermination?()
    }
}

/// The consumer's hold on a channel: when the last copy of the body stream and of its iterators
/// is gone, the consumer has left (the channel itself is also held by the producer).
final class UpstreamBodyReceiver: Sendable {
    let channel: UpstreamBodyChannel

    init(_ channel: UpstreamBodyChannel) { self.channel = channel }

    deinit { channel.consumerLeft() }
}
