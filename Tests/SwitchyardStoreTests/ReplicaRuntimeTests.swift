import Foundation
import Logging
import SwitchyardCore
import SwitchyardTasks
import SwitchyardTestSupport
import Synchronization
import Testing

@testable import SwitchyardStore

/// Two task runtimes ("replicas") on one PostgreSQL schema, each with a store of its own (its own
/// pool, listener, claims and instance id), as two `serve` processes have. The claims keep a step
/// from running in both; a replica whose holder died takes its task over after the lease.
@Suite(.timeLimit(.minutes(2)))
struct ReplicaRuntimeTests {
    /// The texts whose first call, on whichever replica, never answers.
    final class HangOnce: Sendable {
        let texts: Set<String>
        private let hung = Mutex<Set<String>>([])

        init(_ texts: Set<String>) { self.texts = texts }

        /// True for the first call of one of `texts`.
        func first(_ text: String) -> Bool { texts.contains(text) && hung.withLock { $0.insert(text).inserted } }
    }

    /// Answers every step with "<text>-done" and records who ran what; a step whose text is in
    /// `hang` never answers (until cancelled), as a process killed mid-step never does; nor does
    /// the first call of a text of `hangOnce` (shared by several runners).
    final class Runner: StepRunner {
        let hang: Set<String>
        let hangOnce: HangOnce?
        /// How long each answer takes, as an upstream's generation does: long enough for the other
        /// replica's watcher to hear of the task and try to run it too.
        let latency: Duration
        let seen = Mutex<[String]>([])
        let started: AsyncStream<String>
        private let startedContinuation: AsyncStream<String>.Continuation

        init(hang: Set<String> = [], hangOnce: HangOnce? = nil, latency: Duration = .zero) {
            self.hang = hang
            self.hangOnce = hangOnce
            self.latency = latency
            (started, startedContinuation) = AsyncStream.makeStream()
        }

        func run(_ request: JSON, requestID: String) async -> StepOutcome {
            let text = request["messages"]?.arrayValue?.last?["content"]?.stringValue ?? ""
            seen.withLock { $0.append(text) }
            startedContinuation.yield(text)
            if hang.contains(text) || hangOnce?.first(text) == true {
                while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
                return StepOutcome(state: .failed, errorClass: "cancelled")
            }
            if latency > .zero { try? await Task.sleep(for: latency) }
            return StepOutcome(state: .completed, provider: "p", model: "m", output: text + "-done")
        }
    }

    static let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    /// A replica: a store of its own on `url` and a runtime on it, recovered and (unless told
    /// otherwise) watching.
    static func replica(
        _ url: StoreURL, _ runner: Runner, lease: Duration, watching: Bool = true
    ) async throws -> (PostgresStore, TaskRuntime) {
        let store = try await PostgresStore(
            url: url, configuration: PostgresStore.Configuration(poolSize: 2, leaseDuration: lease, listen: true))
        _ = await store.waitUntilListening()
        let runtime = TaskRuntime(
            store: PostgresTaskStore(store), runner: runner, workers: 2, logger: quiet,
            watchInterval: .milliseconds(50))
        _ = try await runtime.recover()
        if watching { runtime.startWatching() }
        return (store, runtime)
    }

    static func create(_ service: TaskService, _ texts: [String]) async throws -> String {
        let steps: [JSON] = texts.enumerated().map { i, text in
            [
                "id": .string("s\(i)"),
                "request": ["model": "m", "messages": [["role": "user", "content": .string(text)]]],
            ]
        }
        let body = JSON.object(["agent": "a", "steps": .array(steps)]).serialized()
        return try await service.create(owner: "alice", try TaskCreateRequest.parse(body: body) { _ in true }).task.id
    }

