import Foundation
import Logging
import SwitchyardCore
import SwitchyardGateway
import SwitchyardTestSupport
import SwitchyardUpstream
import Synchronization
import Testing

/// `/v1/responses` through the real gateway over loopback, in front of mock upstreams that
/// validate their requests like the real APIs.
@Suite struct ResponsesGatewayTests {
    /// A gateway with two client keys (`tests`, `other`) in front of `mock`.
    static func start(mock: MockHTTPServer, models: String, store: String = "") async throws -> GatewayHarness {
        let base = "http://127.0.0.1:\(mock.port)"
        let text = """
            listen: 127.0.0.1:0
            health_check_ms: 0
            auth: {keys: [{name: tests, key_env: TEST_CLIENT_KEY}, {name: \(OtherKey.name), key_env: TEST_OTHER_KEY}]}
            providers:
              - {name: openai, kind: openai, base_url: "\(base)/v1", api_key_env: TEST_PROVIDER_KEY}
              - {name: compat, kind: openai, base_url: "\(base)/v1", api_key_env: TEST_PROVIDER_KEY, responses_mode: chat}
              - {name: anthropic, kind: anthropic, base_url: "\(base)", api_key_env: TEST_PROVIDER_KEY}
              - {name: gemini, kind: gemini, base_url: "\(base)", api_key_env: TEST_PROVIDER_KEY}
            models:
            \(models)
            retry: {attempts_per_target: 1, initial_backoff_ms: 1, max_backoff_ms: 5, multiplier: 2}
            limits: {max_body_bytes: 65536, stream_heartbeat_ms: 100}
            store: {path: "\(temporaryStorePath("responses"))"\(store)}
            """
        return try await GatewayHarness.start(yaml: text)
    }

    static let everyKind = """
          - {name: via-openai, targets: [{provider: openai, model: gpt-4o-mini}]}
          - {name: via-compat, targets: [{provider: compat, model: llama-3}]}
          - {name: via-anthropic, targets: [{provider: anthropic, model: claude-3-5-haiku-latest}]}
          - {name: via-gemini, targets: [{provider: gemini, model: gemini-2.0-flash}]}
        """

    /// The events of an SSE body: (`event:` name, data object).
    static func events(_ body: [UInt8]) -> [(String, JSON)] {
        var parser = SSEParserForTests()
        return parser.feed(body).compactMap { e in (try? JSON.parse(e.data)).map { (e.event, $0) } }
    }

    @Test(arguments: [
        ("via-openai", "/v1/responses"), ("via-compat", "/v1/chat/completions"), ("via-anthropic", "/v1/messages"),
        ("via-gemini", ":generateContent"),
    ])
    func eachTargetKindIsReachedInItsOwnWireFormat(_ model: String, _ upstreamPath: String) async throws {
        let mock = try MockHTTPServer { MockLLM().respond($0) }
        let h = try await Self.start(mock: mock, models: Self.everyKind)
        defer {
            h.stop()
            mock.stop()
        }
        let r = try await h.request(
            "POST", "/v1/responses", body: #"{"model":"\#(model)","instructions":"Be brief.","input":"hi there"}"#)
        #expect(r.head.status == 200, "\(r.text)")
        let o = try #require(r.json)
        #expect(o["object"] == "response" && o["status"] == "completed")
        #expect(
            o["output"]?.arrayValue?.last?["content"]?.arrayValue?.first?["text"] == "Hello from the mock: hi there")
        #expect(o["instructions"] == "Be brief.")
        #expect(mock.requests.count == 1)
        #expect(
            mock.requests.first?.path.hasSuffix(upstreamPath) == true
                || mock.requests.first?.path.contains(upstreamPath) == true)

        let s = try await h.request(
            "POST", "/v1/responses", body: #"{"model":"\#(model)","input":"stream me","stream":true}"#)
        #expect(s.header("content-type") == "text/event-stream")
        let events = Self.events(s.body)
        #expect(events.first?.0 == "response.created" && events.last?.0 == "response.completed")
        #expect(events.map { $0.1["sequence_number"]?.intValue } == Array(0..<events.count).map { $0 })
        let deltas = events.filter { $0.0 == "response.output_text.delta" }.compactMap { $0.1["delta"]?.stringValue }
        #expect(deltas.joined() == "Hello from the mock: stream me")
    }

