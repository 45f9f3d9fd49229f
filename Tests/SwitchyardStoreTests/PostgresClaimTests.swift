import Dispatch
import Foundation
import SwitchyardCore
import SwitchyardTasks
import SwitchyardTestSupport
import Synchronization
import Testing

@testable import SwitchyardStore

/// Several processes on one PostgreSQL store, each a `PostgresStore` with its own instance id and
/// connections: who runs a task, and what happens when its process dies.
@Suite(.enabled(if: PostgresTestServer.enabled, "needs a PostgreSQL server (scripts/test-postgres)"))
struct PostgresClaimTests {
    /// A task planned with steps s1, s2, s3 and left `executing`.
    private func plannedTask(_ store: PostgresStore, id: String = "t1") async throws {
        _ = try await store.createTask(id: id, owner: "alice", agent: "a")
        try await store.transition(
            taskID: id, event: .start,
            stepUpdates: [.plan([PlannedStep(id: "s1"), PlannedStep(id: "s2"), PlannedStep(id: "s3")])])
        try await store.transition(taskID: id, event: .plan)
    }

    /// Runs `body` with the stores of two processes, A and B, on one fresh schema and `clock`, each
    /// with leases of `lease`; both are closed afterwards.
    private func withProcessesAB(
        clock: ManualClock, lease: Duration = .seconds(15), _ body: (PostgresStore, PostgresStore) async throws -> Void
    ) async throws {
        try await withPostgresSchema { url in
            let a = try await PostgresStore(url: url, configuration: clock.postgres(instance: "A", lease: lease))
            let b = try await PostgresStore(url: url, configuration: clock.postgres(instance: "B", lease: lease))
            defer {
                a.close()
                b.close()
            }
            try await body(a, b)
        }
    }

    @Test func oneProcessAtATimeAndATakeOverAfterTheLeaseResumesFromTheLastCheckpoint() async throws {
        let clock = ManualClock()
        try await withProcessesAB(clock: clock, lease: .seconds(600)) { a, b in
            try await plannedTask(a)
            #expect(try await a.claim(taskID: "t1"))
            #expect(try await !b.claim(taskID: "t1"), "A holds a live claim")
            #expect(try await a.claim(taskID: "t1"), "the holder may claim again")

            // A runs s1 to its checkpoint and starts s2, then dies (no release, no renewal).
            try await a.transition(taskID: "t1", event: nil, stepUpdates: [.start(stepID: "s1")])
            try await a.transition(
                taskID: "t1", event: .stepDone,
                stepUpdates: [.finish(stepID: "s1", outcome: StepOutcome(state: .completed, output: "one"))])
            try await a.transition(taskID: "t1", event: nil, stepUpdates: [.start(stepID: "s2")])

            let refused = await storeError {
                try await b.transition(taskID: "t1", event: nil, stepUpdates: [.start(stepID: "s3")])
            }
            #expect(refused?.kind == .rejected, "a step of a task another process holds cannot be started")
            #expect(try await b.resumableTasks().isEmpty)

            clock.advance(milliseconds: 599_999)
            #expect(try await !b.claim(taskID: "t1"))
            clock.advance(milliseconds: 1)
            #expect(try await b.resumableTasks().map(\.id) == ["t1"])
            #expect(try await b.claim(taskID: "t1"), "A's lease expired")

            let snapshot = try #require(try await b.task(id: "t1", owner: "alice"))
            #expect(snapshot.steps.map(\.state) == [.completed, .pending, .pending], "s1 stays done, s2 goes back")
            #expect(snapshot.steps[0].output == "one" && snapshot.steps[1].attempts == 1)
            let requeued = try await b.events(taskID: "t1").last
            #expect(requeued?.type == "step.requeued")
            #expect(requeued?.data == ["step_id": "s2", "attempts": 1, "reason": "lease_expired"])

            // A comes back from its stall: its late checkpoint is refused, B's work stands.
            try await b.transition(taskID: "t1", event: nil, stepUpdates: [.start(stepID: "s2")])
            let late = await storeError {
                try await a.transition(
                    taskID: "t1", event: .stepDone,
                    stepUpdates: [.finish(stepID: "s2", outcome: StepOutcome(state: .completed, output: "A's"))])
            }
            #expect(late?.kind == .rejected)
            try await b.transition(
                taskID: "t1", event: .stepDone,
                stepUpdates: [.finish(stepID: "s2", outcome: StepOutcome(state: .completed, output: "B's"))])
            let after = try #require(try await b.task(id: "t1", owner: "alice"))
            #expect(after.steps.map(\.output) == ["one", "B's", nil])
            #expect(after.steps[1].attempts == 2)
        }
    }

