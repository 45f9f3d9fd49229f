import ArgumentParser
import Foundation
import SwitchyardCore
import SwitchyardStore
import Synchronization

/// `switchyard-bench store-postgres`: the `store` rows on PostgreSQL (same seed, same operations),
/// in a scratch schema of the database the URL in `--url-env` names, dropped afterwards.
/// `bench/run` gives it a throwaway server with PostgreSQL's durable defaults (fsync on).
struct PostgresStoreBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store-postgres",
        abstract: "PostgreSQL task store: checkpoint commit latency, listing 1,000 tasks, start-up with stored tasks.")

    @Option(help: "Environment variable holding the postgres:// URL (never printed).")
    var urlEnv: String

    @Option(help: "Tasks to seed before measuring (10% left executing with a step in flight).")
    var tasks = 10_000

    @Option(help: "Checkpoint commits to time.")
    var checkpoints = 1_000

    @Option(help: "Listings of 1,000 tasks to time.")
    var listings = 200

    func run() async throws {
        guard let text = ProcessInfo.processInfo.environment[urlEnv], case .success(let server) = StoreURL.parse(text)
        else { throw ValidationError("\(urlEnv) must hold a postgres:// URL") }
        let schema = "bench_\(getpid())"
        let url = try await PostgresStore.createScratchSchema(url: server, name: schema)
        let samples = Mutex((checkpoint: LatencyHistogram(), listing: LatencyHistogram()))
        let result: (startup: Duration, storedTasks: Int, resumedTasks: Int)
        do {
            result = try await PostgresStore.benchmark(
                url: url, tasks: tasks, checkpoints: checkpoints, listings: listings
            ) { measure, duration in
                samples.withLock { s in
                    switch measure {
                    case .checkpointCommit: s.checkpoint.record(duration)
                    case .listThousand: s.listing.record(duration)
                    }
                }
            }
        } catch {
            try? await PostgresStore.dropScratchSchema(url: server, name: schema)
            throw error
        }
        try await PostgresStore.dropScratchSchema(url: server, name: schema)
        let (checkpoint, listing) = samples.withLock { ($0.checkpoint, $0.listing) }
        print(
            "checkpoint commit: p50 \(formatLatency(checkpoint.percentile(50))), "
                + "p99 \(formatLatency(checkpoint.percentile(99))) (n=\(checkpoint.count), PostgreSQL on loopback)")
        print(
            "list \(min(1000, tasks)) tasks: p50 \(formatLatency(listing.percentile(50))), "
                + "p99 \(formatLatency(listing.percentile(99))) (n=\(listing.count))")
        print(
            "connect + schema check + resume scan with \(tasks) tasks: \(formatSeconds(result.startup)) "
                + "(\(result.storedTasks) stored, \(result.resumedTasks) resumed)")
    }
}