    /// The acceptance case: turn one on OpenAI, which then goes down; turns two and three on Claude,
    /// which receives the whole history each time.
    @Test func aConversationContinuesOnTheFallbackWithItsWholeHistory() async throws {
        let down = Atomic<Bool>(false)
        let mock = try MockHTTPServer { r in
            if down.load(ordering: .relaxed), r.path.hasSuffix("/v1/responses") {
                return .json(
                    status: 503, ["error": ["message": "down", "type": "server_error", "param": nil, "code": nil]])
            }
            return MockLLM().respond(r)
        }
        let h = try await Self.start(
            mock: mock,
            models: """
                  - name: conversation
                    targets:
                      - {provider: openai, model: gpt-4o-mini, priority: 1}
                      - {provider: anthropic, model: claude-3-5-haiku-latest, priority: 2}
                """)
        defer {
            h.stop()
            mock.stop()
        }
        let first = try await h.request("POST", "/v1/responses", body: #"{"model":"conversation","input":"turn one"}"#)
        #expect(first.header("x-switchyard-provider") == "openai")
        let firstID = try #require(first.json?["id"]?.stringValue)
        down.store(true, ordering: .relaxed)

        let second = try await h.request(
            "POST", "/v1/responses",
            body: #"{"model":"conversation","input":"turn two","previous_response_id":"\#(firstID)"}"#)
        #expect(second.head.status == 200, "\(second.text)")
        #expect(second.header("x-switchyard-provider") == "anthropic")
        #expect(second.json?["previous_response_id"]?.stringValue == firstID)
        let secondID = try #require(second.json?["id"]?.stringValue)

        let third = try await h.request(
            "POST", "/v1/responses",
            body: #"{"model":"conversation","input":"recap","stream":true,"previous_response_id":"\#(secondID)"}"#)
        #expect(third.header("x-switchyard-provider") == "anthropic")
        let completed = try #require(Self.events(third.body).last)
        #expect(completed.0 == "response.completed")
        let text = completed.1["response"]?["output"]?.arrayValue?.last?["content"]?.arrayValue?.first?["text"]
        #expect(text == "Recap: turn one | turn two")

        let claude = try #require(mock.requests.last { $0.path == "/v1/messages" })
        let messages = try #require(try JSON.parse(claude.body)["messages"]?.arrayValue)
        #expect(
            messages.map { MockLLM.textForTests($0["content"]) } == [
                "turn one", "Hello from the mock: turn one", "turn two", "Hello from the mock: turn two", "recap",
            ])
        #expect(
            mock.requests.filter { $0.path.hasSuffix("/v1/responses") }.allSatisfy { r in
                (try? JSON.parse(r.body))?["previous_response_id"] == nil
            }, "the upstream never depends on having kept anything")

        let thirdID = try #require(completed.1["response"]?["id"]?.stringValue)
        let stored = try await h.request("GET", "/v1/responses/\(thirdID)")
        #expect(stored.json == completed.1["response"])
        let items = try await h.request("GET", "/v1/responses/\(thirdID)/input_items")
        #expect(items.json?["object"] == "list")
        #expect(items.json?["data"]?.arrayValue?.map { $0["content"]?.arrayValue?.first?["text"] } == ["recap"])
    }

    @Test func storedResponsesBelongToTheirKeyAndCanBeDeleted() async throws {
        let mock = try MockHTTPServer { MockLLM().respond($0) }
        let h = try await Self.start(mock: mock, models: Self.everyKind)
        defer {
            h.stop()
            mock.stop()
        }
        let r = try await h.request("POST", "/v1/responses", body: #"{"model":"via-gemini","input":"mine"}"#)
        let id = try #require(r.json?["id"]?.stringValue)
        #expect(try await h.request("GET", "/v1/responses/\(id)").json == r.json)
        for (method, path, body) in [
            ("GET", "/v1/responses/\(id)", ""), ("DELETE", "/v1/responses/\(id)", ""),
            ("GET", "/v1/responses/\(id)/input_items", ""),
            ("POST", "/v1/responses", #"{"model":"via-gemini","input":"x","previous_response_id":"\#(id)"}"#),
        ] {
            let other = try await h.request(method, path, body: body, key: OtherKey.secret)
            #expect(other.head.status == 404, "\(method) \(path) as another key: \(other.text)")
        }
        let unstored = try await h.request(
            "POST", "/v1/responses", body: #"{"model":"via-gemini","input":"x","store":false}"#)
        let unstoredID = try #require(unstored.json?["id"]?.stringValue)
        #expect(try await h.request("GET", "/v1/responses/\(unstoredID)").head.status == 404)

        let deleted = try await h.request("DELETE", "/v1/responses/\(id)")
        #expect(deleted.json == ["id": .string(id), "object": "response.deleted", "deleted": true])
        #expect(try await h.request("GET", "/v1/responses/\(id)").head.status == 404)
        #expect(try await h.request("PUT", "/v1/responses/\(id)").head.status == 405)
    }

    /// Built-in tools and fields the gateway does not know reach an OpenAI target in native mode
    /// untouched; a translating target answers 400 naming the tool, without an upstream call.
    @Test func nativeOnlyFieldsReachANativeTargetAndAreRefusedElsewhere() async throws {
        let mock = try MockHTTPServer { MockLLM().respond($0) }
        let h = try await Self.start(mock: mock, models: Self.everyKind)
        defer {
            h.stop()
            mock.stop()
        }
        let body = #"{"model":"via-openai","input":"news","tools":[{"type":"web_search"}],"x_future":{"a":1}}"#
        let native = try await h.request("POST", "/v1/responses", body: body)
        #expect(native.json?["output"]?.arrayValue?.map { $0["type"] } == ["web_search_call", "message"])
        let sent = try JSON.parse(try #require(mock.requests.last).body)
        #expect(
            sent["x_future"] == ["a": 1] && sent["tools"] == [["type": "web_search"]] && sent["model"] == "gpt-4o-mini")

        for model in ["via-compat", "via-anthropic", "via-gemini"] {
            let before = mock.requests.count
            let r = try await h.request(
                "POST", "/v1/responses", body: body.replacingOccurrences(of: "via-openai", with: model))
            #expect(r.head.status == 400)
            #expect(r.json?["error"]?["param"] == "tools[0]")
            #expect(r.json?["error"]?["message"]?.stringValue?.contains("web_search") == true)
            #expect(mock.requests.count == before)
        }
    }

    @Test func metricsLabelTheAPIAndLogsHoldNoContent() async throws {
        let mock = try MockHTTPServer { MockLLM().respond($0) }
        let h = try await Self.start(mock: mock, models: Self.everyKind)
        defer {
            h.stop()
            mock.stop()
        }
        _ = try await h.request(
            "POST", "/v1/responses", body: #"{"model":"via-anthropic","input":"private words 7781"}"#)
        _ = try await h.chat(#"{"model":"via-anthropic","messages":[{"role":"user","content":"private words 7782"}]}"#)
        let metrics = try await h.request("GET", "/metrics", key: nil).text
        #expect(
            metrics.contains(
                #"switchyard_requests_total{api="responses",model="via-anthropic",provider="anthropic",outcome="ok",status_class="2xx"} 1"#
            ))
        #expect(
            metrics.contains(
                #"switchyard_requests_total{api="chat",model="via-anthropic",provider="anthropic",outcome="ok",status_class="2xx"} 1"#
            ))
        let logs = h.logs.captured
        #expect(logs.contains(#""api":"responses""#))
        for secret in ["private words", "Hello from the mock", TestSecrets.client, TestSecrets.provider] {
            #expect(!logs.contains(secret))
        }
    }

    /// Mid-stream recovery on this route: a stream cut after "Hello from " — on Claude itself, or on
    /// a native OpenAI stream whose events were being forwarded — is finished by a prefilled
    /// continuation on Claude, and the client reads one response: one `response.completed`, one
    /// message item, numbering unbroken, the whole text.
    @Test(arguments: [("claude-only", 5), ("openai-then-claude", 6)])
    func aStreamBrokenMidAnswerIsFinishedByContinuation(_ model: String, _ eventsBeforeCut: Int) async throws {
        let llm = MockLLM()
        let calls = Mutex(0)
        let mock = try MockHTTPServer { r in
            let n = calls.withLock { c -> Int in
                c += 1
                return c
            }
            return n == 1 ? llm.respond(r, breakingAfter: eventsBeforeCut, .cut) : llm.respond(r)
        }
        let h = try await Self.start(
            mock: mock,
            models: """
                  - {name: claude-only, targets: [{provider: anthropic, model: claude-x}]}
                  - name: openai-then-claude
                    targets:
                      - {provider: openai, model: gpt-4o-mini, priority: 1}
                      - {provider: anthropic, model: claude-x, priority: 2}
                """)
        defer {
            h.stop()
            mock.stop()
        }
        let r = try await h.request(
            "POST", "/v1/responses", body: #"{"model":"\#(model)","input":"one two three four five","stream":true}"#)
        let events = Self.events(r.body)
        #expect(events.map { $0.1["sequence_number"]?.intValue } == Array(0..<events.count).map { $0 })
        #expect(events.filter { $0.0 == "response.completed" }.count == 1 && events.last?.0 == "response.completed")
        #expect(events.filter { $0.0 == "response.output_item.added" }.count == 1)
        let text = events.filter { $0.0 == "response.output_text.delta" }.compactMap { $0.1["delta"]?.stringValue }
        #expect(text.joined() == "Hello from the mock: one two three four five")
        let final = try #require(events.last?.1["response"])
        #expect(
            final["output"]?.arrayValue?.first?["content"]?.arrayValue?.first?["text"]
                == "Hello from the mock: one two three four five")
        #expect(final["id"] == events.first?.1["response"]?["id"], "one response from first to last event")
        #expect(mock.requests.count == 2)
        #expect(mock.requests.last?.path == "/v1/messages")
        let stored = try await h.request("GET", "/v1/responses/\(final["id"]?.stringValue ?? "")")
        #expect(stored.json == final)
    }

    @Test func anIdempotentStreamIsReplayedAsTheSameEvents() async throws {
        let mock = try MockHTTPServer { MockLLM().respond($0) }
        let h = try await Self.start(mock: mock, models: Self.everyKind)
        defer {
            h.stop()
            mock.stop()
        }
        let body = #"{"model":"via-anthropic","input":"once","stream":true}"#
        let key = [HeaderField("Idempotency-Key", "r-1")]
        let first = try await h.request("POST", "/v1/responses", body: body, headers: key)
        let again = try await h.request("POST", "/v1/responses", body: body, headers: key)
        #expect(again.header("x-switchyard-replayed") == "true")
        #expect(mock.requests.count == 1)
        #expect(Self.events(again.body).last?.1["response"] == Self.events(first.body).last?.1["response"])
        let chatKey = try await h.request(
            "POST", "/v1/chat/completions",
            body: #"{"model":"via-anthropic","messages":[{"role":"user","content":"x"}]}"#,
            headers: key)
        #expect(chatKey.head.status == 200, "the same key on another route is another request")
    }
}

extension MockLLM {
    /// The text of a content value (a string, or blocks with `text`).
    static func textForTests(_ content: JSON?) -> String {
        if let s = content?.stringValue { return s }
        return (content?.arrayValue ?? []).compactMap { $0["text"]?.stringValue }.joined()
    }
}

/// SSE reading for these tests (the providers' parser is not a dependency of this target).
struct SSEParserForTests {
    struct Event {
        var event: String
        var data: String
    }

    mutating func feed(_ bytes: [UInt8]) -> [Event] {
        String(decoding: bytes, as: UTF8.self).components(separatedBy: "\n\n").compactMap { block in
            var event = ""
            var data: [String] = []
            for line in block.split(separator: "\n") {
                if line.hasPrefix("event: ") { event = String(line.dropFirst(7)) }
                if line.hasPrefix("data: ") { data.append(String(line.dropFirst(6))) }
            }
            return data.isEmpty ? nil : Event(event: event, data: data.joined(separator: "\n"))
        }
    }
}
