/// A message author, as OpenAI Chat names it.
public enum ChatRole: String, Sendable, CaseIterable {
    case system, developer, user, assistant, tool, function

    /// The role named `rawValue`, most frequent first. Written out: the synthesised initialiser
    /// looks the name up in a table of the case names through a runtime call (0.7% of a plain
    /// request's CPU for one message, perf of `switchyard-bench gateway`).
    public init?(rawValue: String) {
        switch rawValue {
        case "user": self = .user
        case "assistant": self = .assistant
        case "system": self = .system
        case "tool": self = .tool
        case "developer": self = .developer
        case "function": self = .function
        default: return nil
        }
    }
}

/// One OpenAI content part (docs/chat-completions.md §3).
public enum ContentPart: Sendable, Equatable {
    case text(String)
    /// `url` is an http(s) URL or a `data:<mime>;base64,<data>` URL; `detail` is auto/low/high.
    case imageURL(url: String, detail: String?)
    /// Base64 audio, `format` wav or mp3.
    case inputAudio(data: String, format: String)
    /// A file given inline (`fileData` base64) or by id.
    case file(fileData: String?, fileID: String?, filename: String?)
    case refusal(String)
}

/// A message's `content`: a plain string or a list of parts.
public enum MessageContent: Sendable, Equatable {
    case text(String)
    case parts([ContentPart])

    /// The text parts joined (no separator), or the string itself; refusal parts included.
    public var text: String {
        switch self {
        case .text(let s): return s
        case .parts(let parts):
            var out = ""
            for p in parts {
                switch p {
                case .text(let t), .refusal(let t): out += t
                default: continue
                }
            }
            return out
        }
    }

    /// The content as a list of parts (a string becomes one text part; empty string none).
    public var parts: [ContentPart] {
        switch self {
        case .text(let s): s.isEmpty ? [] : [.text(s)]
        case .parts(let p): p
        }
    }
}

/// A function call the assistant made. `arguments` is the JSON text exactly as produced.
public struct ToolCall: Sendable, Equatable {
    public var id: String
    public var name: String
    public var arguments: String
    public init(id: String, name: String, arguments: String) {
        self.id = id
        self.name = name
        self.arguments = arguments
    }
}

/// One chat message in unified form.
public struct ChatMessage: Sendable, Equatable {
    public var role: ChatRole
    /// `nil` when the wire had `null` or no content (assistant messages with tool calls).
    public var content: MessageContent?
    public var name: String?
    public var toolCalls: [ToolCall]
    /// For `tool` messages: the call this message answers.
    public var toolCallID: String?
    /// Assistant refusal text (Structured Outputs).
    public var refusal: String?

    public init(
        role: ChatRole, content: MessageContent?, name: String? = nil, toolCalls: [ToolCall] = [],
        toolCallID: String? = nil, refusal: String? = nil
    ) {
        self.role = role
        self.content = content
        self.name = name
        self.toolCalls = toolCalls
        self.toolCallID = toolCallID
        self.refusal = refusal
    }
}

/// A function tool offered to the model.
public struct ToolDefinition: Sendable, Equatable {
    public enum Kind: String, Sendable { case function, custom }
    public var kind: Kind
    public var name: String
    public var description: String?
    /// JSON Schema of the arguments; `nil` means no parameters.
    public var parameters: JSON?
    public var strict: Bool?

    public init(
        kind: Kind = .function, name: String, description: String? = nil, parameters: JSON? = nil, strict: Bool? = nil
    ) {
        self.kind = kind
        self.name = name
        self.description = description
        self.parameters = parameters
        self.strict = strict
    }
}

/// OpenAI `tool_choice` (docs/chat-completions.md §4).
public enum ToolChoice: Sendable, Equatable {
    case none
    case auto
    case required
    case function(String)
    /// `allowed_tools`: restrict to `names`, `required` true for mode "required".
    case allowedTools(names: [String], required: Bool)
    case custom(String)
}

/// OpenAI `response_format` (docs/chat-completions.md §5).
public enum ResponseFormat: Sendable, Equatable {
    case text
    case jsonObject
    case jsonSchema(name: String, description: String?, schema: JSON, strict: Bool?)
}

/// How much a model should reason before it answers (Anthropic `thinking`).
public enum ThinkingSetting: Sendable, Equatable {
    /// `{"type":"disabled"}`.
    case disabled
    /// `{"type":"enabled","budget_tokens":n}`: up to `n` tokens of reasoning.
    case budget(Int)
    /// `{"type":"adaptive"}` (and other forms newer than this type): the model decides.
    case adaptive

    /// The OpenAI `reasoning_effort` closest to this setting: `low` below 4,096 budget tokens,
    /// `medium` below 16,384 and for `adaptive`, `high` above; nil for `disabled`.
    public var effort: String? {
        switch self {
        case .disabled: nil
        case .adaptive: "medium"
        case .budget(let n): n < 4096 ? "low" : (n < 16384 ? "medium" : "high")
        }
    }
}
