import Logging
import SwitchyardCore
import SwitchyardEdge
import SwitchyardGateway
import SwitchyardProviders
import Synchronization

/// The gateway's request handling in process: what the edge hands it (method, raw target split
/// at `?`, lowercased header names, whole body) goes to `Gateway.handle` with a recording
/// responder, in front of a `ScriptedUpstream`. A fresh gateway per input keeps runs
/// reproducible (breakers, retry budget).
///
/// Input: a request line `METHOD TARGET`, header lines `name: value`, a blank line, the body;
/// then, after a NUL byte, the upstream scripts, separated by NUL bytes.
/// What must hold: every request gets exactly one answer with a status the SDKs understand; a
/// JSON answer parses, and an error answer is OpenAI's envelope (Anthropic's under
/// `/v1/messages`); a Chat Completions stream is `data:` events of JSON objects that ends with
/// `[DONE]` or with one error event, a Responses or Messages stream typed events ending with one
/// final event, and nothing after any of them; every log line is a JSON object.
enum HTTPFuzz {
    static let clientKey = "fuzz-client-key"
    static let environment = [
        "FUZZ_CLIENT_KEY": clientKey, "FUZZ_OPENAI_KEY": "sk-fuzz-openai", "FUZZ_ANTHROPIC_KEY": "sk-ant-fuzz",
        "FUZZ_GEMINI_KEY": "fuzz-gemini-key",
    ]

    static let configYAML = """
        auth:
          keys:
            - {name: app, key_env: FUZZ_CLIENT_KEY}
        providers:
          - {name: openai, kind: openai, base_url: "http://openai.fuzz/v1", api_key_env: FUZZ_OPENAI_KEY}
          - {name: anthropic, kind: anthropic, base_url: "http://anthropic.fuzz", api_key_env: FUZZ_ANTHROPIC_KEY}
          - {name: gemini, kind: gemini, base_url: "http://gemini.fuzz", api_key_env: FUZZ_GEMINI_KEY}
        models:
          - {name: gpt, targets: [{provider: openai, model: gpt-4o-mini}]}
          - {name: claude, targets: [{provider: anthropic, model: claude-3-5-haiku-latest}]}
          - {name: gem, targets: [{provider: gemini, model: gemini-2.0-flash}]}
          - name: smart
            targets:
              - {provider: openai, model: gpt-4o-mini, priority: 1}
              - {provider: anthropic, model: claude-3-5-haiku-latest, priority: 2}
              - {provider: gemini, model: gemini-2.0-flash, priority: 3}
          - name: buffered
            stream_mode: buffered
            targets:
              - {provider: anthropic, model: claude-3-5-haiku-latest, priority: 1}
              - {provider: gemini, model: gemini-2.0-flash, priority: 2}
        routes:
          - {prefix: "gpt-", provider: openai}
          - {prefix: "claude-", provider: anthropic}
          - {prefix: "gemini-", provider: gemini}
        retry: {attempts_per_target: 2, initial_backoff_ms: 1, max_backoff_ms: 2}
        """

    static let config: SwitchyardConfig = {
        do {
            return try ConfigLoader.parse(yaml: configYAML)
        } catch {
            fatalError("the http target's configuration is invalid: \(error)")
        }
    }()

    static func run(_ bytes: [UInt8]) async throws(FuzzFailure) {
        var input = FuzzInput(bytes)
        let request = parseRequest(input.take(until: 0))
        var scripts: [[UInt8]] = []
        while !input.bytes.isEmpty { scripts.append(input.take(until: 0)) }

        let logs = LogSink(capture: true)
        var logger = Logger(label: "fuzz") { JSONLogHandler(label: $0, sink: logs) }
        logger.logLevel = .debug
        let gateway: Gateway
        do {
            gateway = try Gateway.inProcess(
                config: config, environment: environment, upstream: ScriptedUpstream(scripts: scripts),
                logger: logger, sleep: { _ in })
        } catch {
            fatalError("the http target's gateway cannot be built: \(error)")
        }
        let sink = RecordingSink()
        await gateway.handle(request, responder: HTTPResponder(sink: sink))
        try checkAnswer(sink.answer, request: request)
        for line in logs.captured.split(separator: "\n") {
            _ = try JSONFuzz.checkParses(Array(line.utf8), "a log line")
        }
    }

