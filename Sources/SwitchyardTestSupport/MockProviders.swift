import SwitchyardCore

/// Which wire format a mock request used, from its path.
public enum MockProviderKind: String, Sendable {
    case openai, anthropic, gemini

    /// `/v1/chat/completions` and `/v1/responses` (any prefix) → OpenAI, `/v1/messages` (and its
    /// `/count_tokens`) → Anthropic, `…:generateContent` / `…:streamGenerateContent` → Gemini.
    public init?(path: String) {
        if path.hasSuffix("/chat/completions") || path.hasSuffix("/responses") {
            self = .openai
        } else if path.hasSuffix("/v1/messages") || path.hasSuffix("/v1/messages/count_tokens") {
            self = .anthropic
        } else if path.contains(":generateContent") || path.contains(":streamGenerateContent") {
            self = .gemini
        } else {
            return nil
        }
    }
}

/// A fake LLM behind each provider's real wire format (OpenAI Chat Completions and Responses,
/// Anthropic Messages, Gemini generateContent), for tests, the demo and the bench.
///
/// It validates requests the way the real API would (auth header, required fields, roles)
/// and answers in that provider's JSON or SSE shape. Its "model" is deterministic:
/// - with `tools` offered and no tool result yet in the conversation, it calls the first tool
///   with `{"city":"Paris"}`;
/// - after a tool result, it answers `The tool said: <result>`;
/// - with JSON mode (any provider's form), it answers `{"ok":true}`;
/// - to the user text `recap`, it answers `Recap: <every earlier user text, joined by " | ">`,
///   which shows a test the whole history reached the upstream;
/// - to `how many images?`, it answers `I see <n> image(s).`, counting the images of that turn;
/// - (Anthropic) to `echo request`, it answers with the request body exactly as received, and to
///   `echo headers` with the `anthropic-version` and `anthropic-beta` headers it received;
/// - otherwise it answers `reply` (default: `Hello from the mock: <last user text>`).
public struct MockLLM: Sendable {
    public var reply: String?
    /// Words per SSE event in streams.
    public var wordsPerEvent = 1
    /// Pause between stream events.
    public var eventPause: Duration?
    /// How the OpenAI side treats a final assistant message; nil: like api.openai.com, it
    /// answers with a new turn (the whole answer again).
    public var openAIContinuation: MockContinuation?

    public init(reply: String? = nil) { self.reply = reply }

    /// Answers a request in the wire format its path names; 404 for other paths.
    public func respond(_ r: RecordedRequest) -> MockResponse {
        if r.method == "GET" { return listModels(r) }
        guard let kind = MockProviderKind(path: r.path) else {
            return .json(status: 404, ["error": ["message": .string("no route \(r.path)"), "type": "not_found"]])
        }
        guard let json = try? JSON.parse(r.body), case .object(let body) = json else {
            return error(kind, status: 400, message: "invalid JSON body")
        }
        switch kind {
        case .openai where r.path.hasSuffix("/responses"): return openAIResponses(r, body)
        case .openai: return openAI(r, body)
        case .anthropic: return anthropic(r, body)
        case .gemini: return gemini(r, body)
        }
    }

    func listModels(_ r: RecordedRequest) -> MockResponse {
        .json(["object": "list", "data": [["id": "mock-model", "object": "model", "created": 0, "owned_by": "mock"]]])
    }

    // MARK: The "model"

    enum Answer {
        case text(String)
        case toolCall(name: String, arguments: String)
    }

    func decide(
        lastUserText: String, toolResult: String?, firstTool: String?, jsonMode: Bool, userTexts: [String] = [],
        images: Int = 0
    ) -> Answer {
        if let toolResult { return .text("The tool said: \(toolResult)") }
        if lastUserText == "how many images?" { return .text("I see \(images) image(s).") }
        if lastUserText == "recap" { return .text("Recap: " + userTexts.dropLast().joined(separator: " | ")) }
        if let firstTool { return .toolCall(name: firstTool, arguments: #"{"city":"Paris"}"#) }
        if jsonMode { return .text(#"{"ok":true}"#) }
        return .text(reply ?? "Hello from the mock: \(lastUserText)")
    }

    static func words(_ text: String, per: Int) -> [String] {
        var out: [String] = []
        var current = ""
        var count = 0
        for ch in text {
            current.append(ch)
            if ch == " " {
                count += 1
                if count == per {
                    out.append(current)
                    current = ""
                    count = 0
                }
            }
        }
        if !current.isEmpty { out.append(current) }
        return out
    }

    func usage(_ body: JSONObject, _ answer: Answer) -> (Int, Int) {
        let prompt = max(1, body.serialized().count / 4)
        switch answer {
        case .text(let t): return (prompt, max(1, t.split(separator: " ").count))
        case .toolCall: return (prompt, 12)
        }
    }

    /// What each provider answers when it is overloaded: OpenAI 503, Anthropic 529
    /// `overloaded_error`, Gemini 503 `UNAVAILABLE`.
    public static func overloaded(_ kind: MockProviderKind) -> MockResponse {
        switch kind {
        case .openai:
            .json(
                status: 503,
                [
                    "error": [
                        "message": "mock: openai is failing on purpose", "type": "server_error", "code": nil,
                        "param": nil,
                    ]
                ])
        case .anthropic:
            .json(status: 529, ["type": "error", "error": ["type": "overloaded_error", "message": "Overloaded"]])
        case .gemini:
            .json(
                status: 503,
                [
                    "error": [
                        "code": 503, "message": "The model is overloaded. Please try again later.",
                        "status": "UNAVAILABLE",
                    ]
                ])
        }
    }

    func error(_ kind: MockProviderKind, status: Int, message: String) -> MockResponse {
        switch kind {
        case .openai:
            return .json(
                status: status,
                ["error": ["message": .string(message), "type": "invalid_request_error", "param": nil, "code": nil]])
        case .anthropic:
            let type = status == 401 ? "authentication_error" : "invalid_request_error"
            return .json(
                status: status, ["type": "error", "error": ["type": .string(type), "message": .string(message)]])
        case .gemini:
            let s = status == 401 || status == 403 ? "UNAUTHENTICATED" : "INVALID_ARGUMENT"
            return .json(
                status: status, ["error": ["code": .int(status), "message": .string(message), "status": .string(s)]])
        }
    }

    static func text(of content: JSON?) -> String {
        switch content {
        case .string(let s)?: return s
        case .array(let parts)?:
            return parts.compactMap { $0["text"]?.stringValue }.joined()
        default: return ""
        }
    }
}

/// How an OpenAI-compatible server continues a final assistant message (they differ).
public enum MockContinuation: Sendable {
    /// The message alone is continued (llama.cpp's server, Ollama).
    case trailingMessage
    /// Only with `continue_final_message: true` and `add_generation_prompt: false` (vLLM, which
    /// answers 400 when both are true; `add_generation_prompt` defaults to true).
    case continueFinalMessage
    /// Only when the message carries `"prefix": true` (DeepSeek, Mistral); `echo`: the answer
    /// repeats the prefix before the continuation.
    case prefixFlag(echo: Bool)
}
