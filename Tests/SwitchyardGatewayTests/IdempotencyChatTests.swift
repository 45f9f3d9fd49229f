import Foundation
import SwitchyardCore
import SwitchyardGateway
import SwitchyardTestSupport
import SwitchyardUpstream
import Testing

/// `Idempotency-Key` on chat completions against a real gateway and a mock upstream.
@Suite struct IdempotencyChatTests {
    static let body = #"{"model":"smart","messages":[{"role":"user","content":"charge the card"}]}"#
    static let streamBody =
        #"{"model":"smart","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"one two three"}]}"#

    func key(_ k: String) -> [HeaderField] { [HeaderField("Idempotency-Key", k)] }

    @Test func repeatIsReplayedWithoutAnUpstreamCall() async throws {
        try await withTaskGateway { h, llm in
            let first = try await h.chat(Self.body, headers: key("k-1"))
            #expect(first.head.status == 200)
            #expect(first.header("x-switchyard-replayed") == nil)
            let second = try await h.chat(Self.body, headers: key("k-1"))
            #expect(second.head.status == 200)
            #expect(second.header("x-switchyard-replayed") == "true")
            #expect(second.body == first.body)
            #expect(second.header("x-switchyard-provider") == "openai")
            #expect(second.header("content-type") == "application/json")
            #expect(second.header("x-request-id") != first.header("x-request-id"))
            #expect(llm.server.requestCount == 1)
            // Without the header, or under another key, the upstream is called again.
            _ = try await h.chat(Self.body)
            _ = try await h.chat(Self.body, headers: key("k-2"))
            #expect(llm.server.requestCount == 3)
        }
    }

    @Test func sameKeyWithAnotherBodyIs422() async throws {
        try await withTaskGateway { h, llm in
            #expect(try await h.chat(Self.body, headers: key("k")).head.status == 200)
            let changed = try await h.chat(Self.body.replacingOccurrences(of: "card", with: "cart"), headers: key("k"))
            #expect(changed.head.status == 422)
            #expect(changed.json?["error"]?["code"] == "idempotency_key_reused")
            #expect(changed.json?["error"]?["type"] == "invalid_request_error")
            #expect(llm.server.requestCount == 1)
        }
    }

    @Test func keysAreScopedToTheClientKey() async throws {
        try await withTaskGateway { h, llm in
            #expect(try await h.chat(Self.body, headers: key("shared")).head.status == 200)
            let other = try await h.request(
                "POST", "/v1/chat/completions",
                body: Self.streamBody.replacingOccurrences(of: "\"stream\":true,", with: ""),
                headers: key("shared"), key: OtherKey.secret)
            #expect(other.head.status == 200)
            #expect(other.header("x-switchyard-replayed") == nil)
            #expect(llm.server.requestCount == 2)
        }
    }

    @Test func concurrentDuplicatesMakeOneUpstreamCall() async throws {
        try await withTaskGateway { h, llm in
            let gate = llm.gate("charge the card")
            async let a = h.chat(Self.body, headers: key("dup"))
            async let b = h.chat(Self.body, headers: key("dup"))
            async let c = h.chat(Self.body, headers: key("dup"))
            await llm.server.waitForRequests(1)
            gate.open()
            let answers = try await [a, b, c]
            #expect(answers.map(\.head.status) == [200, 200, 200])
            #expect(Set(answers.map(\.body)).count == 1)
            #expect(answers.filter { $0.header("x-switchyard-replayed") == "true" }.count == 2)
            #expect(llm.server.requestCount == 1)
        }
    }

    @Test func failuresReleaseTheKey() async throws {
        try await withTaskGateway { h, llm in
            let badModel = Self.body.replacingOccurrences(of: "smart", with: "nope")
            #expect(try await h.chat(badModel, headers: key("retry")).head.status == 404)
            llm.server.setHandler { _ in
                .json(status: 503, ["error": ["message": "overloaded", "type": "server_error"]])
            }
            #expect(try await h.chat(Self.body, headers: key("retry")).head.status == 503)
            llm.server.setHandler { MockLLM().respond($0) }
            let ok = try await h.chat(Self.body, headers: key("retry"))
            #expect(ok.head.status == 200)
            #expect(ok.header("x-switchyard-replayed") == nil)
            #expect(try await h.chat(Self.body, headers: key("retry")).header("x-switchyard-replayed") == "true")
        }
    }

    @Test func streamedAnswerIsAssembledAndReplayedAsAStream() async throws {
        try await withTaskGateway { h, llm in
            let first = try await h.chat(Self.streamBody, headers: key("s-1"))
            #expect(first.head.status == 200)
            let second = try await h.chat(Self.streamBody, headers: key("s-1"))
            #expect(second.head.status == 200)
            #expect(second.header("x-switchyard-replayed") == "true")
            #expect(second.header("content-type") == "text/event-stream")
            #expect(llm.server.requestCount == 1)
            let original = try chunks(first.text)
            let replayed = try chunks(second.text)
            #expect(text(of: replayed) == "Hello from the mock: one two three")
            #expect(text(of: replayed) == text(of: original))
            #expect(replayed.first?["choices"]?.arrayValue?.first?["delta"]?["role"] == "assistant")
            #expect(replayed.dropLast().last?["choices"]?.arrayValue?.first?["finish_reason"] == "stop")
            #expect(replayed.last?["usage"] == original.last?["usage"])
            #expect(replayed.first?["id"] == original.first?["id"])
            #expect(second.text.hasSuffix("data: [DONE]\n\n"))
        }
    }

    @Test func replayOutlivesARestart() async throws {
        let llm = try GatedLLM()
        defer { llm.stop() }
        let path = temporaryStorePath("idem-restart")
        defer { removeStore(path) }
        let first = try await startTaskGateway(mock: llm.server, storePath: path)
        let original = try await first.chat(Self.body, headers: key("survives"))
        first.server.stop()
        first.client.shutdown()

        let second = try await startTaskGateway(mock: llm.server, storePath: path)
        defer {
            second.server.stop()
            second.client.shutdown()
        }
        let replayed = try await second.chat(Self.body, headers: key("survives"))
        #expect(replayed.head.status == 200)
        #expect(replayed.header("x-switchyard-replayed") == "true")
        #expect(replayed.body == original.body)
        #expect(llm.server.requestCount == 1)
    }

    @Test func invalidKeyIs400() async throws {
        try await withTaskGateway { h, llm in
            let r = try await h.chat(Self.body, headers: key(String(repeating: "k", count: 300)))
            #expect(r.head.status == 400)
            #expect(r.json?["error"]?["code"] == "invalid_idempotency_key")
            #expect(llm.server.requestCount == 0)
        }
    }

    /// The JSON chunks of an SSE body, without `[DONE]`.
    func chunks(_ sse: String) throws -> [JSON] {
        try sse.components(separatedBy: "\n\n").filter { $0.hasPrefix("data: ") && $0 != "data: [DONE]" }
            .map { try JSON.parse(String($0.dropFirst(6))) }
    }

    func text(of chunks: [JSON]) -> String {
        chunks.map { $0["choices"]?.arrayValue?.first?["delta"]?["content"]?.stringValue ?? "" }.joined()
    }
}
