import Foundation
import SwitchyardCore
import SwitchyardInbound
import SwitchyardTasks
import SwitchyardTestSupport
import Testing

@testable import SwitchyardStore

/// The storage protocols' promises (`TaskStore`, `IdempotencyStore`, `ResponseStore`), checked
/// on every backend with the same test: SQLite on a temporary file and PostgreSQL in a scratch
/// schema of the suite's server (skipped, with the reason, only where no server can be started;
/// `scripts/test` requires one).
@Suite struct StoreContractTests {
    enum Backend: String, CustomTestStringConvertible, CaseIterable, Sendable {
        case sqlite, postgres
        var testDescription: String { rawValue }

        /// SQLite always; PostgreSQL when a server is there (or required).
        static var available: [Backend] { PostgresTestServer.enabled ? [.sqlite, .postgres] : [.sqlite] }
    }

    /// The three stores of one backend on an empty database, all on `clock`.
    struct Stores {
        var tasks: any TaskStore
        var idempotency: any IdempotencyStore
        var responses: any ResponseStore
    }

    private func withStores(
        _ backend: Backend, clock: ManualClock = ManualClock(), _ body: (Stores) async throws -> Void
    ) async throws {
        switch backend {
        case .sqlite:
            let directory = makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let store = try SQLiteStore(path: directory + "/tasks.db", configuration: clock.configuration)
            let stores = ConfiguredStores(sqlite: store)
            try await body(Stores(tasks: stores.tasks, idempotency: stores.idempotency, responses: stores.responses))
        case .postgres:
            try await withPostgresSchema { url in
                let store = try await PostgresStore(url: url, configuration: clock.postgres(instance: "contract"))
                defer { store.close() }
                let stores = ConfiguredStores(postgres: store)
                try await body(
                    Stores(tasks: stores.tasks, idempotency: stores.idempotency, responses: stores.responses))
            }
        }
    }

    private func create(
        _ store: any TaskStore, _ id: String, owner: String = "alice", agent: String = "a"
    )
        async throws -> TaskRecord
    {
        try await store.createTask(
            id: id, owner: owner, agent: agent, metadata: ["n": 1],
            steps: [PlannedStep(id: "s1", request: ["x": 1]), PlannedStep(id: "s2"), PlannedStep(id: "s3")])
    }

    @Test(arguments: Backend.available)
    func createdTasksAreExecutingWithTheirStepsPlannedAndGapFreeHistory(_ backend: Backend) async throws {
        try await withStores(backend) { s in
            let record = try await create(s.tasks, "t1")
            #expect(record.state == .executing && record.owner == "alice" && record.metadata == ["n": 1])
            let snapshot = try #require(try await s.tasks.task(id: "t1", owner: "alice"))
            #expect(snapshot.steps.map(\.stepID) == ["s1", "s2", "s3"])
            #expect(snapshot.steps.allSatisfy { $0.state == .pending && $0.attempts == 0 })
            #expect(snapshot.steps[0].request == ["x": 1])
            let history = try await s.tasks.events(taskID: "t1", owner: "alice", after: 0, limit: 100)
            #expect(history.map(\.seq) == Array(1...Int64(history.count)))
            #expect(history.first?.type == "task.created")
            #expect(try await s.tasks.events(taskID: "t1", owner: nil, after: 2, limit: 1).map(\.seq) == [3])
            let duplicate = await storeError { _ = try await create(s.tasks, "t1") }
            #expect(duplicate?.kind == .duplicate)
        }
    }

