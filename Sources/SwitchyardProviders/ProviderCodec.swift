public import SwitchyardCore
import Synchronization

extension ProviderKind {
    /// The codec that speaks this wire format.
    public var codec: any ProviderCodec {
        switch self {
        case .openai: OpenAICodec()
        case .anthropic: AnthropicCodec()
        case .gemini: GeminiCodec()
        }
    }
}

/// What a codec needs to know about the target it encodes for and decodes from.
public struct TargetContext: Sendable {
    /// Configured provider name (for messages such as "… is not supported by anthropic").
    public var providerName: String
    /// The upstream model id of the target (`claude-3-5-haiku-latest`).
    public var upstreamModel: String
    /// Anthropic `max_tokens` when the client sent neither `max_completion_tokens` nor `max_tokens`
    /// (docs/translation.md §1, **policy**; default 4096).
    public var defaultMaxTokens: Int
    /// Clamp `temperature` above 1 to 1.0 for Anthropic instead of rejecting it (**policy** switch).
    public var clampTemperature: Bool
    /// Anthropic models that accept `output_config` structured outputs (docs/translation.md §4).
    public var structuredOutputs: Bool
    /// A per-response seed for ids the codec must synthesise deterministically (Gemini tool-call
    /// ids): the same bytes decode to the same ids, different seeds to different ones. The router
    /// gives every upstream call a seed of its own.
    public var idSeed: String
    /// OpenAI targets: whether `/v1/responses` requests go to the provider's own Responses route
    /// (`native`, the default) or are translated to Chat Completions (`chat`).
    public var responsesMode: ResponsesMode
    /// How this target continues a final assistant message (the OpenAI codec writes the
    /// dialect's flags on a request whose `continuesFinalMessage` is set). Default `none`.
    public var continuation: ContinuationMode = .unsupported
    /// The provider's configured extra `headers` (never its credentials): a codec that writes a
    /// header of the same name (which replaces the configured one on the wire) merges them, as
    /// the Anthropic codec does with a native client's `anthropic-beta`.
    public var configuredHeaders: [HeaderField] = []

    public init(
        providerName: String, upstreamModel: String, defaultMaxTokens: Int = 4096, clampTemperature: Bool = false,
        structuredOutputs: Bool = false, idSeed: String = "", responsesMode: ResponsesMode = .native
    ) {
        self.providerName = providerName
        self.upstreamModel = upstreamModel
        self.defaultMaxTokens = defaultMaxTokens
        self.clampTemperature = clampTemperature
        self.structuredOutputs = structuredOutputs
        self.idSeed = idSeed
        self.responsesMode = responsesMode
    }
}

/// An upstream request without credentials: the transport adds the base URL and auth headers.
public struct EncodedRequest: Sendable {
    /// Path appended to the provider's `base_url`, e.g. `/chat/completions`, `/v1/messages`,
    /// `/v1beta/models/gemini-2.0-flash:streamGenerateContent`.
    public var path: String
    /// Query string without `?` (`alt=sse`), or empty.
    public var query: String
    /// Non-secret headers (content type, API version).
    public var headers: [HeaderField]
    public var body: [UInt8]

    public init(path: String, query: String = "", headers: [HeaderField], body: [UInt8]) {
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
    }
}

/// A decoded non-streaming answer. `passthroughBody` is set only by a codec that forwarded the
/// client's body natively (the request's `origin` is the target's own API): the upstream bytes,
/// already in the client's format, to send unchanged.
///
/// A passthrough answer is decoded lazily: the codec checks it and reads its `usage` at once
/// (what every request needs), and the whole `response` is built on first use (by a task step
/// that reads the assistant text, say). The client's answer is `passthroughBody` either way.
public struct DecodedResponse: Sendable {
    private var decoded: LazyResponse
    public var passthroughBody: [UInt8]?
    /// Token usage as the upstream reported it (without decoding the whole answer).
    public var usage: Usage?

