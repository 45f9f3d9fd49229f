public import ArgumentParser
import Foundation
import SwitchyardCore
import SwitchyardInbound
import SwitchyardProviders

/// `switchyard-bench codec`: the CPU cost of one non-streaming request's translation work, per
/// provider kind, with no I/O: parse the client body, encode the upstream body, decode the upstream
/// answer, produce the client body. The upstream answers are what `switchyard-mock` sends for
/// bench/run's request, so the difference between rows is what translation adds to a proxied
/// request (bench/run compares it with the passthrough p50 it measured).
struct CodecBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "codec",
        abstract: "Translation cost per non-streaming request: OpenAI passthrough vs Anthropic and Gemini.")

    @Option(help: "Requests per provider kind and round (after a warm-up round).")
    var iterations = 50_000

    @Option(help: "Rounds; the kinds take turns within each round, so drift on a shared machine hits all alike.")
    var rounds = 7

    /// bench/run's request body (the model name is the one the route table replaces).
    static let clientBody = Array(
        #"{"model":"bench","messages":[{"role":"user","content":"Say something short about benchmarks."}],"max_tokens":64}"#
            .utf8)

    static let answers: [ProviderKind: String] = [
        .openai: #"""
        {"id":"chatcmpl-mock","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"benchmark reply","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":29,"completion_tokens":2,"total_tokens":31}}
        """#,
        .anthropic: #"""
        {"id":"msg_mock","type":"message","role":"assistant","model":"claude-3-5-haiku-latest","content":[{"type":"text","text":"benchmark reply"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":32,"output_tokens":2}}
        """#,
        .gemini: #"""
        {"candidates":[{"content":{"role":"model","parts":[{"text":"benchmark reply"}]},"index":0,"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":32,"candidatesTokenCount":2,"totalTokenCount":34},"modelVersion":"gemini-2.0-flash"}
        """#,
    ]

    static let models: [ProviderKind: String] = [
        .openai: "gpt-4o-mini", .anthropic: "claude-3-5-haiku-latest", .gemini: "gemini-2.0-flash",
    ]

    @Option(help: "Only this kind (for profiling one codec).")
    var only: ProviderKind?

    @Option(
        help:
            "The client's API: chat (Chat Completions; OpenAI is the passthrough) or messages (Anthropic Messages; Anthropic is the passthrough)."
    )
    var api: BenchAPI = .chat

    /// bench/run's request as an Anthropic Messages body.
    static let messagesBody = Array(
        #"{"model":"bench","max_tokens":64,"messages":[{"role":"user","content":"Say something short about benchmarks."}]}"#
            .utf8)

    @Option(help: "Print this kind's canned upstream answer and exit (bench/run's canned upstream serves it).")
    var printAnswer: ProviderKind?

    func validate() throws {
        guard iterations >= 1, rounds >= 1 else {
            throw ValidationError("--iterations and --rounds must be at least 1")
        }
    }

    func run() throws {
        if let kind = printAnswer {
            print(Self.answers[kind]!)
            return
        }
        let kinds = only.map { [$0] } ?? ProviderKind.allCases
        var medians: [ProviderKind: [Duration]] = [:]
        var bytes = 0
        for round in 0...rounds {
            for kind in kinds {
                let codec = kind.codec
                let target = TargetContext(
                    providerName: kind.rawValue, upstreamModel: Self.models[kind]!, idSeed: "bench")
                let answer = Array(Self.answers[kind]!.utf8)
                var histogram = LatencyHistogram()
                for _ in 0..<iterations {
                    let started = ContinuousClock.now
                    bytes &+= try Self.translate(codec, target: target, answer: answer, api: api)
                    histogram.record(ContinuousClock.now - started)
                }
                // Round 0 warms caches and the allocator up and is not counted.
                if round > 0 { medians[kind, default: []].append(histogram.percentile(50)) }
            }
        }
        // The best round is the codec's own cost: a slower round was slowed by something else on the
        // machine (on a shared VM rounds are bimodal), which the median can land on for one kind only.
        var best: [ProviderKind: Duration] = [:]
        for kind in kinds {
            let sorted = medians[kind]!.sorted()
            best[kind] = sorted.first!
            print(
                "codec \(kind.rawValue): p50 \(formatMicros(sorted.first!)) per request in the best round, "
                    + "\(formatMicros(sorted[sorted.count / 2])) median round (\(rounds) rounds of \(iterations))")
        }
        let native: ProviderKind = api == .chat ? .openai : .anthropic
        for kind in ProviderKind.allCases where kind != native && best[kind] != nil && best[native] != nil {
            print(
                "codec \(kind.rawValue) adds \(formatMicros(best[kind]! - best[native]!)) per request over passthrough"
                    + " (\(api.rawValue) clients)")
        }
        if bytes == 0 { print("no bytes produced") }
    }

    /// What the gateway does with one non-streaming request besides routing and I/O. Returns the
    /// bytes produced, so the work cannot be optimised away.
    static func translate(
        _ codec: any ProviderCodec, target: TargetContext, answer: [UInt8], api: BenchAPI = .chat
    ) throws -> Int {
        let format: any InboundFormat = api == .chat ? ChatCompletionsFormat() : MessagesFormat()
        let request = try format.parseRequest(api == .chat ? clientBody : messagesBody)
        let encoded = try codec.encode(request, for: target)
        let decoded = try codec.decodeResponse(answer, request: request, target: target, id: "chatcmpl-x", created: 1)
        // As the gateway answers: passthrough bytes as they came, without building the unified
        // response (reading `decoded.response` here, as this bench did, decoded the passthrough
        // answer in full and charged the passthrough row ~0.9 us the gateway never spends).
        if let passthrough = decoded.passthroughBody { return encoded.body.count + passthrough.count }
        let body = format.encodeResponse(
            decoded.response, passthrough: nil,
            context: AnswerContext(request: request, id: "msg_x", created: 1, model: target.upstreamModel))
        return encoded.body.count + body.count
    }
}

/// The client API `switchyard-bench codec` measures.
enum BenchAPI: String, ExpressibleByArgument {
    case chat, messages
}

/// "3.42 us": a per-request CPU cost with two decimals.
func formatMicros(_ duration: Duration) -> String {
    String(format: "%.2f us", duration.inSeconds * 1e6)
}

extension ProviderKind: ExpressibleByArgument {}
