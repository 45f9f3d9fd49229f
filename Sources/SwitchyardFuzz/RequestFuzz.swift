import SwitchyardCore
import SwitchyardProviders

/// A client's chat body through `ChatRequest.parse` and one codec's `encode`. The first byte
/// picks the target's switches (temperature clamping, structured outputs, default max tokens).
/// What must hold: every rejection is a 4xx whose body is OpenAI's error envelope; an accepted
/// request encodes to a JSON object, and nothing from the client reaches the upstream path,
/// query or header lines as a line break or a control character.
enum RequestFuzz {
    static func run(_ bytes: [UInt8], kind: ProviderKind) throws(FuzzFailure) {
        var input = FuzzInput(bytes)
        let target = FuzzCodecs.target(kind, switches: input.byte())
        let request: ChatRequest
        do {
            request = try ChatRequest.parse(body: input.rest)
        } catch {
            return try checkClientError(error, "ChatRequest.parse")
        }
        let encoded: EncodedRequest
        do {
            encoded = try kind.codec.encode(request, for: target)
        } catch {
            return try checkClientError(error, "\(kind) encode")
        }
        let body = try JSONFuzz.checkParses(encoded.body, "the \(kind) request body")
        try check(body.objectValue != nil, "the \(kind) request body is not an object")
        try check(isFieldSafe(encoded.path) && isFieldSafe(encoded.query), "the \(kind) request path has control bytes")
        for h in encoded.headers {
            try check(isFieldSafe(h.name) && isFieldSafe(h.value), "the \(kind) header \(h.name) has control bytes")
        }
    }

    /// A rejection as the client sees it: a 4xx with the error envelope.
    static func checkClientError(_ error: APIError, _ what: String) throws(FuzzFailure) {
        try check((400..<500).contains(error.status), "\(what) rejected with status \(error.status)")
        try checkEnvelope(error.body, what)
    }

    /// `{"error": {"message": string, "type": string, …}}`.
    static func checkEnvelope(_ body: [UInt8], _ what: String) throws(FuzzFailure) {
        let json = try JSONFuzz.checkParses(body, "the error body of \(what)")
        try check(
            json["error"]?["message"]?.stringValue != nil && json["error"]?["type"]?.stringValue != nil,
            "the error body of \(what) is not OpenAI's envelope")
    }

    /// No CR, LF, NUL or other control byte (they would split or end a header line).
    static func isFieldSafe(_ s: String) -> Bool {
        s.utf8.allSatisfy { $0 >= 0x20 && $0 != 0x7F || $0 == 0x09 }
    }
}

/// The requests and targets the codec targets share.
enum FuzzCodecs {
    static func target(_ kind: ProviderKind, switches: UInt8) -> TargetContext {
        TargetContext(
            providerName: kind.rawValue, upstreamModel: model(kind),
            defaultMaxTokens: [4096, 1, 64000][Int(switches >> 2) % 3], clampTemperature: switches & 1 != 0,
            structuredOutputs: switches & 2 != 0, idSeed: "fuzz-seed")
    }

    static func model(_ kind: ProviderKind) -> String {
        switch kind {
        case .openai: "gpt-4o-mini"
        case .anthropic: "claude-3-5-haiku-latest"
        case .gemini: "gemini-2.0-flash"
        }
    }

    /// Client requests whose shape changes how answers are decoded (tools, JSON mode through
    /// Anthropic's forced tool, several choices, log probabilities), picked by a selector byte.
    static let requestBodies: [String] = [
        #"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#,
        #"{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}],"#
            + #""tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","#
            + #""properties":{"city":{"type":"string"}}}}}]}"#,
        #"{"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_object"}}"#,
        #"{"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema","#
            + #""json_schema":{"name":"answer","schema":{"type":"object","properties":{"a":{"type":"string"}}}}}}"#,
        #"{"model":"m","n":2,"messages":[{"role":"user","content":"hi"}]}"#,
        #"{"model":"m","logprobs":true,"top_logprobs":2,"messages":[{"role":"user","content":"hi"}]}"#,
    ]

    static let requests: [ChatRequest] = requestBodies.map { body in
        // The bodies above are valid: a failure here is a bug in the harness, not a finding.
        guard let r = try? ChatRequest.parse(body: Array(body.utf8)) else { fatalError("bad harness request \(body)") }
        return r
    }
}
