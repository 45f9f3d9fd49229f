import Foundation
import Glibc
import SwitchyardCore
import SwitchyardTestSupport
import Testing

/// Idempotency keys and stored conversations across three real `serve` processes on one
/// PostgreSQL database (`Replicas`): what a client behind a load balancer sees when its retry or
/// its next turn lands on another pod.
@Suite(.timeLimit(.minutes(3)))
struct ReplicaSharingProcessTests {
    /// A key answered by A is replayed by B and C with A's stored answer (same body and id, the
    /// replay header), one upstream call in all; a duplicate sent to B while A's call is held
    /// upstream waits for A's answer and gets it, still one upstream call.
    @Test func anIdempotencyKeyReplayedOnAnotherProcessGetsTheStoredAnswer() async throws {
        try #require(PostgresTestServer.enabled, "\(PostgresTestServer.reason ?? "")")
        let llm = try GatedLLM()
        defer { llm.stop() }
        let held = llm.gate("held upstream")
        defer { held.open() }
        // Debug logs: B says when it waits for a key in flight elsewhere.
        let replicas = try await Replicas(count: 3, upstreamPort: llm.server.port, arguments: ["--log-level", "debug"])
        defer { replicas.stop() }

        let chat = #"{"model":"smart","messages":[{"role":"user","content":"only once"}]}"#
        let key = [HeaderField("Idempotency-Key", "replica-key-1")]
        let first = try await replicas.call(0, "POST", "/v1/chat/completions", chat, headers: key)
        #expect(first.head.status == 200, "\(first.text)")
        #expect(first.header("x-switchyard-replayed") == nil)
        let id = try #require(first.json?["id"]?.stringValue)
        for other in [1, 2] {
            let replayed = try await replicas.call(other, "POST", "/v1/chat/completions", chat, headers: key)
            #expect(replayed.head.status == 200, "\(replayed.text)")
            #expect(replayed.body == first.body, "the stored answer")
            #expect(replayed.json?["id"]?.stringValue == id)
            #expect(replayed.header("x-switchyard-replayed") == "true")
        }
        #expect(llm.requests(containing: "only once").count == 1, "one upstream call")

        let slow = #"{"model":"smart","messages":[{"role":"user","content":"held upstream"}]}"#
        let slowKey = [HeaderField("Idempotency-Key", "replica-key-2")]
        async let original = replicas.call(0, "POST", "/v1/chat/completions", slow, headers: slowKey)
        try await within(60, "A's call to reach the upstream") { await llm.server.waitForRequests(2) }
        async let duplicate = replicas.call(1, "POST", "/v1/chat/completions", slow, headers: slowKey)
        // B found the key in flight (A's claim) before the gate opens (its log, polled: a wait for
        // a line that never comes would not end at the time limit).
        let b = replicas[1].process
        try await within(60, "B to wait for the key in flight on A") {
            while !b.stderr.contains("idempotency key in flight elsewhere") {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        held.open()
        let (o, d) = try await (original, duplicate)
        #expect(o.head.status == 200 && d.head.status == 200, "\(o.text) / \(d.text)")
        #expect(d.body == o.body, "A's answer")
        #expect(d.header("x-switchyard-replayed") == "true")
        #expect(llm.requests(containing: "held upstream").count == 1, "one upstream call")
        replicas.expectNoSecretsLogged()
    }

    /// A conversation started on A continues on B: B's upstream request carries turn one whole
    /// (the user's text and A's answer); C reads both turns; another client key finds neither.
    @Test func aConversationStartedOnOneProcessContinuesOnAnother() async throws {
        try #require(PostgresTestServer.enabled, "\(PostgresTestServer.reason ?? "")")
        let llm = try GatedLLM()
        defer { llm.stop() }
        let replicas = try await Replicas(count: 3, upstreamPort: llm.server.port)
        defer { replicas.stop() }

        let turn = try await replicas.call(
            0, "POST", "/v1/responses", #"{"model":"smart","input":"turn one about otters","store":true}"#)
        #expect(turn.head.status == 200, "\(turn.text)")
        let turnID = try #require(turn.json?["id"]?.stringValue)
        let next = try await replicas.call(
            1, "POST", "/v1/responses",
            #"{"model":"smart","input":"recap","previous_response_id":"\#(turnID)"}"#)
        #expect(next.head.status == 200, "\(next.text)")
        #expect(next.json?["previous_response_id"]?.stringValue == turnID)
        let nextID = try #require(next.json?["id"]?.stringValue)
        let upstream = try #require(llm.requests(containing: "recap").first).bodyText
        #expect(upstream.contains("turn one about otters"), "\(upstream)")
        #expect(upstream.contains("Hello from the mock: turn one about otters"), "A's answer: \(upstream)")
        #expect(llm.requests(containing: "recap").count == 1)

        let readFirst = try await replicas.call(2, "GET", "/v1/responses/\(turnID)")
        #expect(readFirst.head.status == 200, "\(readFirst.text)")
        #expect(readFirst.json == turn.json, "the stored turn as A answered it")
        let readNext = try await replicas.call(2, "GET", "/v1/responses/\(nextID)")
        #expect(readNext.json?["previous_response_id"]?.stringValue == turnID, "\(readNext.text)")

        for (method, path, body) in [
            ("GET", "/v1/responses/\(turnID)", ""),
            ("POST", "/v1/responses", #"{"model":"smart","input":"not yours","previous_response_id":"\#(turnID)"}"#),
        ] {
            let other = try await replicas.call(1, method, path, body, key: OtherKey.secret)
            #expect(other.head.status == 404, "\(method) \(path) as another key: \(other.text)")
        }
        #expect(llm.requests(containing: "not yours").isEmpty, "nothing sent upstream for another key")
        replicas.expectNoSecretsLogged()
    }
}
