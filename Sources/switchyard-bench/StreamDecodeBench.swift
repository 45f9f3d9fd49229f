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

    func validate() throws {
        guard iterations >= 1, rounds >= 1 else {
            throw ValidationError("--iterations and --rounds must be at least 1")
        }
    }

    func run() throws {
        let events = GatewayBench.events
        var perAnswer: [Duration] = []
        var seen = 0
        for round in 0...rounds {
            let started = GatewayBench.processCPUTime()
            for _ in 0..<iterations {
                var decoder = OpenAIStreamDecoder()
                seen &+= decoder.feed(events).count
                seen &+= decoder.finish().count
            }
            let took = GatewayBench.processCPUTime() - started
            // Round 0 warms caches and the allocator up and is not counted.
            if round > 0 { perAnswer.append(took / iterations) }
        }
        guard seen == iterations * (rounds + 1) * 7 else {
            throw ValidationError("an answer did not decode to its 6 chunks and [DONE]")
        }
        let sorted = perAnswer.sorted()
        print(
            "stream-decode: \(formatMicros(sorted.first!)) per answer in the best round, "
                + "\(formatMicros(sorted[sorted.count / 2])) median round (\(rounds) rounds of \(iterations))")
    }
}
