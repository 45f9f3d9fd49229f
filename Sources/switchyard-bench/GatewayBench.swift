import ArgumentParser
import Glibc
import Logging
import SwitchyardCore
import SwitchyardEdge
import SwitchyardGateway
import Synchronization

/// `switchyard-bench gateway`: the CPU cost of the gateway's own work for one non-streaming
/// OpenAI request (or, with `--provider`, one translated to Anthropic or Gemini), in process: what `Gateway.handle` does between the edge handing it the
/// request and the answer (client key check, request id, parse, route, encode, the upstream's
/// answer checked, metrics, the access-log line), with an upstream that answers at once with
/// `cpu-per-request`'s canned bytes. No sockets, no libcurl, no libmicrohttpd, and the process's
/// CPU time rather than wall time: on a shared machine the best round of this moves far less
/// than a whole proxied request's CPU time, so it is the figure to compare two builds of that
/// path with.
struct GatewayBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "The gateway's own CPU per non-streaming OpenAI request (in process, no I/O).")

    @Option(help: "Requests per round (after a warm-up round).")
    var iterations = 50_000

    @Option(help: "Rounds; the best one is the path's own cost.")
    var rounds = 7

    @Flag(help: "Write the access-log line of every request (to a discarding sink), as the default level does.")
    var accessLog = false

    @Flag(help: "Streamed requests: the upstream answers with cpu-per-request's 6 events and [DONE] in one read.")
    var sse = false

    @Flag(help: "Each request on a task of its own, as the edge runs it (a new task mallocs its frames' slabs).")
    var taskPerRequest = false

    @Option(
        help:
            "The upstream's wire format: openai (the passthrough), or anthropic / gemini (the request and answer translated; non-streaming only), answering with `codec`'s canned bytes."
    )
    var provider: ProviderKind = .openai

    static let configYAML = """
        auth: {keys: [{name: bench, key_env: BENCH_CLIENT_KEY}]}
        providers: [{name: openai, kind: openai, base_url: "http://openai.bench/v1", api_key_env: BENCH_OPENAI_KEY}]
        models: [{name: gpt-4o-mini, targets: [{provider: openai, model: gpt-4o-mini, priority: 1}]}]
        health_check_ms: 0
        """

    static let answer = Array(
        #"{"id":"chatcmpl-bench0001","object":"chat.completion","created":1732550400,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_bench","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":14,"completion_tokens":9,"total_tokens":23}}"#
            .utf8)

    /// `cpu-per-request --sse`'s canned stream: six chunks and `[DONE]`.
    static let events: [UInt8] = {
        func event(_ delta: String, _ finish: String) -> String {
            #"data: {"id":"chatcmpl-bench0001","object":"chat.completion.chunk","created":1732550400,"#
                + #""model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_bench","choices":[{"index":0,"#
                + #""delta":\#(delta),"logprobs":null,"finish_reason":\#(finish)}]}"# + "\n\n"
        }
        let deltas = [
            #"{"role":"assistant","content":"","refusal":null}"#, #"{"content":"Hello!"}"#,
            #"{"content":" How can I"}"#, #"{"content":" help you"}"#, #"{"content":" today?"}"#,
        ]
        let text = deltas.map { event($0, "null") }.joined() + event("{}", #""stop""#) + "data: [DONE]\n\n"
        return Array(text.utf8)
    }()

    static let streamRequest = HTTPRequest(
        method: "POST", path: "/v1/chat/completions",
        headers: HTTPHeaders([
            ("host", "127.0.0.1:4000"), ("content-type", "application/json"), ("authorization", "Bearer sk-bench"),
            ("content-length", "87"),
        ]),
        body: Array(#"{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hello"}]}"#.utf8))

    static let request = HTTPRequest(
        method: "POST", path: "/v1/chat/completions",
        headers: HTTPHeaders([
            ("host", "127.0.0.1:4000"), ("content-type", "application/json"), ("authorization", "Bearer sk-bench"),
            ("content-length", "73"),
        ]),
        body: Array(#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}"#.utf8))

    /// The same model routed to a translated target: the `codec` bench's upstream model and answer.
    static func translatedConfigYAML(_ kind: ProviderKind) -> String {
        let baseURL = "http://\(kind.rawValue).bench"
        return """
            auth: {keys: [{name: bench, key_env: BENCH_CLIENT_KEY}]}
            providers: [{name: \(kind.rawValue), kind: \(kind.rawValue), base_url: "\(baseURL)", api_key_env: BENCH_OPENAI_KEY}]
            models: [{name: gpt-4o-mini, targets: [{provider: \(kind.rawValue), model: \(CodecBench.models[kind]!), priority: 1}]}]
            health_check_ms: 0
            """
    }

    func validate() throws {
        guard iterations >= 1, rounds >= 1 else {
            throw ValidationError("--iterations and --rounds must be at least 1")
        }
        guard provider == .openai || !sse else {
            throw ValidationError("--sse measures the OpenAI passthrough stream only")
        }
    }

    func run() async throws {
        let translated = provider != .openai
        let config = try ConfigLoader.parse(yaml: translated ? Self.translatedConfigYAML(provider) : Self.configYAML)
        var logger = Logger(label: "bench") { JSONLogHandler(label: $0, sink: .discarding()) }
        logger.logLevel = accessLog ? .info : .error
        let gateway = try Gateway.inProcess(
            config: config, environment: ["BENCH_CLIENT_KEY": "sk-bench", "BENCH_OPENAI_KEY": "sk-upstream"],
            upstream: CannedUpstream(
                body: translated ? Array(CodecBench.answers[provider]!.utf8) : Self.answer, events: Self.events),
            logger: logger, sleep: { _ in })
        let sink = CountingSink()
        var perRequest: [Duration] = []
        for round in 0...rounds {
            let took = await Self.handle(
                iterations, sse ? Self.streamRequest : Self.request, gateway, sink, taskPerRequest: taskPerRequest)
            // Round 0 warms caches, the metric handles and the allocator up and is not counted.
            if round > 0 { perRequest.append(took / iterations) }
        }
        guard sink.answered.load(ordering: .relaxed) == iterations * (rounds + 1) else {
            throw ValidationError("not every request was answered with 200")
        }
        let sorted = perRequest.sorted()
        print(
            "gateway\(sse ? " --sse" : "")\(translated ? " --provider \(provider.rawValue)" : "")"
                + "\(taskPerRequest ? " --task-per-request" : ""): "
                + "\(formatMicros(sorted.first!)) per request in the best round, "
                + "\(formatMicros(sorted[sorted.count / 2])) median round (\(rounds) rounds of \(iterations)"
                + (accessLog ? ", access log on)" : ")"))
    }

    /// `count` requests one after the other on one task. Not on the main actor (where `run` is):
    /// every call would then hop to the global executor and back.
    /// Returns the process's CPU time they took (on a busy machine wall time would count the
    /// time others ran).
    nonisolated static func handle(
        _ count: Int, _ request: HTTPRequest, _ gateway: Gateway, _ sink: CountingSink, taskPerRequest: Bool
    ) async -> Duration {
        let started = processCPUTime()
        for _ in 0..<count {
            if taskPerRequest {
                await Task { await gateway.handle(request, responder: HTTPResponder(sink: sink)) }.value
            } else {
                await gateway.handle(request, responder: HTTPResponder(sink: sink))
            }
        }
        return processCPUTime() - started
    }

    static func processCPUTime() -> Duration {
        var t = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
        return .seconds(t.tv_sec) + .nanoseconds(t.tv_nsec)
    }
}

/// Answers every call at once with a fixed 200 and the head nginx sends with it; a stream with its
/// whole body in one chunk, through the transport's body channel.
private final class CannedUpstream: Upstream {
    let body: [UInt8]
    let events: [UInt8]
    let head: [UInt8]
    let streamHead = Array(
        ("Server: nginx\r\nDate: Sun, 06 Dec 2026 16:00:00 GMT\r\nContent-Type: text/event-stream\r\n"
            + "Connection: keep-alive\r\n").utf8)

    init(body: [UInt8], events: [UInt8]) {
        self.body = body
        self.events = events
        head = Array(
            "Server: nginx\r\nDate: Sun, 06 Dec 2026 16:00:00 GMT\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\nConnection: keep-alive\r\n"
                .utf8)
    }

    func perform(_ request: UpstreamRequest) async throws(UpstreamFailure) -> UpstreamResponse {
        UpstreamResponse(head: UpstreamHead(status: 200, rawLines: head), body: body)
    }

    /// As `CurlUpstream` does (it answers at once): without it the router races every stream
    /// against a timer task of its own, which no proxied stream pays.
    var enforcesFirstEventTimeout: Bool { true }

    func stream(_ request: UpstreamRequest) async throws(UpstreamFailure) -> UpstreamStreamingResponse {
        // The body goes through the channel `CurlUpstream` feeds, as a proxied stream's does.
        let channel = UpstreamBodyChannel()
        _ = channel.yield(events)
        channel.finish()
        return UpstreamStreamingResponse(
            head: UpstreamHead(status: 200, rawLines: streamHead), body: UpstreamBodyStream(channel: channel))
    }
}

/// Counts 200 answers (a stream when it finishes) and drops them. One sink serves every request
/// of a run, one after the other.
final class CountingSink: HTTPResponseSink {
    let answered = Atomic(0)
    let streaming = Atomic(false)

    func respond(status: Int, headers: HTTPHeaders, body: [UInt8]) {
        if status == 200 { answered.add(1, ordering: .relaxed) }
    }

    func startStream(status: Int, headers: HTTPHeaders) -> Bool {
        streaming.store(status == 200, ordering: .relaxed)
        return true
    }

    func write(_ bytes: [UInt8]) -> Bool { true }

    func finish() {
        if streaming.exchange(false, ordering: .relaxed) { answered.add(1, ordering: .relaxed) }
    }

    var isClientGone: Bool { false }
}
