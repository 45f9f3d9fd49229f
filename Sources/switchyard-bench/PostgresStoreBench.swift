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

    @OptionGroup var counts: StoreBenchCounts

    func run() async throws {
        guard let text = ProcessInfo.processInfo.environment[urlEnv], case .success(let server) = StoreURL.parse(text)
        else { throw ValidationError("\(urlEnv) must hold a postgres:// URL") }
        let schema = "bench_\(getpid())"
        let url = try await PostgresStore.createScratchSchema(url: server, name: schema)
        let samples = Mutex((checkpoint: LatencyHistogram(), listing: LatencyHistogram()))
        let result: (startup: Duration, storedTasks: Int, resumedTasks: Int)
        do {
            result = try await PostgresStore.benchmark(
                url: url, tasks: counts.tasks, checkpoints: counts.checkpoints, listings: counts.listings
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
        counts.report(
            checkpoint: checkpoint, listing: listing, setting: "PostgreSQL on loopback",
            startup: "connect + schema check", result.startup, stored: result.storedTasks,
            resumed: result.resumedTasks)
    }
}