    @Test func pauseResumeAndCancelApplyFromAnyProcessAndAReleaseReportsAResume() async throws {
        let clock = ManualClock()
        try await withProcessesAB(clock: clock) { a, b in
            try await plannedTask(a)
            #expect(try await a.claim(taskID: "t1"))
            try await a.transition(taskID: "t1", event: nil, stepUpdates: [.start(stepID: "s1")])
            // B pauses and resumes while A's step runs: no effect on A's claim, B cannot start it twice.
            #expect(try await b.transition(taskID: "t1", owner: "alice", event: .pause).state == .paused)
            #expect(try await b.transition(taskID: "t1", owner: "alice", event: .resume).state == .executing)
            #expect(try await !b.claim(taskID: "t1"))
            try await a.transition(
                taskID: "t1", event: .stepDone,
                stepUpdates: [.finish(stepID: "s1", outcome: StepOutcome(state: .completed, output: "x"))])
            // A paused after the checkpoint and B resumed before A let go: the release says so.
            try await b.transition(taskID: "t1", owner: "alice", event: .pause)
            try await b.transition(taskID: "t1", owner: "alice", event: .resume)
            #expect(try await a.releaseClaim(taskID: "t1") == .executing)
            #expect(try await b.claim(taskID: "t1"))
            #expect(try await b.transition(taskID: "t1", owner: "alice", event: .cancel).state == .cancelled)
            #expect(try await b.releaseClaim(taskID: "t1") == .cancelled)
            #expect(try await !a.claim(taskID: "t1"), "a cancelled task is claimed by nobody")
        }
    }

    @Test func concurrentClaimsOfAvailableTasksNeverOverlap() async throws {
        let clock = ManualClock()
        try await withPostgresSchema { url in
            let stores = try await [
                PostgresStore(url: url, configuration: clock.postgres(instance: "A")),
                PostgresStore(url: url, configuration: clock.postgres(instance: "B")),
                PostgresStore(url: url, configuration: clock.postgres(instance: "C")),
            ]
            defer { for store in stores { store.close() } }
            for i in 0..<30 { try await plannedTask(stores[0], id: "t\(i)") }
            let claimed = try await withThrowingTaskGroup(of: (Int, [String]).self) { group in
                for (index, store) in stores.enumerated() {
                    group.addTask {
                        var mine: [String] = []
                        while true {
                            let batch = try await store.claimAvailable(limit: 4)
                            if batch.isEmpty { return (index, mine) }
                            mine += batch.map(\.id)
                        }
                    }
                }
                return try await group.reduce(into: [Int: [String]]()) { $0[$1.0] = $1.1 }
            }
            let all = claimed.values.flatMap { $0 }
            #expect(all.count == 30 && Set(all).count == 30, "every task claimed exactly once: \(claimed)")
            for (index, ids) in claimed { #expect(stores[index].claimedTasks == Set(ids)) }
            #expect(try await stores[0].claimAvailable(limit: 10).isEmpty)
        }
    }

    @Test func theKeeperRenewsHeldClaimsAndAShutdownReleasesThem() async throws {
        let clock = ManualClock()
        try await withProcessesAB(clock: clock, lease: .seconds(600)) { a, b in
            try await plannedTask(a, id: "t1")
            try await plannedTask(a, id: "t2")
            #expect(try await a.claim(taskID: "t1"))
            #expect(try await a.claim(taskID: "t2"))
            #expect(try await a.releaseClaim(taskID: "t2") == .executing)
            clock.advance(milliseconds: 480_000)
            #expect(try await a.renewClaims() == ["t1"], "only what A still holds")
            clock.advance(milliseconds: 480_000)
            #expect(try await !b.claim(taskID: "t1"), "renewed 8 min ago for 10")
            #expect(try await b.claim(taskID: "t2"), "released")
            try await a.releaseAllClaims()
            #expect(try await b.claim(taskID: "t1"), "released at shutdown: no wait for the lease")
            #expect(a.claimedTasks.isEmpty)
            #expect(try await a.renewClaims().isEmpty)
        }
    }

    @Test func resumeAfterRestartListsOnlyTasksNoLiveProcessHolds() async throws {
        let clock = ManualClock()
        try await withProcessesAB(clock: clock, lease: .seconds(600)) { a, b in
            try await plannedTask(a, id: "held")
            try await plannedTask(a, id: "free")
            #expect(try await a.claim(taskID: "held"))
            try await a.transition(taskID: "held", event: nil, stepUpdates: [.start(stepID: "s1")])
            let points = try await b.resumeAfterRestart()
            #expect(points.map(\.task.id) == ["free"])
            #expect(points.first?.nextStep?.stepID == "s1")
            let held = try #require(try await b.task(id: "held", owner: "alice"))
            #expect(held.steps[0].state == .running, "another live process's step in flight is left alone")
        }
    }
}

extension PostgresClaimTests {
    /// A holder whose Swift tasks cannot run (every thread of the cooperative pool blocked) keeps
    /// its claims. One test at a time: two of them blocking the pool at once would wait for each
    /// other's threads.
    /// A renewal round that finds a task no longer held drops it from the renewed set only when no
    /// newer claim took it meanwhile: here the task is released after the round took its set and
    /// claimed again before the round drops what it lost, and the new claim stays renewed (else
    /// its lease would run out while the step runs, and another process would run it again).
    @Test func aClaimMadeWhileARenewalRoundRunsStaysRenewed() async throws {
        let clock = ManualClock()
        let round = RoundInterleaving()
        var configuration = clock.postgres(instance: "A", lease: .seconds(600))
        configuration.onRenewalStep = round.step
        try await withPostgresSchema { url in
            let a = try await PostgresStore(url: url, configuration: configuration)
            defer {
                round.disarm()
                a.close()
            }
            try await plannedTask(a)
            #expect(try await a.claim(taskID: "t1"))
            round.arm()
            let renewal = Task { try await a.renewClaims() }
            try #require(await round.reached(.tookClaims))
            _ = try await a.releaseClaim(taskID: "t1")
            round.proceed()
            try #require(await round.reached(.updated))
            #expect(try await a.claim(taskID: "t1"))
            round.proceed()
            let held = try await renewal.value
            #expect(!held.contains("t1"), "the round ran while t1 was released")
            #expect(a.claimedTasks.contains("t1"), "the claim made during the round is still renewed")
        }
    }

