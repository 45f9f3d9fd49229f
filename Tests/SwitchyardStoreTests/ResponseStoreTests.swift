import SwitchyardCore
import SwitchyardInbound
import SwitchyardTasks
import Testing

@testable import SwitchyardStore

@Suite struct ResponseStoreTests {
    static func record(
        _ id: String, owner: String = "alice", previous: String? = nil, text: String = "hi"
    )
        -> ResponseRecord
    {
        ResponseRecord(
            id: id, owner: owner, previousID: previous,
            inputItems: [["id": .string("in_\(id)"), "type": "message", "role": "user", "content": .string(text)]],
            response: [
                "id": .string(id), "object": "response", "output": [["type": "message", "id": .string("msg_\(id)")]],
            ])
    }

    @Test func savedTurnIsReadBackOnlyByItsOwner() throws {
        try withTemporaryStore { store, _ throws in
            let r = Self.record("resp_1")
            try store.saveResponse(r, ttl: .seconds(60))
            #expect(try store.response(id: "resp_1", owner: "alice") == r)
            #expect(try store.response(id: "resp_1", owner: "bob") == nil)
            #expect(try store.deleteResponse(id: "resp_1", owner: "bob") == false)
            #expect(try store.response(id: "resp_1", owner: "alice") != nil, "another owner cannot delete it")
            #expect(try store.deleteResponse(id: "resp_1", owner: "alice"))
            #expect(try store.response(id: "resp_1", owner: "alice") == nil)
            #expect(try store.deleteResponse(id: "resp_1", owner: "alice") == false)
        }
    }

    @Test func conversationIsTheChainOldestFirstAndNilWhenATurnIsMissing() throws {
        try withTemporaryStore { store, _ throws in
            try store.saveResponse(Self.record("r1"), ttl: .seconds(60))
            try store.saveResponse(Self.record("r2", previous: "r1"), ttl: .seconds(60))
            try store.saveResponse(Self.record("r3", previous: "r2"), ttl: .seconds(60))
            #expect(try store.conversation(endingAt: "r3", owner: "alice")?.map(\.id) == ["r1", "r2", "r3"])
            #expect(try store.conversation(endingAt: "r2", owner: "alice")?.map(\.id) == ["r1", "r2"])
            #expect(try store.conversation(endingAt: "r3", owner: "bob") == nil)
            #expect(try store.deleteResponse(id: "r2", owner: "alice"))
            #expect(
                try store.conversation(endingAt: "r3", owner: "alice") == nil, "a broken history is never half sent")
        }
    }

    @Test func anotherOwnersTurnBreaksAChainItDoesNotOwn() throws {
        try withTemporaryStore { store, _ throws in
            try store.saveResponse(Self.record("r1", owner: "bob"), ttl: .seconds(60))
            try store.saveResponse(Self.record("r2", owner: "alice", previous: "r1"), ttl: .seconds(60))
            #expect(try store.conversation(endingAt: "r2", owner: "alice") == nil)
        }
    }

    @Test func aTurnExpiresButANewTurnKeepsItsWholeConversation() throws {
        let clock = ManualClock()
        try withTemporaryStore(configuration: clock.configuration) { store, _ throws in
            try store.saveResponse(Self.record("r1"), ttl: .seconds(10))
            try store.saveResponse(Self.record("lonely"), ttl: .seconds(10))
            clock.advance(milliseconds: 8_000)
            try store.saveResponse(Self.record("r2", previous: "r1"), ttl: .seconds(10))
            clock.advance(milliseconds: 2_000)
            #expect(try store.response(id: "lonely", owner: "alice") == nil, "expired at 10 s")
            #expect(try store.conversation(endingAt: "r2", owner: "alice")?.map(\.id) == ["r1", "r2"])
            #expect(try store.purgeExpiredResponses() == 1)
            clock.advance(milliseconds: 8_000)
            #expect(try store.conversation(endingAt: "r2", owner: "alice") == nil)
            #expect(try store.purgeExpiredResponses() == 2)
        }
    }

    @Test func aLongTTLIsNotClampedToAMonthOfMilliseconds() throws {
        let clock = ManualClock()
        try withTemporaryStore(configuration: clock.configuration) { store, _ throws in
            try store.saveResponse(Self.record("r1"), ttl: .seconds(30 * 86_400))
            clock.advance(milliseconds: 29 * 86_400_000)
            #expect(try store.response(id: "r1", owner: "alice") != nil)
        }
    }

    @Test func migratesVersionTwoWithDataToVersionThree() throws {
        try withTemporaryDirectory { directory throws in
            let path = directory + "/v2.db"
            do {
                let raw = try SQLiteConnection(path: path, readOnly: false, create: true, busyTimeoutMilliseconds: 100)
                try raw.execute(Schema.migrations[0])
                try raw.execute(Schema.migrations[1])
                try raw.execute("PRAGMA user_version = 2")
                try raw.execute(
                    """
                    INSERT INTO idempotency (owner, key, request_hash, state, status, body, created_at, expires_at)
                    VALUES ('alice', 'k', 'h', 'completed', 200, X'7B7D', 1, 99999999999999)
                    """)
            }
            let store = try SQLiteStore(path: path)
            #expect(try store.storedSchemaVersion() == 3)
            guard
                case .completed(let kept) = try store.beginIdempotent(
                    owner: "alice", key: "k", requestHash: "h", ttl: .seconds(60))
            else {
                Issue.record("the idempotency record did not survive the migration")
                return
            }
            #expect(kept.body == Array("{}".utf8))
            try store.saveResponse(Self.record("r1"), ttl: .seconds(60))
            #expect(try store.response(id: "r1", owner: "alice")?.id == "r1")
        }
    }
}
