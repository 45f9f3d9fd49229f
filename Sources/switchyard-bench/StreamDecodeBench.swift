import ArgumentParser
import SwitchyardCore
import SwitchyardProviders

/// `switchyard-bench stream-decode`: the CPU cost of reading one streamed OpenAI answer, bytes in
/// to events out (`gateway --sse`'s canned six chunks and `[DONE]` in one read, through a fresh
/// `OpenAIStreamDecoder`), with nothing else around it: the share of `gateway --sse` that the
/// SSE parser and the chunk decoder own, steadier than the whole request's figure on a shared
/// machine.
struct StreamDecodeBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stream-decode",
        abstract: "The upstream stream decoding's CPU per streamed OpenAI answer (in process, no I/O).")

    @Option(help: "Answers per round (after a warm-up round).")
    var iterations = 200_000

    @Option(help: "Rounds; the best one is the path's own cost.")
    var rounds = 7

    @Option(help: "The upstream's stream: openai (passthrough), anthropic or gemini (translated).")
    var provider = "openai"

    func validate() throws {
        guard iterations >= 1, rounds >= 1 else {
            throw ValidationError("--iterations and --rounds must be at least 1")
        }
        guard ["openai", "anthropic", "gemini"].contains(provider) else {
            throw ValidationError("--provider must be openai, anthropic or gemini")
        }
    }

    /// The same answer as Anthropic sends it (a translated stream).
    static let anthropicEvents: [UInt8] = {
        func event(_ name: String, _ data: String) -> String { "event: \(name)\ndata: \(data)\n\n" }
        var text = event(
            "message_start",
            #"{"type":"message_start","message":{"id":"msg_bench0001","type":"message","role":"assistant","#
                + #""model":"claude-3-5-haiku-20241022","content":[],"stop_reason":null,"stop_sequence":null,"#
                + #""usage":{"input_tokens":14,"output_tokens":1}}}"#)
        text += event(
            "content_block_start",
            #"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#)
        for w in ["Hello!", " How can I", " help you", " today?"] {
            text += event(
                "content_block_delta",
                #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"\#(w)"}}"#)
        }
        text += event("content_block_stop", #"{"type":"content_block_stop","index":0}"#)
        text += event(
            "message_delta",
            #"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":9}}"#
        )
        text += event("message_stop", #"{"type":"message_stop"}"#)
        return Array(text.utf8)
    }()

    /// The same answer as Gemini sends it (a translated stream).
    static let geminiEvents: [UInt8] = {
        let words = ["Hello!", " How can I", " help you", " today?"]
        let text = words.enumerated().map { i, w in
            let finish = i == words.count - 1 ? #","finishReason":"STOP""# : ""
            return
                #"data: {"candidates":[{"content":{"parts":[{"text":"\#(w)"}],"role":"model"}\#(finish),"index":0}],"#
                + #""usageMetadata":{"promptTokenCount":14,"candidatesTokenCount":\#(i + 1),"totalTokenCount":\#(15 + i)},"#
                + #""modelVersion":"gemini-2.5-flash"}"# + "\r\n\r\n"
        }
        return Array(text.joined().utf8)
    }()

    func run() throws {
        let perAnswer: [Duration]
        switch provider {
        case "anthropic": perAnswer = try measure(Self.anthropicEvents, expecting: nil) { AnthropicStreamDecoder() }
        case "gemini":
            perAnswer = try measure(Self.geminiEvents, expecting: nil) { GeminiStreamDecoder(idSeed: "bench") }
        default: perAnswer = try measure(GatewayBench.events, expecting: 7) { OpenAIStreamDecoder() }
        }
        let sorted = perAnswer.sorted()
        print(
            "stream-decode \(provider): \(formatMicros(sorted.first!)) per answer in the best round, "
                + "\(formatMicros(sorted[sorted.count / 2])) median round (\(rounds) rounds of \(iterations))")
    }

    /// CPU time per answer of each round after the warm-up (a generic function: the OpenAI figure
    /// compares with those measured before the other providers were added).
    func measure<D: StreamDecoder>(
        _ events: [UInt8], expecting expected: Int?, _ make: () -> D
    ) throws -> [Duration] {
        var perAnswer: [Duration] = []
        var counts: Set<Int> = []
        var total = 0
        for round in 0...rounds {
            let started = GatewayBench.processCPUTime()
            for _ in 0..<iterations {
                var decoder = make()
                let seen = decoder.feed(events).count + decoder.finish().count
                total &+= seen
                if round == 0 { counts.insert(seen) }
            }
            let took = GatewayBench.processCPUTime() - started
            // Round 0 warms caches and the allocator up and is not counted.
            if round > 0 { perAnswer.append(took / iterations) }
        }
        guard counts.count == 1, let count = counts.first, count >= 5, expected.map({ $0 == count }) ?? true,
            total == count * iterations * (rounds + 1)
        else {
            throw ValidationError("an answer did not decode to its events (\(counts))")
        }
        return perAnswer
    }
}