    @Suite(.serialized) struct BusyHolder {
        /// A live holder keeps its task while its process is too busy to run Swift tasks: with every
        /// thread of the cooperative pool blocked, A's keeper still renews the lease, so B cannot take
        /// the task over (and run its step again) however long A's lease has been due.
        @Test func aBusyHolderKeepsItsClaimWhileTheCooperativePoolIsBlocked() async throws {
            try await withHolderAndRival { a, b, clock, rounds async throws in
                #expect(try await a.claim(taskID: "t1"))
                let mark = clock.current + 60_000
                let renewed = await withCooperativePoolBlocked {
                    clock.advance(milliseconds: 60_000)
                    return rounds.wait(count: 2, from: mark)
                }
                #expect(renewed, "A's keeper renewed the lease without the cooperative pool")
                #expect(try await !b.claim(taskID: "t1"), "a minute past the claim, but renewed")
            }
        }

        /// A claim counts from its commit, so the keeper renews it from then, not from when the
        /// claimer resumes: here the claim commits while every thread of the cooperative pool is
        /// blocked (its caller cannot resume), and the lease is still renewed.
        @Test func aClaimIsRenewedFromItsCommitEvenBeforeItsCallerResumes() async throws {
            try await withHolderAndRival(holderPoolSize: 1) { a, b, clock, rounds async throws in
                // A's only connection is held until the pool is blocked, with the claim queued behind it.
                let plug = DispatchSemaphore(value: 0)
                let plugged = DispatchSemaphore(value: 0)
                a.pool.submit { _ in
                    plugged.signal()
                    plug.wait()
                }
                waitOnThisThread(plugged)
                let claiming = Task { try await a.claim(taskID: "t1") }
                while a.pool.waitingJobs == 0 { await Task.yield() }
                let mark = clock.current + 60_000
                let renewed = await withCooperativePoolBlocked {
                    clock.advance(milliseconds: 60_000)
                    plug.signal()
                    return rounds.wait(count: 2, from: mark)
                }
                #expect(try await claiming.value)
                #expect(renewed, "the keeper renewed the claim its caller had not seen yet")
                #expect(try await !b.claim(taskID: "t1"))
            }
        }

