import SwitchyardCore
import Synchronization

/// The upstream of the `http` target: answers each call from the next script of the input (the
/// last one repeats), or, with no scripts, with a short valid answer in the wire format the call
/// was encoded for. No sockets, no waiting.
///
/// A script: a byte picking the outcome (0 connect failure, 1 first-byte timeout, else a status
/// from `statuses`), a byte picking how a streamed body is delivered (chunk size from the low 6
/// bits; with the high bit set the connection breaks after the body), one header line
/// `name: value` (may be empty), then the body.
final class ScriptedUpstream: Upstream {
    static let statuses = [200, 200, 200, 200, 400, 401, 403, 404, 408, 413, 422, 429, 500, 502, 503, 529]
    static let unused = ScriptedUpstream(scripts: [])

    struct Script {
        var outcome: UInt8
        var delivery: UInt8
        var headers: [HeaderField]
        var body: [UInt8]

        init(_ bytes: [UInt8]) {
            var input = FuzzInput(bytes)
            outcome = input.byte()
            delivery = input.byte()
            let line = String(decoding: input.take(until: 0x0A), as: UTF8.self)
            if let colon = line.firstIndex(of: ":") {
                headers = [HeaderField(String(line[..<colon]), String(line[line.index(after: colon)...]).trimmed)]
            } else {
                headers = []
            }
            body = input.rest
        }
    }

    let scripts: [Script]
    let calls = Mutex(0)

    init(scripts: [[UInt8]]) { self.scripts = scripts.map(Script.init) }

    /// The script for the next call, or nil for the canned answer.
    func nextScript() -> Script? {
        let n = calls.withLock { n in
            defer { n += 1 }
            return n
        }
        return scripts.isEmpty ? nil : scripts[min(n, scripts.count - 1)]
    }

    func perform(_ request: UpstreamRequest) async throws(UpstreamFailure) -> UpstreamResponse {
        guard let script = nextScript() else {
            let kind = CannedAnswer.kind(of: request)
            return UpstreamResponse(
                head: UpstreamHead(status: 200, headers: CannedAnswer.headers(streaming: false)),
                body: Array(CannedAnswer.body(kind).utf8))
        }
        let status = try Self.status(script)
        if script.outcome == 2 { throw .transport("the connection broke") }
        return UpstreamResponse(head: UpstreamHead(status: status, headers: script.headers), body: script.body)
    }

    func stream(_ request: UpstreamRequest) async throws(UpstreamFailure) -> UpstreamStreamingResponse {
        guard let script = nextScript() else {
            let kind = CannedAnswer.kind(of: request)
            return UpstreamStreamingResponse(
                head: UpstreamHead(status: 200, headers: CannedAnswer.headers(streaming: true)),
                body: Self.body(Array(CannedAnswer.stream(kind).utf8), chunk: 64, breaks: false))
        }
        let status = try Self.status(script)
        return UpstreamStreamingResponse(
            head: UpstreamHead(status: status, headers: script.headers),
            body: Self.body(script.body, chunk: 1 + Int(script.delivery & 0x3F), breaks: script.delivery & 0x80 != 0))
    }

    static func status(_ script: Script) throws(UpstreamFailure) -> Int {
        switch script.outcome {
        case 0: throw .connect("connection refused")
        case 1: throw .timeout(.firstByte)
        default: return statuses[Int(script.outcome) % statuses.count]
        }
    }

    static func body(_ bytes: [UInt8], chunk: Int, breaks: Bool) -> UpstreamBodyStream {
        let (stream, continuation) = AsyncThrowingStream<[UInt8], any Error>.makeStream()
        for piece in FuzzSplit.chunks(bytes, size: chunk) where !piece.isEmpty { continuation.yield(piece) }
        continuation.finish(throwing: breaks ? UpstreamFailure.transport("the connection broke") : nil)
        return UpstreamBodyStream(stream)
    }
}

/// Short valid answers in each wire format (shaped like the golden fixtures).
enum CannedAnswer {
    enum Kind { case openai, anthropic, gemini }

    /// The wire format a call was encoded for, from the host of its provider's `base_url`.
    static func kind(of request: UpstreamRequest) -> Kind {
        if request.url.contains("anthropic.fuzz") { return .anthropic }
        if request.url.contains("gemini.fuzz") { return .gemini }
        return .openai
    }

    static func headers(streaming: Bool) -> [HeaderField] {
        [HeaderField("content-type", streaming ? "text/event-stream" : "application/json")]
    }

    static func body(_ kind: Kind) -> String {
        switch kind {
        case .openai:
            #"{"id":"chatcmpl-1","object":"chat.completion","created":1750000000,"model":"gpt-4o-mini","#
                + #""choices":[{"index":0,"message":{"role":"assistant","content":"Hello"},"finish_reason":"stop"}],"#
                + #""usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}"#
        case .anthropic:
            #"{"id":"msg_1","type":"message","role":"assistant","model":"claude-3-5-haiku-latest","#
                + #""content":[{"type":"text","text":"Hello"}],"stop_reason":"end_turn","stop_sequence":null,"#
                + #""usage":{"input_tokens":5,"output_tokens":1}}"#
        case .gemini:
            #"{"candidates":[{"content":{"role":"model","parts":[{"text":"Hello"}]},"finishReason":"STOP","index":0}],"#
                + #""usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":1,"totalTokenCount":6},"#
                + #""modelVersion":"gemini-2.0-flash"}"#
        }
    }

    static func stream(_ kind: Kind) -> String {
        switch kind {
        case .openai:
            #"data: {"id":"c1","object":"chat.completion.chunk","created":1750000000,"model":"gpt-4o-mini","#
                + #""choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},"finish_reason":null}]}"#
                + "\n\n"
                + #"data: {"id":"c1","object":"chat.completion.chunk","created":1750000000,"model":"gpt-4o-mini","#
                + #""choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}"# + "\n\n"
                + #"data: {"id":"c1","object":"chat.completion.chunk","created":1750000000,"model":"gpt-4o-mini","#
                + #""choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}"# + "\n\n"
                + "data: [DONE]\n\n"
        case .anthropic:
            "event: message_start\n"
                + #"data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","#
                + #""model":"claude-3-5-haiku-latest","content":[],"stop_reason":null,"usage":{"input_tokens":5,"output_tokens":1}}}"#
                + "\n\nevent: content_block_start\n"
                + #"data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#
                + "\n\nevent: content_block_delta\n"
                + #"data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}"#
                + "\n\nevent: content_block_stop\n"
                + #"data: {"type":"content_block_stop","index":0}"#
                + "\n\nevent: message_delta\n"
                + #"data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}"#
                + "\n\nevent: message_stop\n"
                + #"data: {"type":"message_stop"}"# + "\n\n"
        case .gemini:
            #"data: {"candidates":[{"content":{"role":"model","parts":[{"text":"Hel"}]}}],"modelVersion":"gemini-2.0-flash"}"#
                + "\n\n"
                + #"data: {"candidates":[{"content":{"role":"model","parts":[{"text":"lo"}]},"finishReason":"STOP"}],"#
                + #""usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":2,"totalTokenCount":7}}"# + "\n\n"
        }
    }
}

extension String {
    /// Without leading and trailing spaces and tabs.
    var trimmed: String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}
