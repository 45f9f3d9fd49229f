import ArgumentParser
import Foundation
import SwitchyardStore

/// `switchyard-bench store`: seeds a fresh task store and prints checkpoint commit and listing
/// percentiles and the open + migrate + resume time (targets: p50 < 200 µs, < 2 ms, < 1 s).
/// The database stays at `--path`, so bench/run can start `switchyard serve` on it next.
struct StoreBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Task store: checkpoint commit latency, listing 1,000 tasks, start-up with stored tasks.")

    enum DurabilityOption: String, ExpressibleByArgument, CaseIterable {
        case normal, full

        var durability: SQLiteStore.Durability { self == .full ? .full : .normal }
        var pragma: String { self == .full ? "FULL" : "NORMAL" }
    }

    @Option(help: "Database file to create (must not exist); kept afterwards.")
    var path: String

    @OptionGroup var counts: StoreBenchCounts

    @Option(help: "synchronous=NORMAL (default, the server's) or FULL (fsync per commit).")
    var durability: DurabilityOption = .normal

    func validate() throws {
        guard !FileManager.default.fileExists(atPath: path) else {
            throw ValidationError("\(path) already exists; the store benchmark seeds a fresh database")
        }
    }

    func run() throws {
        var checkpoint = LatencyHistogram()
        var listing = LatencyHistogram()
        let result = try SQLiteStore.benchmark(
            path: path, tasks: counts.tasks, checkpoints: counts.checkpoints, listings: counts.listings,
            durability: durability.durability
        ) { measure, duration in
            switch measure {
            case .checkpointCommit: checkpoint.record(duration)
            case .listThousand: listing.record(duration)
            }
        }
        counts.report(
            checkpoint: checkpoint, listing: listing, setting: "synchronous=\(durability.pragma)",
            startup: "open + migrate", result.startup, stored: result.storedTasks, resumed: result.resumedTasks)
    }
}

/// The counts both store benchmarks take, and their report.
struct StoreBenchCounts: ParsableArguments {
    @Option(help: "Tasks to seed before measuring (10% left executing with a step in flight).")
    var tasks = 10_000

    @Option(help: "Checkpoint commits to time.")
    var checkpoints = 1_000

    @Option(help: "Listings of 1,000 tasks to time.")
    var listings = 200

    func validate() throws {
        guard tasks >= 1, checkpoints >= 1, listings >= 1 else {
            throw ValidationError("--tasks, --checkpoints and --listings must be at least 1")
        }
    }

    /// Prints the three rows bench/run reads; `setting` ends the checkpoint row, `startup` names
    /// what the start-up row times before the resume scan.
    func report(
        checkpoint: LatencyHistogram, listing: LatencyHistogram, setting: String, startup: String,
        _ startupTime: Duration, stored: Int, resumed: Int
    ) {
        print(
            "checkpoint commit: p50 \(formatLatency(checkpoint.percentile(50))), "
                + "p99 \(formatLatency(checkpoint.percentile(99))) (n=\(checkpoint.count), \(setting))")
        print(
            "list \(min(1000, tasks)) tasks: p50 \(formatLatency(listing.percentile(50))), "
                + "p99 \(formatLatency(listing.percentile(99))) (n=\(listing.count))")
        print(
            "\(startup) + resume scan with \(tasks) tasks: \(formatSeconds(startupTime)) "
                + "(\(stored) stored, \(resumed) resumed)")
    }
}
