import ArgumentParser
import Foundation
import SwitchyardCore
import SwitchyardLoop
import SwitchyardUpstream

/// `switchyard-bench upstream`: the CPU cost of the outbound transfer alone (libcurl, the loop that
/// drives it, the transport's own code), without the inbound server or the gateway. Tasks running
/// on one event loop, as request handlers do, send POSTs to `--url` (bench/upstream starts an nginx
/// answering them) for `--seconds`; the process's CPU time (getrusage) per transfer is printed for
/// each round. A change to the transport shows here about seven times larger than in
/// bench/cpu-per-request, where the transfer is a seventh of a proxied request's CPU.
struct UpstreamBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upstream",
        abstract: "CPU per upstream transfer (CurlUpstream on one event loop against --url).")

    @Option(help: "The URL to POST to (a fast local server).")
    var url: String

    @Option(help: "Transfers in flight.")
    var concurrency = 16

    @Option(help: "Seconds per round (after a one-second warm-up).")
    var seconds = 3.0

    @Option(help: "Rounds.")
    var rounds = 3

    @Flag(help: "Use stream() and read each answer's body as chunks instead of perform().")
    var stream = false

    func run() async throws {
        let group = try EventLoopGroup(count: 1)
        let upstream = try CurlUpstream(loops: group)
        defer {
            upstream.shutdown()
            group.shutdown()
        }
        let request = UpstreamRequest(
            method: "POST", url: url,
            headers: [
                HeaderField("Content-Type", "application/json"), HeaderField("Authorization", "Bearer sk-bench"),
            ],
            body: Array(#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}"#.utf8),
            connectTimeout: .seconds(5), timeout: .seconds(30))
        _ = try await round(upstream, request, loop: group.loops[0], seconds: 1)
        for r in 1...rounds {
            let before = cpuMicros()
            let (count, elapsed) = try await round(upstream, request, loop: group.loops[0], seconds: seconds)
            let cpu = cpuMicros() - before
            print(
                "round \(r): \(count) transfers, \(Int(Double(count) / elapsed))/s, "
                    + String(format: "%.2f", cpu / Double(count)) + " us CPU per transfer")
        }
    }

    /// Runs `concurrency` loops of transfers on `loop` for `seconds`; returns the count and the time taken.
    private func round(
        _ upstream: CurlUpstream, _ request: UpstreamRequest, loop: EventLoop, seconds: Double
    ) async throws -> (Int, Double) {
        let start = ContinuousClock.now
        let end = start + .milliseconds(Int(seconds * 1000))
        let stream = self.stream
        let total = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<concurrency {
                group.addTask(executorPreference: loop) {
                    var n = 0
                    while ContinuousClock.now < end {
                        if stream {
                            let response = try await upstream.stream(request)
                            for try await _ in response.body {}
                        } else {
                            let response = try await upstream.perform(request)
                            guard response.head.status == 200 else { throw BenchError(status: response.head.status) }
                        }
                        n += 1
                    }
                    return n
                }
            }
            return try await group.reduce(0, +)
        }
        let elapsed = ContinuousClock.now - start
        return (total, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }

    private func cpuMicros() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let user = Double(usage.ru_utime.tv_sec) * 1e6 + Double(usage.ru_utime.tv_usec)
        return user + Double(usage.ru_stime.tv_sec) * 1e6 + Double(usage.ru_stime.tv_usec)
    }

    struct BenchError: Error { var status: Int }
}