    public var response: ChatResponse {
        get { decoded.value }
        set {
            decoded = LazyResponse(newValue)
            usage = newValue.usage
        }
    }

    public init(response: ChatResponse, passthroughBody: [UInt8]? = nil) {
        self.decoded = LazyResponse(response)
        self.passthroughBody = passthroughBody
        self.usage = response.usage
    }

    /// A checked passthrough answer whose `response` is built by `decode` when first read.
    public init(passthroughBody: [UInt8], usage: Usage?, decode: @escaping @Sendable () -> ChatResponse) {
        self.decoded = LazyResponse(decode)
        self.passthroughBody = passthroughBody
        self.usage = usage
    }
}

/// A `ChatResponse` built at most once, on first read (any thread).
final class LazyResponse: Sendable {
    private enum State {
        case ready(ChatResponse)
        case pending(@Sendable () -> ChatResponse)
    }

    private let state: Mutex<State>

    init(_ response: ChatResponse) { state = Mutex(.ready(response)) }
    init(_ decode: @escaping @Sendable () -> ChatResponse) { state = Mutex(.pending(decode)) }

    var value: ChatResponse {
        state.withLock { state in
            switch state {
            case .ready(let r): return r
            case .pending(let decode):
                let r = decode()
                state = .ready(r)
                return r
            }
        }
    }
}

/// One provider's translation between the unified form and its wire format. Pure: no I/O,
/// no clocks (the caller passes `created`), so every case is testable from bytes.
///
/// **Passthrough rule.** A codec may forward `request.raw` and hand back upstream bytes as
/// `passthroughBody` or stream events with `raw` set only when `request.origin` is the API the
/// target speaks natively; for any other origin it translates from the typed fields, and first
/// rejects `request.untranslatable` (`ChatRequest.untranslatableError`).
public protocol ProviderCodec: Sendable {
    var kind: ProviderKind { get }

    /// Headers that carry the provider key (`Authorization`, `x-api-key`, `x-goog-api-key`).
    func authHeaders(apiKey: String) -> [HeaderField]

    /// Validates what this provider cannot honour (400 naming the parameter) and encodes.
    func encode(_ request: ChatRequest, for target: TargetContext) throws(APIError) -> EncodedRequest

    /// Decodes a 2xx non-streaming body. `id` and `created` form the response envelope.
    func decodeResponse(
        _ body: [UInt8], request: ChatRequest, target: TargetContext, id: String, created: Int
    ) throws(ProviderError) -> DecodedResponse

    /// Decodes a non-2xx answer into facts (docs/translation.md §8).
    func decodeError(status: Int, headers: [HeaderField], body: [UInt8]) -> ProviderError

    /// A fresh decoder for one streamed response.
    func makeStreamDecoder(request: ChatRequest, target: TargetContext) -> any StreamDecoder

    /// Path and query of the provider's free model-listing endpoint (health checks).
    var healthPath: String { get }

    /// Whether decoding makes up ids from `TargetContext.idSeed` (Gemini's tool calls, which
    /// carry none): the router gives each call of such a codec a seed of its own. Default false.
    var synthesizesIDs: Bool { get }

    /// The path, query and headers of the requests this codec sends most (a chat request's) to a
    /// target whose upstream model is `model`, streamed or not, when it has such: a target joins
    /// them with its base URL and its own headers once, and an attempt whose `EncodedRequest`
    /// carries exactly these reuses both instead of building a URL string and a header list of
    /// its own. Default nil (every attempt builds them).
    func usualRequest(model: String, stream: Bool) -> UsualRequest?
}

/// A codec's usual request (`ProviderCodec.usualRequest(model:stream:)`): what `encode` puts in
/// an `EncodedRequest`'s `path`, `query` and `headers` for most requests.
public struct UsualRequest: Sendable, Equatable {
    public var path: String
    /// Without `?`, or empty.
    public var query: String
    public var headers: [HeaderField]

    public init(path: String, query: String = "", headers: [HeaderField]) {
        self.path = path
        self.query = query
        self.headers = headers
    }
}

