import Foundation
import SwitchyardCore
import SwitchyardInbound
import SwitchyardTasks
import SwitchyardTestSupport
import Synchronization
import Testing

@testable import SwitchyardStore

/// What only the PostgreSQL store has: a server to reach, a schema shared by processes, its URL's
/// password, idempotency claims across processes and notifications of other processes' commits.
@Suite(.enabled(if: PostgresTestServer.enabled, "needs a PostgreSQL server (scripts/test-postgres)"))
struct PostgresStoreTests {
    @Test func opensMigratesOnceAndRefusesNewerOrForeignSchemas() async throws {
        try await withPostgresSchema { url in
            let stores = try await withThrowingTaskGroup(of: PostgresStore.self) { group in
                for _ in 0..<3 {
                    group.addTask { try await PostgresStore(url: url, configuration: .init(listen: false)) }
                }
                return try await group.reduce(into: [PostgresStore]()) { $0.append($1) }
            }
            #expect(try await stores[0].storedSchemaVersion() == PostgresStore.schemaVersion)
            #expect(PostgresStore.schemaVersion == SQLiteStore.schemaVersion, "one schema version per build")
            for store in stores { store.close() }

            try await PostgresStore.adminRun(url: url, "UPDATE switchyard_schema SET version = version + 1")
            let newer = await storeError { _ = try await PostgresStore(url: url, configuration: .init(listen: false)) }
            #expect(newer?.kind == .schemaTooNew)
        }
        try await withPostgresSchema { url in
            try await PostgresStore.adminRun(url: url, "CREATE TABLE tasks (id int)")
            let foreign = await storeError {
                _ = try await PostgresStore(url: url, configuration: .init(listen: false))
            }
            #expect(foreign?.kind == .foreignDatabase)
            #expect(foreign?.message.contains("1 tables") == true)
        }
    }

    @Test func anOutageShowsInTheStoresHealthWithoutAWriteAndStopsWrites() async throws {
        // A server of this test's own, stopped by its watcher once `sleep` (its life line) is killed.
        let lifeline = try LifeLine()
        defer { lifeline.kill() }
        let text = try PostgresTestServer.startServer(watching: lifeline.pid).get()
        let url = try #require(try? StoreURL.parse(text).get())
        let store = try PostgresStore(opening: url, configuration: .init(instanceID: "A", listen: true))
        defer { store.close() }
        #expect(await store.waitUntilListening())
        _ = try await store.createPlannedTask(id: "t", owner: "o", agent: "a", steps: [PlannedStep(id: "s")])
        #expect(store.healthFailure == nil)

        lifeline.kill()
        let deadline = ContinuousClock.now + .seconds(60)
        while store.healthFailure == nil, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        let down = try #require(store.healthFailure, "the outage did not show within 60 s")
        #expect(down.kind == .unavailable && down.isStoreFailure)
        #expect(!"\(down)".contains(text), "the URL (and its password) is not in the error")
        let write = await storeError { _ = try await store.createTask(id: "u", owner: "o", agent: "a") }
        #expect(write?.kind == .unavailable)
        #expect(store.lastWriteFailure?.kind == .unavailable)
    }

