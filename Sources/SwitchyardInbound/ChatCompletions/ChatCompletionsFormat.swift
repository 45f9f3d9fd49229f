public import SwitchyardCore

/// `POST /v1/chat/completions`: OpenAI Chat Completions, the API Switchyard started with.
/// Requests parse with `ChatRequest.parse`; answers are `chat.completion` objects and
/// `chat.completion.chunk` events ending in `[DONE]`; errors are OpenAI's envelope.
public struct ChatCompletionsFormat: InboundFormat {
    public init() {}

    public var api: InboundAPI { .chatCompletions }

    public func parseRequest(_ body: [UInt8]) throws(APIError) -> ChatRequest {
        try ChatRequest.parse(body: body)
    }

    public func encodeResponse(_ response: ChatResponse, passthrough: [UInt8]?, context: AnswerContext) -> [UInt8] {
        passthrough ?? response.serialized()
    }

    /// The answer is the unified response as it is (its id is the router's `chatcmpl-…`).
    public func encodeResponse(_ response: ChatResponse) -> [UInt8]? { response.serialized() }

    public func makeStreamEncoder(context: AnswerContext) -> any InboundStreamEncoder {
        ChatStreamEncoder(context: context)
    }

    public func encodeError(_ error: APIError) -> [UInt8] { error.body }

    public func replayStream(_ body: [UInt8], request: ChatRequest) -> [UInt8] {
        let completion = (try? JSON.parse(body)) ?? .object([:])
        return CompletionAssembler.replayChunks(completion, includeUsage: request.includeUsage)
    }
}

/// `chat.completion.chunk` events: an upstream chunk forwarded as it came (`raw`), else written
/// from the deltas in one envelope for the whole answer; the usage chunk only when the client
/// asked for it (`stream_options.include_usage`); `[DONE]` at the end; an error as the in-band
/// `data: {"error": …}` event with no `[DONE]` after it.
public struct ChatStreamEncoder: InboundStreamEncoder {
    var chunks: ChunkEncoder
    /// Only when the final answer is wanted: the events themselves need no state, and most
    /// streams would otherwise keep a second copy of their whole text.
    var assembler: CompletionAssembler?
    let includeUsage: Bool
    public private(set) var failure: APIError?
    public private(set) var usage: Usage?
    /// The request id `chunks.id` is still to be made from (`AnswerContext.streamIDSource`), until
    /// a chunk written here needs it: a forwarded chunk carries its upstream's own.
    private var idSource: String?

    public init(context: borrowing AnswerContext) {
        var id = context.id
        if id.isEmpty, let source = context.streamIDSource {
            // Made now when the final answer needs it, else once a chunk written here does.
            if context.keepsFinalAnswer {
                id = AnswerContext.streamIDPart(source, prefix: "chatcmpl-")
            } else {
                idSource = source
            }
        }
        chunks = ChunkEncoder(id: id, created: context.created, model: context.model)
        if context.keepsFinalAnswer {
            assembler = CompletionAssembler(id: id, created: context.created, model: context.model)
        }
        includeUsage = context.request.includeUsage
    }

    /// Makes the chunk id before a chunk is written here, if it was left to be made.
    private mutating func makeID() {
        guard let source = idSource else { return }
        chunks.id = AnswerContext.streamIDPart(source, prefix: "chatcmpl-")
        idSource = nil
    }

    public mutating func encode(_ events: [StreamEvent], model: String) -> [UInt8] {
        chunks.model = model
        if assembler != nil {
            for event in events { assembler?.feed(event) }
        }
        // A forwarded batch is written in one buffer of its exact size. The events are read in
        // place and only the parts written are bound (a copy and a destroy of every event, twice,
        // were a third of this encoder's CPU).
        var size = SSE.done.count
        for i in events.indices {
            switch events[i] {
            case .choices(_, let raw?): size += raw.count + 8
            case .usage(_, let raw?) where includeUsage: size += raw.count + 8
            default: break
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(size)
        for i in events.indices {
            switch events[i] {
            case .choices(_, let raw?):
                SSE.append(raw, to: &out)
            case .choices(let deltas, nil):
                makeID()
                out += chunks.encode(deltas)
            case .usage(let u, let raw):
                usage = u
                if includeUsage {
                    if let raw {
                        SSE.append(raw, to: &out)
                    } else {
                        makeID()
                        out += chunks.encodeUsage(u)
                    }
                }
            case .done:
                out += SSE.done
            case .error(let e):
                failure = e.apiError
                out += SSE.error(e.apiError)
            }
        }
        return out
    }

    public mutating func fail(_ error: APIError) -> [UInt8] { SSE.error(error) }

    public var finalBody: [UInt8]? {
        guard failure == nil, let assembler, assembler.sawEnd else { return nil }
        return assembler.completion.serialized()
    }
}
