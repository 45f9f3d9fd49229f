import SwitchyardCore
import SwitchyardInbound
import SwitchyardTasks
import Testing

@testable import SwitchyardStore

@Suite struct IdempotencyTests {
    @Test func newInFlightCompletedMismatchAndExpiry() throws {
        let clock = ManualClock()
        try withTemporaryStore(configuration: clock.configuration) { store, _ throws in
            func begin(_ hash: String = "h1", owner: String = "alice") throws -> IdempotencyBegin {
                try store.beginIdempotent(owner: owner, key: "k1", requestHash: hash, ttl: .seconds(60))
            }
            #expect(try begin() == .new)
            #expect(try begin() == .inFlight)
            #expect(try begin("h2") == .mismatch)
            #expect(try begin(owner: "bob") == .new, "keys are per owner")

            let headers = [HeaderField("x-request-id", "r1"), HeaderField("x-a", "1")]
            try store.completeIdempotent(
                owner: "alice", key: "k1", status: 201, body: Array("{}".utf8), headers: headers)
            clock.advance(milliseconds: 59_999)
            guard case .completed(let record) = try begin() else {
                Issue.record("expected completed")
                return
            }
            #expect(record.status == 201 && record.body == Array("{}".utf8) && record.headers == headers)
            #expect(record.createdAt == 1_700_000_000_000 && record.expiresAt == 1_700_000_060_000)
            #expect(try begin("h2") == .mismatch)

            clock.advance(milliseconds: 1)
            #expect(try store.purgeExpiredIdempotency() == 2)
            #expect(try begin("h2") == .new, "an expired key is free again")
        }
    }

    @Test func expiredRecordIsReplacedWithoutPurge() throws {
        let clock = ManualClock()
        try withTemporaryStore(configuration: clock.configuration) { store, _ throws in
            #expect(try store.beginIdempotent(owner: "a", key: "k", requestHash: "h", ttl: .milliseconds(10)) == .new)
            clock.advance(milliseconds: 10)
            #expect(try store.beginIdempotent(owner: "a", key: "k", requestHash: "other", ttl: .seconds(1)) == .new)
            #expect(
                try store.beginIdempotent(owner: "a", key: "k", requestHash: "other", ttl: .seconds(1)) == .inFlight)
        }
    }

    @Test func completeNeedsAnInFlightRecordAndAbandonFreesTheKey() throws {
        try withTemporaryStore { store, _ throws in
            let error = storeError {
                try store.completeIdempotent(owner: "a", key: "k", status: 200, body: [], headers: [])
            }
            #expect(error?.kind == .notFound)
            #expect(try store.beginIdempotent(owner: "a", key: "k", requestHash: "h", ttl: .seconds(5)) == .new)
            try store.abandonIdempotent(owner: "a", key: "k")
            #expect(try store.beginIdempotent(owner: "a", key: "k", requestHash: "h", ttl: .seconds(5)) == .new)
            try store.completeIdempotent(owner: "a", key: "k", status: 200, body: [], headers: [])
            guard
                case .completed(let record) = try store.beginIdempotent(
                    owner: "a", key: "k", requestHash: "h", ttl: .seconds(5))
            else {
                Issue.record("expected completed")
                return
            }
            #expect(record.body.isEmpty && record.headers.isEmpty)
        }
    }

    @Test func startUpReleasesInFlightClaimsButKeepsCompletedAnswers() throws {
        try withTemporaryStore { store, _ throws in
            #expect(try store.beginIdempotent(owner: "a", key: "dead", requestHash: "h", ttl: .seconds(60)) == .new)
            #expect(try store.beginIdempotent(owner: "a", key: "done", requestHash: "h", ttl: .seconds(60)) == .new)
            try store.completeIdempotent(owner: "a", key: "done", status: 200, body: Array("ok".utf8), headers: [])
            #expect(
                try store.beginIdempotent(owner: "a", key: "dead", requestHash: "h", ttl: .seconds(60)) == .inFlight)

            #expect(try store.releaseInFlightIdempotency() == 1)
            #expect(try store.beginIdempotent(owner: "a", key: "dead", requestHash: "h", ttl: .seconds(60)) == .new)
            guard
                case .completed(let record) = try store.beginIdempotent(
                    owner: "a", key: "done", requestHash: "h", ttl: .seconds(60))
            else {
                Issue.record("a completed answer must survive the release")
                return
            }
            #expect(record.body == Array("ok".utf8))
        }
    }
}