    /// Polls the store (every 50 ms, returning as soon as it holds) until every task is terminal,
    /// or for at most `ceiling` (nil: until the suite's time limit).
    static func allTerminal(
        _ store: PostgresStore, _ ids: [String], within ceiling: Duration? = nil
    ) async throws -> [TaskSnapshot] {
        let deadline = ceiling.map { ContinuousClock.now + $0 }
        while true {
            var snapshots: [TaskSnapshot] = []
            for id in ids { if let s = try await store.task(id: id, owner: "alice") { snapshots.append(s) } }
            if snapshots.count == ids.count, snapshots.allSatisfy({ $0.task.state.isTerminal }) { return snapshots }
            if let deadline, ContinuousClock.now > deadline { return snapshots }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Tasks created on both replicas, each heard by the other at once (`NOTIFY`) and scheduled
    /// by both: every step runs exactly once in all, on whichever replica claimed its task.
    @Test func twoReplicasRunEveryStepOnce() async throws {
        try #require(PostgresTestServer.enabled, "\(PostgresTestServer.reason ?? "")")
        try await withPostgresSchema { url in
            let runnerA = Runner(latency: .milliseconds(200))
            let runnerB = Runner(latency: .milliseconds(200))
            let (storeA, a) = try await Self.replica(url, runnerA, lease: .seconds(15))
            let (storeB, b) = try await Self.replica(url, runnerB, lease: .seconds(15))
            defer {
                a.stop()
                b.stop()
                storeA.close()
                storeB.close()
            }
            var ids: [String] = []
            for i in 0..<6 {
                let service = TaskService(runtime: i % 2 == 0 ? a : b)
                ids.append(try await Self.create(service, ["t\(i)-x", "t\(i)-y", "t\(i)-z"]))
            }
            let done = try await Self.allTerminal(storeA, ids)
            #expect(done.allSatisfy { $0.task.state == .completed })
            #expect(done.allSatisfy { $0.steps.allSatisfy { $0.attempts == 1 } }, "no step started twice")
            let seen = runnerA.seen.withLock { $0 } + runnerB.seen.withLock { $0 }
            let expected = (0..<6).flatMap { i in ["t\(i)-x", "t\(i)-y", "t\(i)-z"] }
            #expect(seen.sorted() == expected.sorted(), "each step sent upstream exactly once")
        }
    }

    /// The replica running a task dies mid-step (its store closes: no renewal, no release): the
    /// other takes the task over once the lease expired, from the last checkpoint. The finished
    /// step is never sent again; the one in flight runs again (at-least-once). Either replica may
    /// claim the new task first (both hear of it); the one whose call of step 2 hangs is the one
    /// that dies.
    @Test func aReplicaTakesOverTheTaskOfOneThatDiedFromItsLastCheckpoint() async throws {
        try #require(PostgresTestServer.enabled, "\(PostgresTestServer.reason ?? "")")
        try await withPostgresSchema { url in
            let hangOnce = HangOnce(["second"])
            let runners = [Runner(hangOnce: hangOnce), Runner(hangOnce: hangOnce)]
            // What the survivor waits for once the holder died. The holder renews every 500 ms on its
            // keeper's own thread and connection, which a busy cooperative pool does not delay.
            let lease = Duration.milliseconds(1500)
            let (storeA, a) = try await Self.replica(url, runners[0], lease: lease)
            let (storeB, b) = try await Self.replica(url, runners[1], lease: lease)
            let stores = [storeA, storeB]
            defer {
                a.stop()
                b.stop()
                for store in stores { store.close() }
            }
            let id = try await Self.create(TaskService(runtime: a), ["first", "second", "third"])
            let holder = await withTaskGroup(of: Int?.self) { group in
                for (index, runner) in runners.enumerated() {
                    group.addTask {
                        for await text in runner.started where text == "second" { return index }
                        return nil
                    }
                }
                let first = await group.next() ?? nil
                group.cancelAll()
                return first
            }
            let victim = try #require(holder)
            let survivor = 1 - victim
            #expect(stores[victim].claimedTasks == [id])
            #expect(!runners[survivor].seen.withLock { $0 }.contains("second"), "a task held is left alone")
            stores[victim].close()

            let done = try await Self.allTerminal(stores[survivor], [id])[0]
            #expect(done.task.state == .completed)
            #expect(done.steps.map(\.output) == ["first-done", "second-done", "third-done"])
            #expect(done.steps.map(\.attempts) == [1, 2, 1], "the step in flight ran again, attempts kept")
            let seen = runners.map { r in r.seen.withLock { $0 } }
            #expect((seen[0] + seen[1]).filter { $0 == "first" }.count == 1, "the checkpointed step is not sent again")
            #expect(seen[victim].last == "second")
            #expect(Array(seen[survivor].suffix(2)) == ["second", "third"])
            let events = try await stores[survivor].events(taskID: id, owner: nil, after: 0, limit: 100)
            let requeued = events.filter { $0.type == "step.requeued" }
            #expect(requeued.count == 1)
            #expect(requeued.first?.data["reason"]?.stringValue == "lease_expired", "\(requeued)")
        }
    }

    /// A clean shutdown releases the claims and announces the released tasks, so the other replica
    /// takes them over at once rather than a lease (here ten minutes) later. B starts after A's
    /// last commit, so nothing but the release's announcement can wake it before its sweep.
    @Test func aCleanShutdownHandsTheTaskOverWithoutWaitingForTheLease() async throws {
        try #require(PostgresTestServer.enabled, "\(PostgresTestServer.reason ?? "")")
        try await withPostgresSchema { url in
            let runnerA = Runner(hang: ["second"])
            let runnerB = Runner()
            let (storeA, a) = try await Self.replica(url, runnerA, lease: .seconds(600))
            defer { storeA.close() }
            let id = try await Self.create(TaskService(runtime: a), ["first", "second", "third"])
            for await text in runnerA.started where text == "second" { break }
            let (storeB, b) = try await Self.replica(url, runnerB, lease: .seconds(600))
            defer {
                b.stop()
                storeB.close()
            }
            #expect(storeB.claimedTasks.isEmpty, "A holds the task: B's start-up leaves it alone")
            a.stop()
            while a.busyWorkers > 0 { try await Task.sleep(for: .milliseconds(20)) }
            await ConfiguredStores(postgres: storeA).releaseClaims()
            #expect(storeA.claimedTasks.isEmpty)
            let done = try await Self.allTerminal(storeB, [id])[0]
            #expect(done.task.state == .completed)
            #expect(runnerB.seen.withLock { $0 } == ["second", "third"])
        }
    }

    /// The release is announced once. A replica that heard it after its start-up read of the tasks
    /// but before its watcher's first look (the watcher is a task of its own, which a loaded
    /// machine may run late) still takes the task over at once: the watcher counts changes from
    /// the start-up read. Here the watcher starts only once B has heard the release.
    @Test func aReleaseHeardBeforeTheWatcherFirstLooksStillHandsTheTaskOver() async throws {
        try #require(PostgresTestServer.enabled, "\(PostgresTestServer.reason ?? "")")
        try await withPostgresSchema { url in
            let runnerA = Runner(hang: ["second"])
            let runnerB = Runner()
            let (storeA, a) = try await Self.replica(url, runnerA, lease: .seconds(600))
            defer { storeA.close() }
            let id = try await Self.create(TaskService(runtime: a), ["first", "second", "third"])
            for await text in runnerA.started where text == "second" { break }
            let (storeB, b) = try await Self.replica(url, runnerB, lease: .seconds(600), watching: false)
            defer {
                b.stop()
                storeB.close()
            }
            // B's start-up tried the task and left it (A holds it); only the watcher can find it now.
            while b.busyWorkers > 0 { try await Task.sleep(for: .milliseconds(20)) }
            #expect(storeB.claimedTasks.isEmpty)
            let heard = storeB.externalChangeVersion()
            a.stop()
            while a.busyWorkers > 0 { try await Task.sleep(for: .milliseconds(20)) }
            await ConfiguredStores(postgres: storeA).releaseClaims()
            while storeB.externalChangeVersion() == heard { try await Task.sleep(for: .milliseconds(20)) }
            b.startWatching()
            // Without the start-up baseline, B would wait for its sweep (a third of the lease: 200 s).
            let done = try await Self.allTerminal(storeB, [id], within: .seconds(30))
            #expect(done.first?.task.state == .completed)
            #expect(runnerB.seen.withLock { $0 } == ["second", "third"])
        }
    }
}
