import SwitchyardLoop
import Testing

@testable import SwitchyardGateway

/// The server's worker pool (large bodies) follows the CPU budget its event loops use.
@Suite struct WorkerPoolSizingTests {
    /// One thread per core the process may use (affinity, cgroup quota), at least 2, not one per
    /// online CPU. The two differ only where the budget is narrower than the machine (a container
    /// with a CPU limit, `taskset`); on this 2-core machine both give 2.
    @Test func theWorkerPoolFollowsTheCPUBudget() async throws {
        try await GatewayHarness.withMockLLM { h, _ in
            #expect(h.server.workerPoolSize == max(2, EventLoopGroup.availableCores))
        }
    }
}