    /// The request as the edge would hand it over (names lowercased, values trimmed, header
    /// lines with control bytes left out as MHD refuses them).
    static func parseRequest(_ bytes: [UInt8]) -> HTTPRequest {
        var input = FuzzInput(bytes)
        let line = String(decoding: input.take(until: 0x0A), as: UTF8.self)
        let parts = line.split(separator: " ", maxSplits: 1)
        let method = parts.first.map(String.init) ?? "GET"
        let target = parts.count > 1 ? String(parts[1]) : "/"
        var headers = HTTPHeaders()
        while !input.bytes.isEmpty {
            let field = input.take(until: 0x0A)
            if field.isEmpty { break }
            let text = String(decoding: field, as: UTF8.self)
            guard let colon = text.firstIndex(of: ":"), text.utf8.allSatisfy({ $0 >= 0x20 || $0 == 0x09 }) else {
                continue
            }
            headers.add(text[..<colon].lowercased(), String(text[text.index(after: colon)...]).trimmed)
        }
        let (path, query) =
            if let mark = target.firstIndex(of: "?") {
                (String(target[..<mark]), String(target[target.index(after: mark)...]))
            } else {
                (target, "")
            }
        return HTTPRequest(method: method, path: path, query: query, headers: headers, body: input.rest)
    }

    static func checkAnswer(_ answer: RecordingSink.Answer?, request: HTTPRequest) throws(FuzzFailure) {
        guard let answer else { throw FuzzFailure("\(request.method) \(request.path) got no answer") }
        let what = "the answer to \(request.method) \(request.path)"
        try check((200...599).contains(answer.status), "\(what) has status \(answer.status)")
        let contentType = answer.headers["content-type"] ?? ""
        if answer.streamed {
            try check(answer.status == 200, "\(what) streams with status \(answer.status)")
            try check(contentType.hasPrefix("text/event-stream"), "\(what) streams as \(contentType)")
            if request.path == "/v1/responses" {
                try checkResponsesStream(answer.body, what)
            } else if isMessagesPath(request.path) {
                try checkMessagesStream(answer.body, what)
            } else {
                try checkStream(answer.body, what)
            }
            return
        }
        guard contentType.hasPrefix("application/json") else { return }
        let json = try JSONFuzz.checkParses(answer.body, what)
        if answer.status >= 400, isMessagesPath(request.path) {
            try checkAnthropicEnvelope(answer.body, what)
        } else if answer.status >= 400 {
            try RequestFuzz.checkEnvelope(answer.body, what)
        } else if request.path == "/v1/messages" {
            try check(
                json["type"]?.stringValue == "message" && json["content"]?.arrayValue != nil,
                "\(what) is not a message with content")
        } else if request.path == "/v1/messages/count_tokens" {
            try check(json["input_tokens"]?.intValue != nil, "\(what) has no input_tokens")
        } else if request.path == "/v1/chat/completions" {
            try check(json["choices"]?.arrayValue != nil, "\(what) has no choices")
        } else if request.path == "/v1/responses" {
            try check(json["output"]?.arrayValue != nil, "\(what) has no output")
        }
    }

    /// The Responses API's stream: `event: TYPE` + `data:` a JSON object of that `type`, ending
    /// with one `response.completed`, `response.incomplete`, `response.failed` or `error` event
    /// and nothing after it.
    static func checkResponsesStream(_ body: [UInt8], _ what: String) throws(FuzzFailure) {
        try checkTypedStream(
            body, what, endingWith: ["response.completed", "response.incomplete", "response.failed", "error"],
            "a final response event")
    }

