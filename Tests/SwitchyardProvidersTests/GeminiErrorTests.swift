import SwitchyardCore
import SwitchyardProviders
import Testing

extension GeminiTests {
    /// Gemini error bodies → `ProviderError` kind and the client's `APIError` (docs/translation.md §8, §8.2).
    @Suite struct GeminiErrorTests {
        struct Case: CustomTestStringConvertible, Sendable {
            var fixture: String
            var status: Int
            var kind: ProviderError.Kind
            var retryAfter: Double? = nil
            var clientStatus: Int
            var clientType: String
            var clientCode: String?
            var clientRetryAfter: Int? = nil
            var testDescription: String { fixture }
        }

        static let cases: [Case] = [
            Case(
                fixture: "api_key_invalid.json", status: 400, kind: .authentication, clientStatus: 502,
                clientType: "upstream_error", clientCode: "upstream_auth_failed"),
            Case(
                fixture: "invalid_argument.json", status: 400, kind: .badRequest, clientStatus: 400,
                clientType: "invalid_request_error", clientCode: nil),
            Case(
                fixture: "token_limit.json", status: 400, kind: .contextLengthExceeded, clientStatus: 400,
                clientType: "invalid_request_error", clientCode: "context_length_exceeded"),
            Case(
                fixture: "token_limit_wrapped.json", status: 400, kind: .contextLengthExceeded, clientStatus: 400,
                clientType: "invalid_request_error", clientCode: "context_length_exceeded"),
            Case(
                fixture: "failed_precondition.json", status: 400, kind: .preconditionFailed, clientStatus: 502,
                clientType: "upstream_error", clientCode: "upstream_precondition_failed"),
            Case(
                fixture: "unauthenticated.json", status: 401, kind: .authentication, clientStatus: 502,
                clientType: "upstream_error", clientCode: "upstream_auth_failed"),
            Case(
                fixture: "permission_denied.json", status: 403, kind: .permissionDenied, clientStatus: 502,
                clientType: "upstream_error", clientCode: "upstream_auth_failed"),
            Case(
                fixture: "not_found.json", status: 404, kind: .notFound, clientStatus: 404,
                clientType: "invalid_request_error", clientCode: "model_not_found"),
            Case(
                fixture: "rate_limited.json", status: 429, kind: .rateLimited, retryAfter: 37, clientStatus: 429,
                clientType: "rate_limit_error", clientCode: "rate_limit_exceeded", clientRetryAfter: 37),
            Case(
                fixture: "quota_per_day.json", status: 429, kind: .quotaExhausted, retryAfter: 1.5, clientStatus: 429,
                clientType: "rate_limit_error", clientCode: "quota_exceeded"),
            Case(
                fixture: "internal.json", status: 500, kind: .serverError, clientStatus: 502,
                clientType: "server_error", clientCode: "upstream_error"),
            Case(
                fixture: "unavailable.json", status: 503, kind: .overloaded, clientStatus: 503,
                clientType: "server_error", clientCode: "upstream_overloaded", clientRetryAfter: 1),
            Case(
                fixture: "deadline_exceeded.json", status: 504, kind: .gatewayTimeout, clientStatus: 504,
                clientType: "server_error", clientCode: "upstream_timeout"),
            Case(
                fixture: "html_502.txt", status: 502, kind: .serverError, clientStatus: 502,
                clientType: "server_error", clientCode: "upstream_error"),
        ]

        @Test(arguments: cases)
        func mapsError(_ c: Case) throws {
            let body = try GeminiFixture.bytes("errors/\(c.fixture)")
            let error = GeminiCodec().decodeError(status: c.status, headers: [], body: body)
            #expect(error.kind == c.kind)
            #expect(error.status == c.status)
            #expect(error.retryAfterSeconds == c.retryAfter)
            let client = error.apiError
            #expect(client.status == c.clientStatus)
            #expect(client.type == c.clientType)
            #expect(client.code == c.clientCode)
            #expect(client.retryAfterSeconds == c.clientRetryAfter)
        }

        /// Credential errors never carry upstream text (it can echo key fragments).
        @Test(arguments: ["api_key_invalid.json", "unauthenticated.json", "permission_denied.json"])
        func credentialMessagesAreDropped(_ fixture: String) throws {
            let error = GeminiCodec().decodeError(
                status: 400, headers: [], body: try GeminiFixture.bytes("errors/\(fixture)"))
            #expect(error.message == "")
            #expect(!error.apiError.message.contains("API key not valid"))
        }

        @Test func clientErrorsKeepTheUpstreamMessage() throws {
            let error = GeminiCodec().decodeError(
                status: 400, headers: [], body: try GeminiFixture.bytes("errors/token_limit.json"))
            #expect(error.apiError.message.hasPrefix("The input token count (1200293)"))
            #expect(error.providerType == "INVALID_ARGUMENT")
        }

        /// Without a parseable body the HTTP status decides.
        @Test(arguments: [
            (400, ProviderError.Kind.badRequest), (401, .authentication), (402, .billing), (403, .permissionDenied),
            (404, .notFound),
            (408, .requestTimeout), (409, .conflict), (413, .requestTooLarge), (429, .rateLimited), (500, .serverError),
            (502, .serverError), (503, .overloaded), (504, .gatewayTimeout), (418, .badRequest), (302, .other),
        ])
        func statusFallback(_ status: Int, _ kind: ProviderError.Kind) {
            #expect(GeminiCodec().decodeError(status: status, headers: [], body: []).kind == kind)
        }
    }
}