    @Test(arguments: Backend.available)
    func checkpointsApplyInOneTransactionAndARejectedChangeWritesNothing(_ backend: Backend) async throws {
        try await withStores(backend) { s in
            _ = try await create(s.tasks, "t1")
            _ = try await s.tasks.transition(
                taskID: "t1", owner: "alice", event: nil, stepUpdates: [.start(stepID: "s1")])
            let outcome = StepOutcome(
                state: .completed, provider: "openai", model: "m", output: "one", response: ["id": "r"],
                usage: ["total_tokens": 3])
            let done = try await s.tasks.transition(
                taskID: "t1", owner: "alice", event: .stepDone,
                stepUpdates: [.finish(stepID: "s1", outcome: outcome), .start(stepID: "s2")])
            #expect(done.state == .executing)
            let snapshot = try #require(try await s.tasks.task(id: "t1", owner: "alice"))
            #expect(snapshot.steps.map(\.state) == [.completed, .running, .pending])
            #expect(snapshot.steps[0].output == "one" && snapshot.steps[0].usage == ["total_tokens": 3])
            #expect(snapshot.steps[1].attempts == 1)

            let before = try await s.tasks.events(taskID: "t1", owner: nil, after: 0, limit: 1000)
            let refused = await storeError {
                _ = try await s.tasks.transition(
                    taskID: "t1", owner: "alice", event: .resume, stepUpdates: [.start(stepID: "s3")])
            }
            #expect(refused?.kind == .rejected && refused?.rejection?.kind == .invalidTransition)
            #expect(try await s.tasks.events(taskID: "t1", owner: nil, after: 0, limit: 1000) == before)
            #expect(try await s.tasks.task(id: "t1", owner: "alice") == snapshot, "nothing was written")
            let unknownStep = await storeError {
                _ = try await s.tasks.transition(
                    taskID: "t1", owner: nil, event: nil, stepUpdates: [.start(stepID: "nope")])
            }
            #expect(unknownStep?.kind == .notFound)

            let cancelled = try await s.tasks.transition(taskID: "t1", owner: "alice", event: .cancel, stepUpdates: [])
            #expect(cancelled.state == .cancelled)
            let after = try #require(try await s.tasks.task(id: "t1", owner: "alice"))
            #expect(after.steps.map(\.state) == [.completed, .cancelled, .cancelled], "open steps cancelled with it")
            let terminal = await storeError {
                _ = try await s.tasks.transition(taskID: "t1", owner: nil, event: nil, stepUpdates: [])
            }
            #expect(terminal?.kind == .rejected)
        }
    }

    @Test(arguments: Backend.available)
    func ownersAreIsolated(_ backend: Backend) async throws {
        try await withStores(backend) { s in
            _ = try await create(s.tasks, "t1", owner: "alice")
            #expect(try await s.tasks.task(id: "t1", owner: "bob") == nil)
            let write = await storeError {
                _ = try await s.tasks.transition(taskID: "t1", owner: "bob", event: .pause, stepUpdates: [])
            }
            #expect(write?.kind == .notFound)
            let read = await storeError {
                _ = try await s.tasks.events(taskID: "t1", owner: "bob", after: 0, limit: 10)
            }
            #expect(read?.kind == .notFound)
            #expect(try await s.tasks.listTasks(TaskQuery(owner: "bob")).tasks.isEmpty)
            #expect(try await s.tasks.task(id: "t1", owner: "alice")?.task.state == .executing)
        }
    }