    /// A stream of typed events (`event: TYPE` + `data:` a JSON object whose `type` is TYPE) that
    /// ends with one event of `final` and has nothing after it; `each` checks every event further.
    static func checkTypedStream(
        _ body: [UInt8], _ what: String, endingWith final: Set<String>, _ finalName: String,
        each: (String, String) throws(FuzzFailure) -> Void = { _, _ throws(FuzzFailure) in }
    ) throws(FuzzFailure) {
        var parser = SSEParser()
        let events = parser.feed(body) + parser.finish()
        var ended: String?
        for event in events {
            if let ended { throw FuzzFailure("\(what) has an event after \(ended)") }
            let json = try JSONFuzz.checkParses(Array(event.data.utf8), "an event of \(what)")
            let type = json["type"]?.stringValue
            try check(
                type != nil && type == event.event,
                "an event of \(what) has type \(type ?? "nil") as \(event.event ?? "nil")")
            if let type {
                try each(type, event.data)
                if final.contains(type) { ended = type }
            }
        }
        try check(ended != nil, "\(what) ends without \(finalName)")
    }

    /// Anthropic's Messages API answers everything under `/v1/messages` in its own shape.
    static func isMessagesPath(_ path: String) -> Bool {
        path == "/v1/messages" || path.hasPrefix("/v1/messages/")
    }

    /// Anthropic's error body: `{"type": "error", "error": {"type": ..., "message": ...}}`.
    static func checkAnthropicEnvelope(_ body: [UInt8], _ what: String) throws(FuzzFailure) {
        let json = try JSONFuzz.checkParses(body, "the error body of \(what)")
        try check(
            json["type"]?.stringValue == "error" && json["error"]?["message"]?.stringValue != nil
                && json["error"]?["type"]?.stringValue != nil,
            "the error body of \(what) is not Anthropic's envelope")
    }

    /// The Messages API's stream: `event: TYPE` + `data:` a JSON object of that `type`, ending
    /// with one `message_stop` or `error` event and nothing after it.
    static func checkMessagesStream(_ body: [UInt8], _ what: String) throws(FuzzFailure) {
        try checkTypedStream(body, what, endingWith: ["message_stop", "error"], "message_stop or an error event") {
            type, data throws(FuzzFailure) in
            if type == "error" { try checkAnthropicEnvelope(Array(data.utf8), "the in-band error of \(what)") }
        }
    }

    /// `data:` events of JSON objects ending in `[DONE]` or one error event (never silently
    /// truncated); comments allowed.
    static func checkStream(_ body: [UInt8], _ what: String) throws(FuzzFailure) {
        var parser = SSEParser()
        let events = parser.feed(body) + parser.finish()
        var ended: String?
        for event in events {
            if let ended { throw FuzzFailure("\(what) has an event after \(ended)") }
            if event.data == "[DONE]" {
                ended = "[DONE]"
                continue
            }
            let json = try JSONFuzz.checkParses(Array(event.data.utf8), "an event of \(what)")
            try check(json.objectValue != nil, "an event of \(what) is not an object")
            if json["error"] != nil {
                try RequestFuzz.checkEnvelope(Array(event.data.utf8), "the in-band error of \(what)")
                ended = "an error event"
            }
        }
        try check(ended != nil, "\(what) ends without [DONE] or an error event")
    }
}

/// Records what a handler answers, with the edge's rules: the first answer wins; stream writes
/// count until the stream is finished.
final class RecordingSink: HTTPResponseSink {
    struct Answer {
        var status: Int
        var headers: HTTPHeaders
        var body: [UInt8]
        var streamed: Bool
        var finished = false
    }

    private let state = Mutex<Answer?>(nil)

    var answer: Answer? { state.withLock { $0 } }

    func respond(status: Int, headers: HTTPHeaders, body: [UInt8]) {
        state.withLock { answer in
            if answer == nil { answer = Answer(status: status, headers: headers, body: body, streamed: false) }
        }
    }

    func startStream(status: Int, headers: HTTPHeaders) -> Bool {
        state.withLock { answer in
            guard answer == nil else { return false }
            answer = Answer(status: status, headers: headers, body: [], streamed: true)
            return true
        }
    }

    func write(_ bytes: [UInt8]) -> Bool {
        state.withLock { answer in
            guard answer?.streamed == true, answer?.finished == false else { return false }
            answer?.body += bytes
            return true
        }
    }

    func finish() {
        state.withLock { $0?.finished = true }
    }

    var isClientGone: Bool { false }
}