    @Test func aWrongPasswordOrAnUnreachableServerNeverShowsThePassword() async throws {
        let server = try PostgresTestServer.storeURL()
        let password = "wrong-\(UInt32.random(in: 0 ... .max))-secret"
        let at = try #require(server.value.firstIndex(of: "@"))
        let text = "postgres://switchyard:\(password)" + server.value[at...]
        let wrong = try #require(try? StoreURL.parse(text).get())
        #expect(!wrong.location.contains(password) && !"\(wrong)".contains(password))
        let error = await storeError { _ = try await PostgresStore(url: wrong, configuration: .init(listen: false)) }
        #expect(error?.kind == .unavailable)
        #expect(error.map { !"\($0)".contains(password) } == true)
        #expect(error?.message.contains("password authentication failed") == true)

        let closed = try #require(
            try? StoreURL.parse("postgresql://u:\(password)@127.0.0.1:1/db?sslmode=disable&password=\(password)").get())
        #expect(closed.location == "postgresql://u@127.0.0.1:1/db?sslmode=disable")
        let refused = await storeError { _ = try await PostgresStore(url: closed, configuration: .init(listen: false)) }
        #expect(refused?.kind == .unavailable)
        #expect(refused.map { !"\($0)".contains(password) } == true)
    }

    @Test func idempotencyClaimsAcrossProcessesFirstWinsAndADeadClaimIsTakenOver() async throws {
        let clock = ManualClock()
        try await withPostgresSchema { url in
            let stores = try await [
                PostgresStore(url: url, configuration: clock.postgres(instance: "A", lease: .seconds(10))),
                PostgresStore(url: url, configuration: clock.postgres(instance: "B", lease: .seconds(10))),
                PostgresStore(url: url, configuration: clock.postgres(instance: "C", lease: .seconds(10))),
            ]
            defer { for store in stores { store.close() } }
            let outcomes = try await withThrowingTaskGroup(of: (Int, IdempotencyBegin).self) { group in
                for (index, store) in stores.enumerated() {
                    group.addTask {
                        (
                            index,
                            try await store.beginIdempotent(owner: "app", key: "k", requestHash: "h", ttl: .seconds(60))
                        )
                    }
                }
                return try await group.reduce(into: [Int: IdempotencyBegin]()) { $0[$1.0] = $1.1 }
            }
            #expect(outcomes.values.filter { $0 == .new }.count == 1)
            #expect(outcomes.values.filter { $0 == .inFlight }.count == 2)
            let winner = try #require(outcomes.first { $0.value == .new }.map { stores[$0.key] })
            let other = try #require(stores.first { $0 !== winner })
            #expect(
                try await other.beginIdempotent(owner: "app", key: "k", requestHash: "x", ttl: .seconds(60))
                    == .mismatch)
            let notMine = await storeError {
                try await other.completeIdempotent(owner: "app", key: "k", status: 200, body: [], headers: [])
            }
            #expect(notMine?.kind == .notFound, "only the claimant completes")
            try await winner.completeIdempotent(
                owner: "app", key: "k", status: 200, body: [0, 1, 255], headers: [HeaderField("a", "b")])
            guard
                case .completed(let record) = try await other.beginIdempotent(
                    owner: "app", key: "k", requestHash: "h", ttl: .seconds(60))
            else {
                Issue.record("expected the stored answer")
                return
            }
            #expect(record.body == [0, 1, 255] && record.headers == [HeaderField("a", "b")])

            // A claim whose process died: kept while its lease lives, then taken over.
            #expect(
                try await stores[0].beginIdempotent(owner: "app", key: "d", requestHash: "h", ttl: .seconds(60)) == .new
            )
            stores[0].close()  // dies: no renewal, no abandon
            #expect(try await stores[1].releaseInFlightIdempotency() == 0, "a live claim is not released")
            #expect(
                try await stores[1].beginIdempotent(owner: "app", key: "d", requestHash: "h", ttl: .seconds(60))
                    == .inFlight)
            clock.advance(milliseconds: 10_000)
            #expect(
                try await stores[1].beginIdempotent(owner: "app", key: "d", requestHash: "h", ttl: .seconds(60)) == .new
            )
            #expect(
                try await stores[2].beginIdempotent(owner: "app", key: "d", requestHash: "h", ttl: .seconds(60))
                    == .inFlight)
        }
    }

    @Test func storedConversationsAreReadFromEveryProcessWithOwnershipAndRetention() async throws {
        let clock = ManualClock()
        try await withPostgresSchema { url in
            let a = try await PostgresStore(url: url, configuration: clock.postgres(instance: "A"))
            let b = try await PostgresStore(url: url, configuration: clock.postgres(instance: "B"))
            defer {
                a.close()
                b.close()
            }
            func turn(_ id: String, after previous: String?, owner: String = "app") -> ResponseRecord {
                ResponseRecord(
                    id: id, owner: owner, previousID: previous, inputItems: [["role": "user", "content": .string(id)]],
                    response: ["id": .string(id), "output": []])
            }
            try await a.saveResponse(turn("r1", after: nil), ttl: .seconds(100))
            clock.advance(milliseconds: 60_000)
            try await b.saveResponse(turn("r2", after: "r1"), ttl: .seconds(100))
            clock.advance(milliseconds: 60_000)
            let chain = try await a.conversation(endingAt: "r2", owner: "app")
            #expect(chain?.map(\.id) == ["r1", "r2"], "r1 lives 100 s past r2, not past its own save")
            #expect(try await b.conversation(endingAt: "r2", owner: "other") == nil)
            #expect(try await b.response(id: "r1", owner: "other") == nil)
            #expect(try await !b.deleteResponse(id: "r1", owner: "other"))
            #expect(try await b.deleteResponse(id: "r1", owner: "app"))
            #expect(
                try await a.conversation(endingAt: "r2", owner: "app") == nil, "a broken history is never sent half")
            #expect(try await a.response(id: "r2", owner: "app")?.previousID == "r1")
            clock.advance(milliseconds: 40_000)
            #expect(try await a.response(id: "r2", owner: "app") == nil)
            #expect(try await b.purgeExpiredResponses() == 1)
        }
    }

    @Test func anotherProcessCommitIsHeardAsAnExternalChange() async throws {
        try await withPostgresSchema { url in
            let a = try await PostgresStore(url: url, configuration: .init(instanceID: "A", listen: true))
            let b = try await PostgresStore(url: url, configuration: .init(instanceID: "B", listen: false))
            defer {
                a.close()
                b.close()
            }
            let heard = AsyncStream<PostgresStore.TaskChange>.makeStream()
            a.subscribe { heard.continuation.yield($0) }
            var changes = heard.stream.makeAsyncIterator()
            #expect(await a.waitUntilListening(), "the listener connects on its own thread")
            _ = try await a.createTask(id: "own", owner: "o", agent: "x")
            _ = try await b.createTask(id: "t", owner: "o", agent: "x")
            let before = a.externalChangeVersion()
            try await a.transition(taskID: "own", event: nil, events: [NewHistoryEvent(type: "ping", data: [:])])
            let own = await changes.next()
            #expect(own == PostgresStore.TaskChange(taskID: "own", state: "idle", external: false))
            #expect(a.externalChangeVersion() == before, "this process's own commit")
            try await b.transition(taskID: "t", event: .start)
            let change = await changes.next()
            #expect(change == PostgresStore.TaskChange(taskID: "t", state: "planning", external: true))
            #expect(a.externalChangeVersion() > before)
        }
    }
}

/// The SQL both stores share is written with `?` placeholders; PostgreSQL numbers them.
struct PostgresPlaceholderTests {
    @Test func questionMarksAreNumberedInOrderOutsideQuotes() {
        #expect(
            PostgresConnection.numbered("UPDATE t SET a = ?, b = 'it''s ?' WHERE \"c?\" = ? AND d = ?")
                == "UPDATE t SET a = $1, b = 'it''s ?' WHERE \"c?\" = $2 AND d = $3")
        #expect(PostgresConnection.numbered("SELECT 1 FROM t WHERE a = $1") == "SELECT 1 FROM t WHERE a = $1")
    }
}
