public import SwitchyardCore
public import SwitchyardProviders

/// Judges an upstream stream by its content (not by its end marker) while decoding it.
///
/// A stream *completes* when the body ends, or the end marker (`[DONE]`, `message_stop`)
/// arrives, and the decoder `isComplete` (a finish reason for every choice); it is *truncated*
/// when either happens before that, or when an event is larger than the decoder holds. Unparseable events are skipped by the decoder and counted.
/// Pure: bytes in, events and a verdict out.
public struct StreamJudge: Sendable {
    public enum Verdict: Sendable, Equatable {
        /// Complete; the events end with one `.done` (added when the upstream sent no marker).
        case completed
        /// The upstream reported an error in-band; events after it are dropped.
        case error(ProviderError)
        /// Ended before a finish reason.
        case truncated
    }

    public struct Step: Sendable, Equatable {
        /// Decoded events, without the upstream's own `.done` (the verdict decides that).
        public var events: [StreamEvent]
        /// Set once the stream is over.
        public var verdict: Verdict?
        /// Malformed events newly skipped in this step.
        public var newMalformed: Int
    }

    private var decoder: any StreamDecoder
    private var counted = 0

    public init(decoder: any StreamDecoder) { self.decoder = decoder }

    /// Unparseable events skipped so far.
    public var malformedEvents: Int { decoder.malformedEvents }

    public mutating func feed(_ bytes: [UInt8]) -> Step { judge(decoder.feed(bytes), bodyEnded: false) }

    /// The body ended.
    public mutating func end() -> Step { judge(decoder.finish(), bodyEnded: true) }

    private mutating func judge(_ events: consuming [StreamEvent], bodyEnded: Bool) -> Step {
        // The decoder's list goes on as it is, cut at an error or the end marker: no second list
        // per read.
        var out = events
        var verdict: Verdict?
        if let stop = out.firstIndex(where: \.endsStream) {
            let marker = out[stop]
            out.removeLast(out.count - stop)
            if case .error(let error) = marker {
                verdict = .error(error)
            } else {
                // The marker ends the stream: flush what the decoder still holds, then judge.
                for f in decoder.finish() {
                    if case .choices = f { out.append(f) } else if case .usage = f { out.append(f) }
                }
                verdict = decoder.isComplete ? .completed : .truncated
            }
        }
        // The verdict is matched, not compared: `==` on it copied both sides (an error's payload).
        if verdict == nil {
            if bodyEnded {
                verdict = decoder.isComplete ? .completed : .truncated
            } else if decoder.overflowed {
                // An event over the decoder's bound ends the stream where it began, as a cut would.
                verdict = .truncated
            }
        }
        if case .completed? = verdict { out.append(.done) }
        let fresh = decoder.malformedEvents - counted
        counted = decoder.malformedEvents
        return Step(events: out, verdict: verdict, newMalformed: fresh)
    }
}

extension StreamEvent {
    /// An in-band error or the end marker: nothing after it belongs to the stream.
    fileprivate var endsStream: Bool {
        switch self {
        case .error, .done: true
        case .choices, .usage: false
        }
    }
}
