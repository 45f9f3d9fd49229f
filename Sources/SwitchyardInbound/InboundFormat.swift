public import SwitchyardCore

/// What one client-facing API needs from the gateway's shared request path, as pure functions:
/// parse the client's body into the unified request, write the unified answer, stream and error
/// in that API's shape. The gateway routes every API through the same router; a new inbound API
/// is a new conformance (plus its route), never a second request path.
///
/// Passthrough: when the codec forwarded the client's body natively (the target speaks `api`),
/// the answer arrives as `passthrough` bytes, and stream events carry `raw` upstream events:
/// both are already in this API's shape and go out as they came.
///
/// Adding an API: a case of `InboundAPI`; a conformance here (parse into `ChatRequest` with
/// `origin` set and `raw` kept, record native-only fields in `untranslatable`); its routes in the
/// gateway's endpoint table (`Endpoints.all`, which also gives its 401, 404 and 405 this shape);
/// in the codec of the provider that speaks it natively, forward `raw` when `request.origin` is
/// that API. Other codecs already translate from the typed fields (the OpenAI codec with
/// `OpenAIChatEncoder` for every origin but its own two). An API whose errors, ids or headers
/// differ from OpenAI's says so through the requirements with defaults below (`errorStatus`,
/// `answerID`, `responseHeaders`, `forwardedHeaderNames`); the edge's own error pages follow the
/// API of the path (`Gateway.errorFormat(path:)`).
public protocol InboundFormat: Sendable {
    var api: InboundAPI { get }

    /// Parses and validates a client body; errors name the offending field in `param`.
    func parseRequest(_ body: [UInt8]) throws(APIError) -> ChatRequest

    /// The body of a non-streaming answer.
    func encodeResponse(_ response: ChatResponse, passthrough: [UInt8]?, context: AnswerContext) -> [UInt8]

    /// The body of a translated non-streaming answer when this API writes it from the unified
    /// response alone (Chat Completions), the same bytes as `encodeResponse` with any context:
    /// the gateway then builds no `AnswerContext` (an id string, a clock read, a copy of the
    /// request). Default nil (the gateway calls `encodeResponse`).
    func encodeResponse(_ response: ChatResponse) -> [UInt8]?

    /// A fresh encoder for one streamed answer.
    func makeStreamEncoder(context: AnswerContext) -> any InboundStreamEncoder

    /// An error body in this API's shape (the status and headers come from the `APIError`).
    func encodeError(_ error: APIError) -> [UInt8]

    /// The same for an answer whose request id is known, for APIs whose error bodies carry it
    /// (Anthropic's `request_id`). Default `encodeError(_:)`.
    func encodeError(_ error: APIError, requestID: String) -> [UInt8]

    /// A stored final answer (`InboundStreamEncoder.finalBody`) re-emitted as this API's stream,
    /// for an idempotent replay.
    func replayStream(_ body: [UInt8], request: ChatRequest) -> [UInt8]

    /// The id of a translated answer (`msg_…`); nil keeps the gateway's `chatcmpl-…` form.
    func answerID(requestID: String) -> String?

    /// Headers every answer and error of this API carries besides the gateway's own
    /// (Anthropic's `request-id`). Default none.
    func responseHeaders(requestID: String) -> [(String, String)]

    /// The status an error goes out with: the error's own unless this API names the same failure
    /// with another (Anthropic's 529 for an overloaded upstream).
    func errorStatus(_ error: APIError) -> Int

    /// Lower-case names of request headers handed to a target speaking this API natively
    /// (`ChatRequest.nativeHeaders`). Default none.
    var forwardedHeaderNames: [String] { get }
}

extension InboundFormat {
    public func encodeError(_ error: APIError, requestID: String) -> [UInt8] { encodeError(error) }
    public func encodeResponse(_ response: ChatResponse) -> [UInt8]? { nil }
    public func answerID(requestID: String) -> String? { nil }
    public func responseHeaders(requestID: String) -> [(String, String)] { [] }
    public func errorStatus(_ error: APIError) -> Int { error.status }
    public var forwardedHeaderNames: [String] { [] }
}

