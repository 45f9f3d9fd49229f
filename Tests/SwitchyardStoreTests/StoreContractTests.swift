import Foundation
import SwitchyardCore
import SwitchyardInbound
import SwitchyardTasks
import SwitchyardTestSupport
import Testing

@testable import SwitchyardStore

/// The stores' shared promises, checked with the same test on both backends: SQLite on a
/// temporary file, PostgreSQL in a scratch schema of the suite's server (the PostgreSQL cases are
/// skipped, with the reason, only where no server can be started; `scripts/test` requires one).
///
/// `Backend` reaches both through one async surface of the operations the gateway uses; it gives
/// way to the storage protocols once the task runtime sits behind them.
@Suite struct StoreContractTests {
    enum Kind: String, CustomTestStringConvertible, Sendable {
        case sqlite, postgres
        var testDescription: String { rawValue }
        /// SQLite always; PostgreSQL when a server is there (or required).
        static var available: [Kind] { PostgresTestServer.enabled ? [.sqlite, .postgres] : [.sqlite] }
    }

    /// One backend on an empty database.
    struct Backend: Sendable {
        var sqlite: SQLiteStore?
        var postgres: PostgresStore?

        func create(_ id: String, owner: String = "alice", agent: String = "a") async throws -> TaskRecord {
            let steps = [PlannedStep(id: "s1", request: ["x": 1]), PlannedStep(id: "s2"), PlannedStep(id: "s3")]
            if let s = sqlite {
                return try await s.perform { s throws(StoreError) in
                    try s.createPlannedTask(id: id, owner: owner, agent: agent, metadata: ["n": 1], steps: steps)
                }
            }
            return try await postgres!.createPlannedTask(
                id: id, owner: owner, agent: agent, metadata: ["n": 1], steps: steps)
        }

        @discardableResult
        func transition(
            _ id: String, owner: String? = nil, _ event: TaskEvent?, _ updates: [StepUpdate] = []
        ) async throws -> TaskRecord {
            if let s = sqlite {
                return try await s.perform { s throws(StoreError) in
                    try s.transition(taskID: id, owner: owner, event: event, stepUpdates: updates)
                }
            }
            return try await postgres!.transition(taskID: id, owner: owner, event: event, stepUpdates: updates)
        }

        func task(_ id: String, owner: String = "alice") async throws -> TaskSnapshot? {
            if let s = sqlite {
                return try await s.perform { s throws(StoreError) in try s.task(id: id, owner: owner) }
            }
            return try await postgres!.task(id: id, owner: owner)
        }

        func list(
            owner: String = "alice", state: TaskState? = nil, agent: String? = nil, limit: Int = 20,
            after: String? = nil
        ) async throws -> (ids: [String], hasMore: Bool) {
            if let s = sqlite {
                let page = try await s.perform { s throws(StoreError) in
                    try s.listTaskSnapshots(
                        TaskQuery(owner: owner, state: state, agent: agent, limit: limit, after: after))
                }
                return (page.tasks.map(\.task.id), page.hasMore)
            }
            let page = try await postgres!.listTaskSnapshots(
                owner: owner, state: state, agent: agent, limit: limit, after: after)
            return (page.tasks.map(\.task.id), page.hasMore)
        }

        func events(_ id: String, owner: String? = nil, after: Int64 = 0) async throws -> [HistoryEvent] {
            if let s = sqlite {
                return try await s.perform { s throws(StoreError) in
                    try s.events(taskID: id, owner: owner, after: after)
                }
            }
            return try await postgres!.events(taskID: id, owner: owner, after: after)
        }

        /// Start-up after a crash, then the task taken up to run: SQLite requeues the step in flight
        /// in `resumeAfterRestart`; PostgreSQL when a process claims the task (the step may still
        /// be in flight in another live process until then).
        func restart(running id: String) async throws -> [ResumePoint] {
            if let s = sqlite { return try await s.perform { s throws(StoreError) in try s.resumeAfterRestart() } }
            let points = try await postgres!.resumeAfterRestart()
            #expect(try await postgres!.claim(taskID: id))
            return points
        }

