import Foundation
import Testing

@testable import SwitchyardStore

@Suite struct BenchmarkTests {
    /// A small run that proves the helper works; the numbers are measured by the bench script.
    @Test func benchmarkHelperRuns() throws {
        try withTemporaryDirectory { directory throws in
            let report = try TaskStore.benchmark(path: directory + "/bench.db", tasks: 200, checkpoints: 50)
            #expect(report.checkpointSamples == 50)
            #expect(report.resumedTasks == 21)  // 20 left executing + the checkpoint task
            #expect(report.checkpointP50 > .zero && report.checkpointP50 <= report.checkpointP99)
            #expect(report.description.contains("checkpoint commit"))
        }
    }
}

/// The full-size run, only when asked: `SWITCHYARD_STORE_BENCH=1 swift test -c release -Xswiftc -enable-testing
/// --filter fullBenchmark` prints the report.
@Test(.enabled(if: ProcessInfo.processInfo.environment["SWITCHYARD_STORE_BENCH"] == "1"))
func fullBenchmark() throws {
    try withTemporaryDirectory { directory throws in
        let tasks = Int(ProcessInfo.processInfo.environment["SWITCHYARD_STORE_BENCH_TASKS"] ?? "") ?? 10_000
        for durability in [TaskStore.Durability.normal, .full] {
            let report = try TaskStore.benchmark(
                path: directory + "/bench-\(durability).db", tasks: tasks, durability: durability)
            print(report)
        }
    }
}
