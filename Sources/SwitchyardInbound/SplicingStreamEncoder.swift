import SwitchyardCore

/// What the Messages and Responses stream encoders share: a stream of typed events
/// (`event: <type>` + `data: {"type":<type>,…}`) fed from two sources into one state. Events a
/// target of the client's own API sent natively arrive with `raw` and are forwarded (`forward`)
/// while the encoder follows them; events without `raw` (a translating target, or the rest of a
/// native stream finished by a continuation) are written from the unified deltas and carry on
/// the same answer. This extension is the dispatch between the two and the reading of a delta;
/// each conformance writes its own API's events.
protocol SplicingStreamEncoder: InboundStreamEncoder {
    var state: SplicingState { get set }
    /// The answer's closing events went out: a second `.done` writes nothing.
    var ended: Bool { get }

    /// Forwards a native event unchanged and follows it.
    mutating func forward(_ raw: JSONObject, into out: inout [UInt8])
    /// Writes the opening events.
    mutating func start(into out: inout [UInt8])
    /// Deltas are about to be written; `state.native` says whether native events came before them.
    mutating func willWrite(_ deltas: [ChoiceDelta])
    mutating func appendText(_ text: String, refusal: Bool, into out: inout [UInt8])
    /// Opens the block or item of a tool call's first delta (the open one is closed already) and
    /// makes it the open one; returns its index.
    mutating func openCall(_ call: ToolCallDelta, into out: inout [UInt8]) -> Int
    /// Writes a piece of a tool call's arguments to block or item `i`.
    mutating func appendArguments(_ args: String, to i: Int, into out: inout [UInt8])
    /// Writes the closing events of block or item `i`, no longer the open one.
    mutating func close(_ i: Int, into out: inout [UInt8])
    /// Closes what is open and writes the closing events.
    mutating func complete(into out: inout [UInt8])
}

/// The part of a splicing encoder's state that the dispatch and both APIs' events share.
struct SplicingState: Sendable {
    let context: AnswerContext
    /// The target whose events are being written (it changes after a continuation).
    var model: String
    /// The answer's opening events went out (forwarded or written).
    var started = false
    /// The upstream's own events are being forwarded.
    var native = false
    /// Index of the block or item still open, if any.
    var open: Int?
    /// Unified tool-call index → index of its block or item.
    var calls: [Int: Int] = [:]
    var finish: FinishReason?
    /// The last usage event.
    var usage: Usage?
    /// The error event that ended the stream.
    var failure: APIError?

    init(context: AnswerContext) {
        self.context = context
        self.model = context.model
    }
}

extension SplicingStreamEncoder {
    mutating func willWrite(_ deltas: [ChoiceDelta]) {}

    public var usage: Usage? { state.usage }
    public var failure: APIError? { state.failure }

    public mutating func encode(_ events: [StreamEvent], model: String) -> [UInt8] {
        state.model = model
        var out: [UInt8] = []
        for event in events {
            switch event {
            case .choices(let deltas, let raw):
                if let raw, state.native || !state.started {
                    state.native = true
                    state.started = true
                    forward(raw.object, into: &out)
                } else {
                    if !state.started { start(into: &out) }
                    willWrite(deltas)
                    for d in deltas { apply(d, into: &out) }
                }
            case .usage(let u, _):
                state.usage = u
            case .done:
                guard !ended else { continue }
                if !state.started { start(into: &out) }
                complete(into: &out)
            case .error(let e):
                out += fail(e.apiError)
                state.failure = e.apiError
            }
        }
        return out
    }

    /// The first choice's text, refusal, tool calls and finish reason (the APIs have one choice).
    mutating func apply(_ d: ChoiceDelta, into out: inout [UInt8]) {
        guard d.index == 0 else { return }
        if let text = d.content, !text.isEmpty { appendText(text, refusal: false, into: &out) }
        if let text = d.refusal, !text.isEmpty { appendText(text, refusal: true, into: &out) }
        for call in d.toolCalls { applyCall(call, into: &out) }
        if let f = d.finishReason { state.finish = f }
    }

    /// A tool call's delta: its block or item (opened on the first delta), then its arguments.
    mutating func applyCall(_ call: ToolCallDelta, into out: inout [UInt8]) {
        let i: Int
        if let known = state.calls[call.index] {
            i = known
        } else {
            closeOpen(into: &out)
            i = openCall(call, into: &out)
            state.calls[call.index] = i
        }
        if let args = call.arguments, !args.isEmpty { appendArguments(args, to: i, into: &out) }
    }

    /// Closes the open block or item, if any.
    mutating func closeOpen(into out: inout [UInt8]) {
        guard let i = state.open else { return }
        state.open = nil
        close(i, into: &out)
    }

    /// An event's data object: `type` first, then `fields`.
    static func typed(_ type: String, _ fields: JSONObject) -> JSONObject {
        var o = JSONObject()
        o.appendUnique("type", .string(type))
        for e in fields { o.appendUnique(e.key, e.value) }
        return o
    }
}