extension ProviderCodec {
    public var synthesizesIDs: Bool { false }
    public func usualRequest(model: String, stream: Bool) -> UsualRequest? { nil }
}

/// Turns an upstream SSE body into unified stream events.
///
/// Feeding the same bytes in any split gives the same events (tested byte by byte).
/// Decoders never decide that a stream failed: the router judges completion from
/// `isComplete` (a finish reason was seen for every choice) when the body ends.
public protocol StreamDecoder: Sendable {
    mutating func feed(_ bytes: [UInt8]) -> [StreamEvent]
    /// The body ended: flush what is pending (the finish chunk when a finish reason was seen
    /// but the end marker never came, then `.usage` when known).
    mutating func finish() -> [StreamEvent]
    /// A finish reason was seen for every choice.
    var isComplete: Bool { get }
    /// Events skipped because they could not be parsed (logged and counted by the caller).
    var malformedEvents: Int { get }
    /// An event was larger than the decoder will hold; nothing after it is decoded.
    var overflowed: Bool { get }
}

extension StreamDecoder {
    public var overflowed: Bool { false }
}

/// A `StreamDecoder` that reads server-sent events: `feed` and `finish` run its parser and hand
/// every message to `decode(_:into:)`; at the end of the body `end(into:)` flushes what the
/// decoder still holds. Each provider's decoder only says what one message means.
public protocol SSEStreamDecoder: StreamDecoder {
    /// The SSE parser's state between chunks.
    var sse: SSEParser { get set }
    /// What one message adds to the stream.
    mutating func decode(_ message: SSEMessage, into out: inout [StreamEvent])
    /// After the body's last message (default: nothing).
    mutating func end(into out: inout [StreamEvent])
}

extension SSEStreamDecoder {
    public mutating func feed(_ bytes: [UInt8]) -> [StreamEvent] {
        var out: [StreamEvent] = []
        // Room for the events a read of this size likely holds (an event is rarely under 128
        // bytes): growing the list from empty took three or four allocations per read.
        out.reserveCapacity(min(bytes.count / 128 + 1, 64))
        // Each message is decoded as the parser completes it (no list of messages). The parser
        // is moved out while it runs, so `decode` may change `self`; a fresh one holds its place
        // (no allocation), and the moved one's buffers stay uniquely owned.
        var parser = sse
        sse = SSEParser()
        parser.feed(bytes) { decode($0, into: &out) }
        sse = parser
        return out
    }

    public mutating func finish() -> [StreamEvent] {
        var out: [StreamEvent] = []
        for message in sse.finish() { decode(message, into: &out) }
        end(into: &out)
        return out
    }

    public mutating func end(into out: inout [StreamEvent]) {}

    public var overflowed: Bool { sse.overflowed }
}

extension SSEMessage {
    /// The data as a JSON object; nil for anything else (a malformed event).
    public var jsonObject: JSONObject? {
        guard case .object(let o)? = json else { return nil }
        return o
    }

    /// The data as JSON; nil when it is not. Parsed from the bytes in place (through `data`, a
    /// `String` and a copy of its bytes, were two allocations per event); data that is not valid
    /// UTF-8 is parsed as before, from the repaired `data`, so such an event reads as it did.
    public var json: JSON? {
        if let value = try? JSON.parse(bytes) { return value }
        return try? JSON.parse(data)
    }

    /// OpenAI's end-of-stream marker, `data: [DONE]`.
    public var isDone: Bool { data == "[DONE]" }
}

extension ChatMessage {
    /// The text of a message that the direct encoders write (`plainBody()` of the Anthropic and
    /// Gemini request encoders): no tool calls, and a string content or none ("" then). nil for any
    /// other message, which only the tree encodes.
    var plainText: String? {
        guard toolCalls.isEmpty else { return nil }
        switch content {
        case nil: return ""
        case .text(let s)?: return s
        case .parts?: return nil
        }
    }
}
