/// The client-facing API a request arrived on: what the gateway parsed it from and must answer it
/// in. Codecs read it to decide whether the client's own body may be forwarded (the target's
/// native API is the origin) or the request must be translated from the typed fields.
public enum InboundAPI: String, Sendable, CaseIterable {
    /// `POST /v1/chat/completions` (OpenAI Chat Completions).
    case chatCompletions = "chat"
    /// `POST /v1/responses` (OpenAI Responses).
    case responses
    /// `POST /v1/messages` (Anthropic Messages).
    case anthropicMessages = "messages"

    /// The bounded metric label value (`api="chat"|"responses"|"messages"`).
    public var label: String { rawValue }

    /// The targets that receive this API's requests natively, for error messages.
    public var nativeTargets: String {
        switch self {
        case .chatCompletions: "OpenAI targets"
        case .responses: "OpenAI targets in native Responses mode"
        case .anthropicMessages: "Anthropic targets"
        }
    }
}

/// A request field that only a target speaking the origin API natively can honour (a built-in
/// tool, an item type with no counterpart elsewhere). The parser records it instead of rejecting
/// it, because a native target receives the client's body as is; every codec that translates from
/// the typed fields rejects the request with a 400 naming `param`.
public struct UntranslatableField: Sendable, Equatable {
    /// JSON path of the field (`tools[2]`, `input[4].type`).
    public var param: String
    /// What it is, for the message (`the built-in tool "web_search"`).
    public var what: String

    public init(param: String, what: String) {
        self.param = param
        self.what = what
    }
}

extension ChatRequest {
    /// A 400 naming the first field a translating codec cannot carry to `provider`, or nil.
    public func untranslatableError(provider: String) -> APIError? {
        guard let f = untranslatable.first else { return nil }
        return .unsupportedParameter(
            f.param, provider: provider,
            detail: "\(f.param): \(f.what) is only available on \(origin.nativeTargets); provider \(provider)"
                + " cannot honour it.")
    }
}