        /// A (lease 300 ms, its renewal rounds recorded, `holderPoolSize` connections) and B (lease
        /// 1 s) on one schema, on one manual clock, with task t1 planned and not yet claimed.
        private func withHolderAndRival(
            holderPoolSize: Int? = nil,
            _ body: (PostgresStore, PostgresStore, ManualClock, RenewalRounds) async throws -> Void
        ) async throws {
            let clock = ManualClock()
            let rounds = RenewalRounds(clock: clock, task: "t1")
            var configuration = clock.postgres(instance: "A", lease: .milliseconds(300))
            if let holderPoolSize { configuration.poolSize = holderPoolSize }
            configuration.onRenewal = rounds.record
            try await withPostgresSchema { url in
                let a = try await PostgresStore(url: url, configuration: configuration)
                let b = try await PostgresStore(
                    url: url, configuration: clock.postgres(instance: "B", lease: .seconds(1)))
                defer {
                    a.close()
                    b.close()
                }
                try await PostgresClaimTests().plannedTask(a)
                try await body(a, b, clock, rounds)
            }
        }
    }
}

/// Holds one renewal round at its steps (`Configuration.onRenewalStep`) while the test claims
/// and releases: armed, the round waits at each step until `proceed()` (10 s at most, so a failed
/// test cannot hang the keeper).
private final class RoundInterleaving: Sendable {
    private let armed = Mutex(false)
    private let tookClaims = DispatchSemaphore(value: 0)
    private let updated = DispatchSemaphore(value: 0)
    private let go = DispatchSemaphore(value: 0)

    func arm() { armed.withLock { $0 = true } }
    func disarm() {
        armed.withLock { $0 = false }
        go.signal()
    }

    @Sendable func step(_ step: PostgresStore.RenewalStep) {
        guard armed.withLock({ $0 }) else { return }
        (step == .tookClaims ? tookClaims : updated).signal()
        _ = go.wait(timeout: .now() + .seconds(10))
        if step == .updated { armed.withLock { $0 = false } }
    }

    /// Returns once the round reached `step`; false after 10 s. The wait blocks a thread of its
    /// own: blocking one of the cooperative pool's (two on this machine) would keep the round's
    /// own task, and the rest of the suite, from running.
    func reached(_ step: PostgresStore.RenewalStep) async -> Bool {
        let signal = step == .tookClaims ? tookClaims : updated
        return await withCheckedContinuation { done in
            Thread { done.resume(returning: signal.wait(timeout: .now() + .seconds(10)) == .success) }.start()
        }
    }

    func proceed() { go.signal() }
}

/// The renewal rounds that found `task` held, by the manual clock's time after each: a round that
/// ends after the clock passed `mark` may have read it before; the next one read it after.
private final class RenewalRounds: Sendable {
    let clock: ManualClock
    let task: String
    private let times = Mutex<[Int64]>([])
    private let ended = DispatchSemaphore(value: 0)

    init(clock: ManualClock, task: String) {
        self.clock = clock
        self.task = task
    }

    /// `Configuration.onRenewal`.
    @Sendable func record(_ held: Set<String>) {
        guard held.contains(task) else { return }
        times.withLock { $0.append(clock.current) }
        ended.signal()
    }

    /// Blocks the calling thread until `count` rounds ended at or after `mark`; false when none
    /// came for 10 s (the keeper is not running).
    func wait(count: Int, from mark: Int64) -> Bool {
        while times.withLock({ $0.filter { $0 >= mark }.count }) < count {
            if ended.wait(timeout: .now() + .seconds(10)) == .timedOut { return false }
        }
        return true
    }
}

private func waitOnThisThread(_ semaphore: DispatchSemaphore) { semaphore.wait() }

/// Runs `body` with every thread of the cooperative pool (one per CPU) blocked: this one runs
/// `body`, the others wait until it returns. What a process whose Swift tasks are all busy (or
/// blocked) looks like to the work it schedules as tasks.
///
/// The other threads are taken by tasks that block; when they do not all get one within 100 ms
/// (the rest of the suite keeps them busy), every one is let go and the whole is tried again
/// later, so the suite's other tests are never held up for longer than that.
private func withCooperativePoolBlocked<T: Sendable>(_ body: @Sendable () -> T) async -> T {
    let others = max(0, ProcessInfo.processInfo.activeProcessorCount - 1)
    while true {
        let arrived = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        for _ in 0..<others {
            Task.detached {
                arrived.signal()
                waitOnThisThread(release)
            }
        }
        let all = waitForSignals(arrived, others, until: .now() + .milliseconds(100))
        // All came: every other thread is blocked now, and this one runs `body` and blocks too.
        let value = all ? body() : nil
        // A blocker that comes after this finds its signal and goes at once.
        for _ in 0..<others { release.signal() }
        if let value { return value }
        await Task.yield()
    }
}

private func waitForSignals(_ semaphore: DispatchSemaphore, _ count: Int, until deadline: DispatchTime) -> Bool {
    for _ in 0..<count where semaphore.wait(timeout: deadline) == .timedOut { return false }
    return true
}
