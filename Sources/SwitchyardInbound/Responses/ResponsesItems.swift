public import SwitchyardCore

/// Responses input items (`ResponseInputItemParam` in the SDK) to unified chat messages, and
/// back to the stored form.
///
/// - `message` (also without `type`): roles `user`, `system`, `developer`, `assistant`; content a
///   string or parts `input_text`, `input_image` (`image_url`), `input_file` (`file_data`,
///   `file_id`), `input_audio`, and for the assistant `output_text` and `refusal`.
/// - `function_call` joins the assistant message before it (or starts one), as Chat Completions
///   wants tool calls on an assistant turn; `function_call_output` becomes a `tool` message.
/// - `reasoning` items are dropped when translating: their content is meaningful to OpenAI only
///   (**policy**).
/// - Anything else (`item_reference`, built-in tool calls and their outputs, an image by
///   `file_id`, a file by `file_url`) is recorded as untranslatable: an OpenAI target in native
///   mode receives it, every other target answers 400 naming it. In a stored conversation's
///   history such items are left out instead (the answers that followed them already carry what
///   they produced).
public struct ResponsesItems {
    public private(set) var messages: [ChatMessage] = []
    public private(set) var untranslatable: [UntranslatableField] = []
    /// Leave out, rather than record, what cannot be translated (a stored history).
    let lenient: Bool

    public init(lenient: Bool = false) { self.lenient = lenient }

    /// The `input` of a request: a string is one user message.
    public static func items(ofInput input: JSON?) throws(APIError) -> [JSON] {
        switch input {
        case nil, .null?: return []
        case .string(let s)?: return [["role": "user", "content": .string(s)]]
        case .array(let items)?: return items
        case let other?: throw APIError.wrongType("input", expected: "string or array", got: other)
        }
    }

    /// Converts `items`, naming each `<path>[i]` in errors.
    public mutating func add(_ items: [JSON], path: String) throws(APIError) {
        for (i, item) in items.enumerated() { try add(item, path: "\(path)[\(i)]") }
    }

    mutating func add(_ item: JSON, path: String) throws(APIError) {
        guard case .object(let o) = item else { throw APIError.wrongType(path, expected: "object", got: item) }
        var r = RequestReader(object: o, prefix: path + ".")
        let type = try r.string("type") ?? (o["role"] != nil ? "message" : nil)
        switch type {
        case "message"?:
            try addMessage(o, path: path)
        case "function_call"?:
            guard let callID = try r.string("call_id") else { throw APIError.missing(path + ".call_id") }
            guard let name = try r.string("name") else { throw APIError.missing(path + ".name") }
            guard let arguments = try r.string("arguments") else { throw APIError.missing(path + ".arguments") }
            let call = ToolCall(id: callID, name: name, arguments: arguments)
            if let last = messages.indices.last, messages[last].role == .assistant {
                messages[last].toolCalls.append(call)
            } else {
                messages.append(ChatMessage(role: .assistant, content: nil, toolCalls: [call]))
            }
        case "function_call_output"?:
            guard let callID = try r.string("call_id") else { throw APIError.missing(path + ".call_id") }
            guard let output = o["output"], !output.isNull else { throw APIError.missing(path + ".output") }
            let text: String
            switch output {
            case .string(let s): text = s
            case .array(let parts): text = parts.compactMap { $0["text"]?.stringValue }.joined()
            default: throw APIError.wrongType(path + ".output", expected: "string or array", got: output)
            }
            messages.append(ChatMessage(role: .tool, content: .text(text), toolCallID: callID))
        case "reasoning"?:
            return
        case nil:
            throw APIError.missing(path + ".type")
        case let other?:
            unsupported(path + ".type", "an input item of type \"\(other)\"")
        }
    }

    mutating func addMessage(_ o: JSONObject, path: String) throws(APIError) {
        var r = RequestReader(object: o, prefix: path + ".")
        guard let roleText = try r.string("role") else { throw APIError.missing(path + ".role") }
        guard let role = ChatRole(rawValue: roleText), [.user, .system, .developer, .assistant].contains(role) else {
            throw .invalidRequest(
                "Invalid value '\(roleText)' for \(path).role: expected one of user, system, developer, assistant.",
                param: path + ".role", code: "invalid_value")
        }
        guard let content = o["content"], !content.isNull else { throw APIError.missing(path + ".content") }
        var message: ChatMessage
        switch content {
        case .string(let s):
            message = ChatMessage(role: role, content: .text(s))
        case .array(let parts):
            var out: [ContentPart] = []
            var refusal: String?
            for (k, part) in parts.enumerated() {
                let partPath = "\(path).content[\(k)]"
                switch try self.part(part, path: partPath) {
                case .refusal(let t)? where role == .assistant: refusal = (refusal ?? "") + t
                case let p?: out.append(p)
                case nil: continue
                }
            }
            if role == .assistant {
                // An assistant turn is text for every target: its parts are joined.
                let text = MessageContent.parts(out).text
                message = ChatMessage(role: role, content: text.isEmpty && refusal != nil ? nil : .text(text))
                message.refusal = refusal
            } else {
                message = ChatMessage(role: role, content: .parts(out))
            }
        default:
            throw APIError.wrongType(path + ".content", expected: "string or array", got: content)
        }
        messages.append(message)
    }

    mutating func part(_ value: JSON, path: String) throws(APIError) -> ContentPart? {
        var r = try RequestReader(value, at: path)
        let type = try r.requiredString("type")
        switch type {
        case "input_text", "output_text", "text": return .text(try r.requiredString("text"))
        case "refusal": return .refusal(try r.requiredString("refusal"))
        case "input_image":
            if let url = try r.string("image_url") { return .imageURL(url: url, detail: try r.string("detail")) }
            if try r.string("file_id") != nil {
                unsupported(path + ".file_id", "an image given by file_id")
                return nil
            }
            throw APIError.missing(path + ".image_url")
        case "input_file":
            let data = try r.string("file_data")
            let id = try r.string("file_id")
            if data == nil, id == nil {
                if try r.string("file_url") != nil {
                    unsupported(path + ".file_url", "a file given by file_url")
                    return nil
                }
                throw APIError.missing(path + ".file_data")
            }
            return .file(fileData: data.map(Self.dataURL), fileID: id, filename: try r.string("filename"))
        case "input_audio":
            return try r.inputAudio()
        default:
            unsupported(path + ".type", "a content part of type \"\(type)\"")
            return nil
        }
    }

    /// `file_data` as the codecs expect it: a data URL. The Responses API takes either a data URL
    /// or bare base64 (then a PDF is assumed, the type Chat Completions files carry) *(unverified)*.
    static func dataURL(_ data: String) -> String {
        data.hasPrefix("data:") ? data : "data:application/pdf;base64," + data
    }

    mutating func unsupported(_ param: String, _ what: String) {
        guard !lenient else { return }
        untranslatable.append(UntranslatableField(param: param, what: what))
    }
}
