import SwitchyardCore
import SwitchyardProviders
import Testing

extension AnthropicTests {
    /// Anthropic error bodies → ``ProviderError`` kind → the client's status/type/code (docs/translation.md §8).
    @Suite struct ErrorTests {
        struct Case: Sendable, CustomTestStringConvertible {
            var file: String
            var status: Int
            var kind: ProviderError.Kind
            var client: (status: Int, type: String, code: String?)
            var testDescription: String { "\(status) \(file)" }
        }

        static let cases: [Case] = [
            Case(
                file: "invalid_request.json", status: 400, kind: .badRequest,
                client: (400, "invalid_request_error", nil)),
            Case(
                file: "prompt_too_long.json", status: 400, kind: .contextLengthExceeded,
                client: (400, "invalid_request_error", "context_length_exceeded")),
            Case(
                file: "authentication.json", status: 401, kind: .authentication,
                client: (502, "upstream_error", "upstream_auth_failed")),
            Case(
                file: "permission.json", status: 403, kind: .permissionDenied,
                client: (502, "upstream_error", "upstream_auth_failed")),
            Case(
                file: "billing.json", status: 402, kind: .billing, client: (502, "upstream_error", "upstream_billing")),
            Case(
                file: "not_found.json", status: 404, kind: .notFound,
                client: (404, "invalid_request_error", "model_not_found")),
            Case(
                file: "request_too_large.json", status: 413, kind: .requestTooLarge,
                client: (413, "invalid_request_error", "request_too_large")),
            Case(
                file: "rate_limit.json", status: 429, kind: .rateLimited,
                client: (429, "rate_limit_error", "rate_limit_exceeded")),
            Case(
                file: "api_error.json", status: 500, kind: .serverError, client: (502, "server_error", "upstream_error")
            ),
            Case(
                file: "timeout.json", status: 504, kind: .gatewayTimeout,
                client: (504, "server_error", "upstream_timeout")),
            Case(
                file: "overloaded.json", status: 529, kind: .overloaded,
                client: (503, "server_error", "upstream_overloaded")),
            // `invalid_request_error` is also used for 4xx statuses without a type of their own.
            Case(file: "conflict.json", status: 409, kind: .conflict, client: (409, "invalid_request_error", nil)),
            // Non-JSON bodies (Cloudflare, proxies) fall back to the status.
            Case(
                file: "bad_gateway.html", status: 502, kind: .serverError,
                client: (502, "server_error", "upstream_error")),
            Case(
                file: "bad_gateway.html", status: 413, kind: .requestTooLarge,
                client: (413, "invalid_request_error", "request_too_large")),
            Case(
                file: "bad_gateway.html", status: 529, kind: .overloaded,
                client: (503, "server_error", "upstream_overloaded")),
            Case(
                file: "bad_gateway.html", status: 401, kind: .authentication,
                client: (502, "upstream_error", "upstream_auth_failed")),
        ]

        @Test(arguments: cases)
        func mapsErrorBody(_ c: Case) throws {
            let body = try AnthropicFixtures.bytes("errors/" + c.file)
            let e = AnthropicCodec().decodeError(status: c.status, headers: [], body: body)
            #expect(e.kind == c.kind)
            #expect(e.status == c.status)
            #expect(e.shouldRetry == nil)
            let api = e.apiError
            #expect(api.status == c.client.status)
            #expect(api.type == c.client.type)
            #expect(api.code == c.client.code)
            if c.file.hasSuffix(".json") {
                let json = try AnthropicFixtures.json("errors/" + c.file)
                #expect(e.providerType == json["error"]?["type"]?.stringValue)
            }
        }

        @Test func clientFaultsKeepTheUpstreamMessage() throws {
            let e = AnthropicCodec().decodeError(
                status: 400, headers: [], body: try AnthropicFixtures.bytes("errors/invalid_request.json"))
            #expect(e.apiError.message == #"messages: first message must use the "user" role"#)
            #expect(e.apiError.param == nil)
        }

        @Test(arguments: ["authentication.json", "permission.json"])
        func credentialErrorsDropTheMessage(_ file: String) throws {
            let e = AnthropicCodec().decodeError(
                status: 401, headers: [], body: try AnthropicFixtures.bytes("errors/" + file))
            #expect(e.message == "")
            #expect(!e.apiError.message.contains("sk-ant"))
            #expect(e.apiError.shouldRetry == false)
        }

        @Test(arguments: [("true", true), ("false", false), ("FALSE", false), ("maybe", nil)] as [(String, Bool?)])
        func readsShouldRetryHeader(_ value: String, _ expected: Bool?) throws {
            let e = AnthropicCodec().decodeError(
                status: 529, headers: [HeaderField("X-Should-Retry", value)],
                body: try AnthropicFixtures.bytes("errors/overloaded.json"))
            #expect(e.shouldRetry == expected)
        }
    }
}