        func states(_ ids: [String]) async throws -> [String: TaskState] {
            if let s = sqlite { return try await s.perform { s throws(StoreError) in try s.taskStates(ids: ids) } }
            return try await postgres!.taskStates(ids: ids)
        }

        func counts() async throws -> [TaskState: Int] {
            if let s = sqlite { return try await s.perform { s throws(StoreError) in try s.taskCounts() } }
            return try await postgres!.taskCounts()
        }

        func begin(_ owner: String, _ key: String, _ hash: String) async throws -> IdempotencyBegin {
            if let s = sqlite {
                return try await s.perform { s throws(StoreError) in
                    try s.beginIdempotent(owner: owner, key: key, requestHash: hash, ttl: .seconds(60))
                }
            }
            return try await postgres!.beginIdempotent(owner: owner, key: key, requestHash: hash, ttl: .seconds(60))
        }

        func complete(_ owner: String, _ key: String, body: [UInt8], headers: [HeaderField]) async throws {
            if let s = sqlite {
                return try await s.perform { s throws(StoreError) in
                    try s.completeIdempotent(owner: owner, key: key, status: 200, body: body, headers: headers)
                }
            }
            try await postgres!.completeIdempotent(owner: owner, key: key, status: 200, body: body, headers: headers)
        }

        func abandon(_ owner: String, _ key: String) async throws {
            if let s = sqlite {
                return try await s.perform { s throws(StoreError) in try s.abandonIdempotent(owner: owner, key: key) }
            }
            try await postgres!.abandonIdempotent(owner: owner, key: key)
        }

        func purgeExpiredIdempotency() async throws -> Int {
            if let s = sqlite { return try await s.perform { s throws(StoreError) in try s.purgeExpiredIdempotency() } }
            return try await postgres!.purgeExpiredIdempotency()
        }

        var responses: any ResponseStore { sqlite.map { SQLiteResponseStore($0) } ?? postgres! }
    }

    private func withBackend(
        _ kind: Kind, clock: ManualClock = ManualClock(), _ body: (Backend) async throws -> Void
    )
        async throws
    {
        switch kind {
        case .sqlite:
            let directory = makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let store = try SQLiteStore(path: directory + "/tasks.db", configuration: clock.configuration)
            try await body(Backend(sqlite: store))
        case .postgres:
            try await withPostgresSchema { url in
                let store = try await PostgresStore(url: url, configuration: clock.postgres(instance: "contract"))
                defer { store.close() }
                try await body(Backend(postgres: store))
            }
        }
    }

    @Test(arguments: Kind.available)
    func aCreatedTaskIsExecutingWithItsStepsPlannedAndGapFreeHistory(_ kind: Kind) async throws {
        try await withBackend(kind) { b in
            let record = try await b.create("t1")
            #expect(record.state == .executing && record.owner == "alice" && record.metadata == ["n": 1])
            let snapshot = try #require(try await b.task("t1"))
            #expect(snapshot.steps.map(\.stepID) == ["s1", "s2", "s3"])
            #expect(snapshot.steps.allSatisfy { $0.state == .pending && $0.attempts == 0 })
            #expect(snapshot.steps[0].request == ["x": 1])
            let history = try await b.events("t1", owner: "alice")
            #expect(history.map(\.seq) == Array(1...Int64(history.count)))
            #expect(history.first?.type == "task.created")
            #expect(try await b.events("t1", after: 2).first?.seq == 3)
            let duplicate = await storeError { _ = try await b.create("t1") }
            #expect(duplicate?.kind == .duplicate)
        }
    }