    @Test(arguments: Backend.available)
    func listingIsNewestFirstInPagesWithFilters(_ backend: Backend) async throws {
        let clock = ManualClock()
        try await withStores(backend, clock: clock) { s in
            for i in 0..<5 {
                _ = try await create(s.tasks, "t\(i)", agent: i % 2 == 0 ? "even" : "odd")
                clock.advance(milliseconds: 1)
            }
            _ = try await create(s.tasks, "other", owner: "bob")
            _ = try await s.tasks.transition(taskID: "t3", owner: "alice", event: .pause, stepUpdates: [])
            let first = try await s.tasks.listTasks(TaskQuery(owner: "alice", limit: 2))
            #expect(first.tasks.map(\.task.id) == ["t4", "t3"] && first.hasMore)
            #expect(first.tasks[0].steps.count == 3, "each task with its steps")
            let second = try await s.tasks.listTasks(TaskQuery(owner: "alice", limit: 2, after: first.lastID))
            #expect(second.tasks.map(\.task.id) == ["t2", "t1"] && second.hasMore)
            let last = try await s.tasks.listTasks(TaskQuery(owner: "alice", limit: 2, after: second.lastID))
            #expect(last.tasks.map(\.task.id) == ["t0"] && !last.hasMore)
            #expect(
                try await s.tasks.listTasks(TaskQuery(owner: "alice", agent: "odd")).tasks.map(\.task.id) == [
                    "t3", "t1",
                ])
            #expect(
                try await s.tasks.listTasks(TaskQuery(owner: "alice", state: .paused)).tasks.map(\.task.id) == ["t3"])
            let limit = await storeError { _ = try await s.tasks.listTasks(TaskQuery(owner: "alice", limit: 0)) }
            #expect(limit?.kind == .invalidArgument)
            let cursor = await storeError { _ = try await s.tasks.listTasks(TaskQuery(owner: "alice", after: "other")) }
            #expect(cursor?.kind == .invalidArgument, "another owner's task is no cursor")
        }
    }

    @Test(arguments: Backend.available)
    func aRestartRequeuesTheStepInFlightAndKeepsCheckpointedSteps(_ backend: Backend) async throws {
        try await withStores(backend) { s in
            _ = try await create(s.tasks, "t1")
            _ = try await create(s.tasks, "t2")
            _ = try await s.tasks.transition(taskID: "t2", owner: nil, event: .pause, stepUpdates: [])
            _ = try await s.tasks.transition(taskID: "t1", owner: nil, event: nil, stepUpdates: [.start(stepID: "s1")])
            _ = try await s.tasks.transition(
                taskID: "t1", owner: nil, event: .stepDone,
                stepUpdates: [
                    .finish(stepID: "s1", outcome: StepOutcome(state: .completed, output: "one")), .start(stepID: "s2"),
                ])
            // Start-up after a crash, then the task taken up to run, as `TaskRuntime` does: a file
            // of one process requeues the step in flight in `resumeAfterRestart`; a shared store
            // when a process claims the task (until then it may be in flight in another live one).
            let points = try await s.tasks.resumeAfterRestart()
            #expect(points.map(\.task.id) == ["t1"], "paused tasks stay paused")
            #expect(points.first?.nextStep?.stepID == "s2")
            if let claims = s.tasks as? any TaskClaims { #expect(try await claims.claim(taskID: "t1")) }
            let snapshot = try #require(try await s.tasks.task(id: "t1", owner: "alice"))
            #expect(snapshot.steps.map(\.state) == [.completed, .pending, .pending])
            #expect(snapshot.steps[1].attempts == 1, "attempts kept")
            #expect(
                try await s.tasks.events(taskID: "t1", owner: nil, after: 0, limit: 100).last?.type == "step.requeued")
            #expect(try await s.tasks.resumableTasks().map(\.id) == ["t1"])
            #expect(try await s.tasks.taskStates(ids: ["t1", "t2", "nope"]) == ["t1": .executing, "t2": .paused])
            let counts = try await s.tasks.taskCounts()
            #expect(counts[.executing] == 1 && counts[.paused] == 1 && counts[.completed] == 0)
        }
    }

    @Test(arguments: Backend.available)
    func idempotencyFirstClaimWinsAndTheAnswerIsReplayedUntilItExpires(_ backend: Backend) async throws {
        let clock = ManualClock()
        try await withStores(backend, clock: clock) { s in
            let store = s.idempotency
            #expect(try await store.begin(owner: "app", key: "k", requestHash: "h", ttl: .seconds(60)) == .new)
            #expect(try await store.begin(owner: "app", key: "k", requestHash: "h", ttl: .seconds(60)) == .inFlight)
            #expect(try await store.begin(owner: "app", key: "k", requestHash: "x", ttl: .seconds(60)) == .mismatch)
            #expect(try await store.begin(owner: "other", key: "k", requestHash: "h", ttl: .seconds(60)) == .new)
            try await store.complete(
                owner: "app", key: "k", status: 200, body: [1, 2, 255], headers: [HeaderField("content-type", "a/b")])
            guard
                case .completed(let record) = try await store.begin(
                    owner: "app", key: "k", requestHash: "h", ttl: .seconds(60))
            else {
                Issue.record("expected the stored answer")
                return
            }
            #expect(record.status == 200 && record.body == [1, 2, 255])
            #expect(record.headers == [HeaderField("content-type", "a/b")])
            try await store.abandon(owner: "other", key: "k")
            #expect(try await store.begin(owner: "other", key: "k", requestHash: "h", ttl: .seconds(60)) == .new)
            clock.advance(milliseconds: 60_000)
            #expect(try await store.purgeExpired() >= 1)
            #expect(try await store.begin(owner: "app", key: "k", requestHash: "x", ttl: .seconds(60)) == .new)
        }
    }

    @Test(arguments: Backend.available)
    func conversationsKeepOwnershipAndRetention(_ backend: Backend) async throws {
        let clock = ManualClock()
        try await withStores(backend, clock: clock) { s in
            func turn(_ id: String, after previous: String?) -> ResponseRecord {
                ResponseRecord(
                    id: id, owner: "app", previousID: previous, inputItems: [["role": "user", "content": .string(id)]],
                    response: ["id": .string(id), "output": []])
            }
            try await s.responses.saveResponse(turn("r1", after: nil), ttl: .seconds(100))
            clock.advance(milliseconds: 60_000)
            try await s.responses.saveResponse(turn("r2", after: "r1"), ttl: .seconds(100))
            clock.advance(milliseconds: 60_000)
            #expect(try await s.responses.conversation(endingAt: "r2", owner: "app")?.map(\.id) == ["r1", "r2"])
            #expect(try await s.responses.conversation(endingAt: "r2", owner: "other") == nil)
            #expect(try await !s.responses.deleteResponse(id: "r1", owner: "other"))
            #expect(try await s.responses.deleteResponse(id: "r1", owner: "app"))
            #expect(try await s.responses.conversation(endingAt: "r2", owner: "app") == nil)
            clock.advance(milliseconds: 40_000)
            #expect(try await s.responses.response(id: "r2", owner: "app") == nil)
            #expect(try await s.responses.purgeExpiredResponses() == 1)
        }
    }
}
