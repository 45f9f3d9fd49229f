import SwitchyardCore
import SwitchyardInbound
import SwitchyardTestSupport
import Testing

@testable import SwitchyardGateway

/// The endpoint table: path patterns, one endpoint per path, and the 404/405 answers given in one
/// place for every route.
@Suite struct EndpointTableTests {
    @Test(
        arguments: [
            ("/v1/tasks/{id}", "/v1/tasks/t1", ["id": "t1"]),
            ("/v1/tasks/{id}", "/v1/tasks/", nil),
            ("/v1/tasks/{id}", "/v1/tasks", nil),
            ("/v1/tasks/{id}", "/v1/tasks/t1/x", nil),
            ("/v1/tasks/{id}/pause", "/v1/tasks/t1/pause", ["id": "t1"]),
            ("/v1/models/{id...}", "/v1/models/anthropic/claude-3-5", ["id": "anthropic/claude-3-5"]),
            ("/v1/models/{id...}", "/v1/models/", ["id": ""]),
            ("/v1/models/{id...}", "/v1/models", nil),
            ("/healthz", "/healthz", [:]),
            ("/healthz", "/healthz/", nil),
            ("/healthz", "healthz", nil),
            ("/v1/responses", "/v1//responses", nil),
            ("/v1/chat/completions", "/v1/chat/completions", [:]),
            ("/v1/chat/completions", "/v1/chat/completions/", nil),
            ("/v1/chat/completions", "/v1/chat", nil),
            ("/v1/chat/completions", "v1/chat/completions", nil),
        ] as [(String, String, [String: String]?)])
    func patternsMatchWholeSegments(_ pattern: String, _ path: String, _ expected: [String: String]?) {
        #expect(PathPattern(pattern).match(path) == expected)
    }

    /// A stream's id keeps the request id's letters and digits, the same with the ASCII shortcut
    /// as with `Character`'s Unicode properties.
    @Test(arguments: ["req_0a1b2c3d4e5f", "abc-DEF.123", "", "__", "a\r\nb", "caf\u{E9}-\u{661}x", "e\u{301}1", "日本-7"])
    func streamIDsKeepLettersAndDigits(_ requestID: String) {
        #expect(AnswerContext.streamIDPart(requestID) == requestID.filter { $0.isLetter || $0.isNumber })
    }

    /// With a prefix the id is the prefix and the same letters and digits.
    @Test(arguments: ["req_0a1b2c3d4e5f", "abc-DEF.123", "", "caf\u{E9}-\u{661}x", "日本-7"])
    func streamIDsStartWithTheirPrefix(_ requestID: String) {
        #expect(
            AnswerContext.streamIDPart(requestID, prefix: "chatcmpl-")
                == "chatcmpl-" + requestID.filter { $0.isLetter || $0.isNumber })
    }

    /// A path built from each pattern (parameters filled in) leads to that endpoint and no
    /// earlier one, so no route shadows another.
    @Test func everyEndpointIsReachedByItsOwnPaths() {
        for endpoint in Endpoints.all {
            let path =
                "/"
                + endpoint.pattern.segments.map { segment in
                    switch segment {
                    case .literal(let text): text
                    case .parameter: "x1"
                    case .rest: "a/b"
                    }
                }.joined(separator: "/")
            guard case .endpoint(let found, _) = Endpoints.match(path) else {
                Issue.record("\(path) matches nothing")
                continue
            }
            #expect(found.pattern.description == endpoint.pattern.description, "\(path)")
        }
    }

    @Test func unknownPathsAnswerInTheShapeOfTheClosestAPI() {
        #expect(Endpoints.format(near: "/v1/responses/r/x/y").api == .responses)
        #expect(Endpoints.format(near: "/v1/chat/other").api == .chatCompletions)
        #expect(Endpoints.format(near: "/v1/embeddings").api == .chatCompletions)
        #expect(Endpoints.format(near: "/nope").api == .chatCompletions)
    }

    /// Every route refuses the methods it does not serve with 405 and its `Allow`, counted as a
    /// rejection; paths no route serves are 404, counted too.
    @Test func wrongMethodsAnd404sAreAnsweredInOnePlace() async throws {
        let mock = try MockHTTPServer { MockLLM().respond($0) }
        let h = try await GatewayHarness.start(
            yaml: yaml(mock: mock, models: "  - {name: ok, targets: [{provider: openai, model: gpt-4o-mini}]}"))
        defer {
            h.stop()
            mock.stop()
        }
        let cases: [(method: String, path: String, allow: String)] = [
            ("POST", "/healthz", "GET"), ("DELETE", "/readyz", "GET"), ("POST", "/metrics", "GET"),
            ("GET", "/v1/chat/completions", "POST"), ("GET", "/v1/responses", "POST"),
            ("PUT", "/v1/responses/resp_1", "GET, DELETE"), ("POST", "/v1/responses/resp_1/input_items", "GET"),
            ("PUT", "/v1/tasks", "GET, POST"), ("DELETE", "/v1/tasks/t1", "GET"),
            ("POST", "/v1/tasks/t1/events", "GET"),
            ("GET", "/v1/tasks/t1/pause", "POST"), ("GET", "/v1/tasks/t1/resume", "POST"),
            ("GET", "/v1/tasks/t1/cancel", "POST"), ("POST", "/v1/models", "GET"), ("POST", "/v1/models/a/b", "GET"),
        ]
        let before = try await h.request("GET", "/metrics", key: nil).text
        for c in cases {
            let r = try await h.request(c.method, c.path)
            #expect(r.head.status == 405, "\(c.method) \(c.path)")
            #expect(r.header("allow") == c.allow, "\(c.method) \(c.path)")
            #expect(r.json?["error"]?["code"] == "method_not_allowed", "\(c.method) \(c.path)")
        }
        for path in ["/v1/tasks/t1/restart", "/v1/responses/r/x/y", "/v1/tasks/", "/v2/models"] {
            let r = try await h.request("GET", path)
            #expect(r.head.status == 404, "\(path)")
            #expect(r.json?["error"]?["type"] == "invalid_request_error", "\(path)")
        }
        let after = try await h.request("GET", "/metrics", key: nil).text
        func rejected(_ reason: String) -> Double {
            metricValue(after, "switchyard_rejected_requests_total", ["reason": reason])
                - metricValue(before, "switchyard_rejected_requests_total", ["reason": reason])
        }
        #expect(rejected("method_not_allowed") == Double(cases.count))
        #expect(rejected("unknown_path") == 4)
    }
}