    @Test(arguments: Kind.available)
    func checkpointsAreOneTransactionAndARejectedChangeWritesNothing(_ kind: Kind) async throws {
        try await withBackend(kind) { b in
            _ = try await b.create("t1")
            try await b.transition("t1", owner: "alice", nil, [.start(stepID: "s1")])
            let outcome = StepOutcome(
                state: .completed, provider: "openai", model: "m", output: "one", response: ["id": "r"],
                usage: ["total_tokens": 3])
            let done = try await b.transition(
                "t1", owner: "alice", .stepDone, [.finish(stepID: "s1", outcome: outcome), .start(stepID: "s2")])
            #expect(done.state == .executing)
            let snapshot = try #require(try await b.task("t1"))
            #expect(snapshot.steps.map(\.state) == [.completed, .running, .pending])
            #expect(snapshot.steps[0].output == "one" && snapshot.steps[0].usage == ["total_tokens": 3])
            #expect(snapshot.steps[1].attempts == 1)

            let before = try await b.events("t1")
            let refused = await storeError {
                try await b.transition("t1", owner: "alice", .resume, [.start(stepID: "s3")])
            }
            #expect(refused?.kind == .rejected && refused?.rejection != nil)
            #expect(try await b.events("t1") == before)
            #expect(try await b.task("t1") == snapshot, "nothing was written")
            let unknownStep = await storeError { try await b.transition("t1", nil, [.start(stepID: "nope")]) }
            #expect(unknownStep?.kind == .notFound)

            #expect(try await b.transition("t1", owner: "alice", .cancel).state == .cancelled)
            let after = try #require(try await b.task("t1"))
            #expect(after.steps.map(\.state) == [.completed, .cancelled, .cancelled], "open steps cancelled with it")
            let terminal = await storeError { try await b.transition("t1", nil, []) }
            #expect(terminal?.kind == .rejected)
        }
    }

    @Test(arguments: Kind.available)
    func ownersAreIsolated(_ kind: Kind) async throws {
        try await withBackend(kind) { b in
            _ = try await b.create("t1")
            #expect(try await b.task("t1", owner: "bob") == nil)
            let write = await storeError { try await b.transition("t1", owner: "bob", .pause) }
            #expect(write?.kind == .notFound)
            let read = await storeError { _ = try await b.events("t1", owner: "bob") }
            #expect(read?.kind == .notFound)
            #expect(try await b.list(owner: "bob").ids.isEmpty)
            #expect(try await b.task("t1")?.task.state == .executing)
        }
    }

    @Test(arguments: Kind.available)
    func listingIsNewestFirstInPagesWithFilters(_ kind: Kind) async throws {
        let clock = ManualClock()
        try await withBackend(kind, clock: clock) { b in
            for i in 0..<5 {
                _ = try await b.create("t\(i)", agent: i % 2 == 0 ? "even" : "odd")
                clock.advance(milliseconds: 1)
            }
            _ = try await b.create("other", owner: "bob")
            try await b.transition("t3", owner: "alice", .pause)
            let first = try await b.list(limit: 2)
            #expect(first.ids == ["t4", "t3"] && first.hasMore)
            let second = try await b.list(limit: 2, after: first.ids.last)
            #expect(second.ids == ["t2", "t1"] && second.hasMore)
            let last = try await b.list(limit: 2, after: second.ids.last)
            #expect(last.ids == ["t0"] && !last.hasMore)
            #expect(try await b.list(agent: "odd").ids == ["t3", "t1"])
            #expect(try await b.list(state: .paused).ids == ["t3"])
            let limit = await storeError { _ = try await b.list(limit: 0) }
            #expect(limit?.kind == .invalidArgument)
            let cursor = await storeError { _ = try await b.list(after: "other") }
            #expect(cursor?.kind == .invalidArgument, "another owner's task is no cursor")
        }
    }

