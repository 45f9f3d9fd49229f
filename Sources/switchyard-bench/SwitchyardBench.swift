import ArgumentParser

/// Benchmarks whose figures `bench/run` prints next to their targets. Speed targets are checked
/// here, never by timed unit tests.
@main
struct SwitchyardBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchyard-bench",
        abstract: "Prints Switchyard benchmark figures (run by bench/run).",
        subcommands: [
            StoreBench.self, PostgresStoreBench.self, CodecBench.self, BodiesBench.self, GatewayBench.self,
            UpstreamBench.self, StreamDecodeBench.self,
        ])
}
