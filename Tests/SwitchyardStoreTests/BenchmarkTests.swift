import SwitchyardTasks
import Testing

@testable import SwitchyardStore

@Suite struct BenchmarkTests {
    /// A small run that proves the helper works; the numbers are measured by the bench script
    /// (`bench/run store`, through `switchyard-bench store`), never asserted here.
    @Test func benchmarkHelperRuns() throws {
        try withTemporaryDirectory { directory throws in
            var samples: [StoreBenchmarkMeasure: [Duration]] = [:]
            let run = try SQLiteStore.benchmark(path: directory + "/bench.db", tasks: 200, checkpoints: 50, listings: 7)
            {
                samples[$0, default: []].append($1)
            }
            #expect(samples[.checkpointCommit]?.count == 50)
            #expect(samples[.listThousand]?.count == 7)
            #expect(samples.values.joined().allSatisfy { $0 > .zero })
            #expect(run.storedTasks == 201)
            #expect(run.resumedTasks == 21)  // 20 left executing + the checkpoint task
            #expect(run.startup > .zero)
        }
    }
}