/// The facts an answer is written with.
public struct AnswerContext: Sendable {
    /// The request as routed (after any gateway-side expansion).
    public var request: ChatRequest
    /// The client's body as it arrived, for APIs whose answer echoes request parameters.
    public var clientBody: JSONObject
    /// The answer's id as the gateway assigned it (`chatcmpl-…`, `resp_…`); a passthrough answer
    /// keeps the upstream's own. Empty when a Chat Completions stream makes it later
    /// (`streamIDSource`).
    public var id: String
    /// The request id a Chat Completions stream's `chatcmpl-` id is made from when `id` is empty,
    /// once a chunk written by the gateway needs it: a stream that forwards its upstream's chunks
    /// never writes an id of its own, and building it was 1% of a short streamed answer's CPU
    /// (`switchyard-bench gateway --sse`).
    public var streamIDSource: String?
    /// Unix seconds.
    public var created: Int
    /// The upstream model id of the target that answered (first target of a stream).
    public var model: String
    /// The caller will read `InboundStreamEncoder.finalBody` (an idempotency record, a stored
    /// conversation); an encoder that does not need the whole answer for its own events may then
    /// skip assembling it.
    public var keepsFinalAnswer: Bool

    public init(
        request: ChatRequest, clientBody: JSONObject? = nil, id: String, created: Int, model: String,
        keepsFinalAnswer: Bool = true
    ) {
        self.request = request
        self.clientBody = clientBody ?? request.raw
        self.id = id
        self.created = created
        self.model = model
        self.keepsFinalAnswer = keepsFinalAnswer
    }

    /// `prefix` and the request id's letters and digits, for a stream's `chatcmpl-` id. An ASCII id
    /// (a generated `req_` one, or most clients') is filtered byte by byte, where an ASCII character
    /// is a letter or a number exactly when it is A-Z, a-z or 0-9; the Unicode properties
    /// `Character.isLetter` reads cost 0.6% of a streamed answer's CPU (perf, c=16). The id is
    /// written into one string of its size (a filtered list, its string and the joined one were
    /// three allocations per stream), from the two strings' UTF-8 buffers (iterating their UTF-8
    /// views cost 2.5 times as much, perf of `switchyard-bench gateway --sse`).
    public static func streamIDPart(_ requestID: String, prefix: String = "") -> String {
        var source = requestID
        var head = prefix
        return source.withUTF8 { id in
            guard id.allSatisfy({ $0 < 0x80 }) else { return prefix + requestID.filter { $0.isLetter || $0.isNumber } }
            return head.withUTF8 { head in
                String(unsafeUninitializedCapacity: head.count + id.count) { out in
                    var n = out.initialize(fromContentsOf: head)
                    for byte in id
                    where (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) {
                        out[n] = byte
                        n += 1
                    }
                    return n
                }
            }
        }
    }
}

/// Turns a routed stream into one API's server-sent events. Pure: events in, bytes out.
public protocol InboundStreamEncoder: Sendable {
    /// Bytes for a batch of routed events. `model` names the target whose events these are
    /// (it changes after a mid-stream continuation).
    mutating func encode(_ events: [StreamEvent], model: String) -> [UInt8]

    /// The in-band error that ends a stream that failed after its first event.
    mutating func fail(_ error: APIError) -> [UInt8]

    /// Set once an upstream error event was encoded (the stream is over, with this error).
    var failure: APIError? { get }

    /// The whole answer in this API's non-streaming shape once the stream ended normally; nil
    /// before that, after a failure, and when the context did not ask for it
    /// (`AnswerContext.keepsFinalAnswer`). Stored for idempotent replays and stored conversations.
    var finalBody: [UInt8]? { get }

    /// Token usage the stream reported (the last usage event).
    var usage: Usage? { get }
}
