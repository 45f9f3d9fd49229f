import SwitchyardCore
import SwitchyardProviders

/// An upstream's SSE body through one codec's stream decoder. Input: a byte picking the client
/// request (`FuzzCodecs.requests`), then the body.
/// What must hold (the decoders' contract): the events, `isComplete` and the count of skipped
/// events do not depend on how the body is split (whole, byte by byte, in chunks); every event
/// becomes a chunk, usage chunk or in-band error the client can parse.
enum StreamFuzz {
    struct Outcome: Equatable {
        var events: [StreamEvent]
        var complete: Bool
        var malformed: Int
    }

    static func run(_ bytes: [UInt8], kind: ProviderKind) throws(FuzzFailure) {
        var input = FuzzInput(bytes)
        let request = input.pick(FuzzCodecs.requests)
        let body = input.rest
        let target = FuzzCodecs.target(kind, switches: 0)
        let whole = decode(body, chunk: body.count, kind.codec.makeStreamDecoder(request: request, target: target))
        let bytewise = decode(body, chunk: 1, kind.codec.makeStreamDecoder(request: request, target: target))
        try check(bytewise == whole, "\(kind): byte-by-byte feeding gives different events")
        let size = 2 + body.count % 29
        let chunked = decode(body, chunk: size, kind.codec.makeStreamDecoder(request: request, target: target))
        try check(chunked == whole, "\(kind): feeding in \(size)-byte chunks gives different events")

        let encoder = ChunkEncoder(id: "chatcmpl-fuzz", created: 1_750_000_000, model: FuzzCodecs.model(kind))
        for event in whole.events {
            switch event {
            case .choices(let deltas, let raw):
                try checkEvent(raw.map(SSE.data) ?? encoder.encode(deltas), "\(kind) chunk")
            case .usage(let usage, let raw):
                try checkEvent(raw.map(SSE.data) ?? encoder.encodeUsage(usage), "\(kind) usage chunk")
            case .error(let error):
                try ResponseFuzz.checkProviderError(error, headers: [], "\(kind) stream error")
                try checkEvent(SSE.error(error.apiError), "\(kind) in-band error")
            case .done:
                break
            }
        }
    }

    static func decode(_ body: [UInt8], chunk: Int, _ decoder: any StreamDecoder) -> Outcome {
        var decoder = decoder
        var events: [StreamEvent] = []
        for piece in FuzzSplit.chunks(body, size: chunk) { events += decoder.feed(piece) }
        events += decoder.finish()
        return Outcome(events: events, complete: decoder.isComplete, malformed: decoder.malformedEvents)
    }

    /// One `data: {json}\n\n` event.
    static func checkEvent(_ bytes: [UInt8], _ what: String) throws(FuzzFailure) {
        let prefix = Array("data: ".utf8)
        try check(
            bytes.starts(with: prefix) && bytes.suffix(2) == [0x0A, 0x0A],
            "the \(what) is not one SSE data event")
        let payload = Array(bytes[prefix.count..<(bytes.count - 2)])
        try check(!payload.contains(0x0A) && !payload.contains(0x0D), "the \(what) spans several lines")
        _ = try JSONFuzz.checkParses(payload, "the \(what)")
    }
}