    @Test(arguments: Kind.available)
    func afterACrashTheStepInFlightRunsAgainAndCheckpointedStepsStayDone(_ kind: Kind) async throws {
        try await withBackend(kind) { b in
            _ = try await b.create("t1")
            _ = try await b.create("t2")
            try await b.transition("t2", .pause)
            try await b.transition("t1", nil, [.start(stepID: "s1")])
            try await b.transition(
                "t1", .stepDone,
                [.finish(stepID: "s1", outcome: StepOutcome(state: .completed, output: "one")), .start(stepID: "s2")])
            let points = try await b.restart(running: "t1")
            #expect(points.map(\.task.id) == ["t1"], "paused tasks stay paused")
            #expect(points.first?.nextStep?.stepID == "s2")
            let snapshot = try #require(try await b.task("t1"))
            #expect(snapshot.steps.map(\.state) == [.completed, .pending, .pending])
            #expect(snapshot.steps[0].output == "one" && snapshot.steps[1].attempts == 1, "attempts kept")
            #expect(try await b.events("t1").last?.type == "step.requeued")
            #expect(try await b.states(["t1", "t2", "nope"]) == ["t1": .executing, "t2": .paused])
            let counts = try await b.counts()
            #expect(counts[.executing] == 1 && counts[.paused] == 1 && (counts[.completed] ?? 0) == 0)
        }
    }

    @Test(arguments: Kind.available)
    func idempotencyFirstClaimWinsAndTheAnswerIsReplayedUntilItExpires(_ kind: Kind) async throws {
        let clock = ManualClock()
        try await withBackend(kind, clock: clock) { b in
            #expect(try await b.begin("app", "k", "h") == .new)
            #expect(try await b.begin("app", "k", "h") == .inFlight)
            #expect(try await b.begin("app", "k", "x") == .mismatch)
            #expect(try await b.begin("other", "k", "h") == .new, "keys are per owner")
            try await b.complete(
                "app", "k", body: [1, 2, 255], headers: [HeaderField("content-type", "a/b")])
            guard case .completed(let record) = try await b.begin("app", "k", "h") else {
                Issue.record("expected the stored answer")
                return
            }
            #expect(record.status == 200 && record.body == [1, 2, 255])
            #expect(record.headers == [HeaderField("content-type", "a/b")])
            try await b.abandon("other", "k")
            #expect(try await b.begin("other", "k", "h") == .new, "an abandoned claim runs again")
            clock.advance(milliseconds: 60_000)
            #expect(try await b.purgeExpiredIdempotency() >= 1)
            #expect(try await b.begin("app", "k", "x") == .new, "an expired record is gone")
        }
    }

    @Test(arguments: Kind.available)
    func conversationsKeepOwnershipAndRetention(_ kind: Kind) async throws {
        let clock = ManualClock()
        try await withBackend(kind, clock: clock) { b in
            func turn(_ id: String, after previous: String?) -> ResponseRecord {
                ResponseRecord(
                    id: id, owner: "app", previousID: previous, inputItems: [["role": "user", "content": .string(id)]],
                    response: ["id": .string(id), "output": []])
            }
            let responses = b.responses
            try await responses.saveResponse(turn("r1", after: nil), ttl: .seconds(100))
            clock.advance(milliseconds: 60_000)
            try await responses.saveResponse(turn("r2", after: "r1"), ttl: .seconds(100))
            clock.advance(milliseconds: 60_000)
            #expect(try await responses.conversation(endingAt: "r2", owner: "app")?.map(\.id) == ["r1", "r2"])
            #expect(try await responses.conversation(endingAt: "r2", owner: "other") == nil)
            #expect(try await !responses.deleteResponse(id: "r1", owner: "other"))
            #expect(try await responses.deleteResponse(id: "r1", owner: "app"))
            #expect(try await responses.conversation(endingAt: "r2", owner: "app") == nil)
            clock.advance(milliseconds: 40_000)
            #expect(try await responses.response(id: "r2", owner: "app") == nil)
            #expect(try await responses.purgeExpiredResponses() == 1)
        }
    }
}
