import SwitchyardCore

/// Anthropic `system` and `messages` → unified chat messages, for targets that are not Anthropic.
///
/// - `system` (a string or `text` blocks) and `system`-role messages become one system message per
///   block, so each target joins them its own way.
/// - A user message's `tool_result` blocks become `tool` messages first, in order (Anthropic puts
///   them first too); its other blocks follow as one user message. Images inside a tool result
///   join that user message, since a Chat Completions tool message carries text only.
/// - An assistant message's text blocks become its content, its `tool_use` blocks its tool calls
///   (`input` serialised as the arguments); `thinking` and `redacted_thinking` are dropped (their
///   signatures mean something to Anthropic only, **policy**).
/// - `image` with a `base64` or `url` source, `document` with a `base64` PDF, `text` or
///   `content` source are mapped; `cache_control`, `citations`, a document's `title` and
///   `context` are dropped.
/// - Blocks only Anthropic can use (files by id, PDF URLs, `search_result`, server tool calls and
///   results, `container_upload`, block types newer than this parser) are recorded in
///   `untranslatable`: an Anthropic target receives them as sent, any other answers 400.
struct MessagesContent {
    private(set) var messages: [ChatMessage] = []
    private(set) var untranslatable: [UntranslatableField] = []

    static let imageTypes: Set<String> = ["image/jpeg", "image/png", "image/gif", "image/webp"]

    mutating func addSystem(_ value: JSON, path: String) throws(APIError) {
        switch value {
        case .string(let s):
            if !s.isEmpty { messages.append(ChatMessage(role: .system, content: .text(s))) }
        case .array(let blocks):
            for (i, block) in blocks.enumerated() {
                let p = "\(path)[\(i)]"
                guard case .object(let o) = block else { throw APIError.wrongType(p, expected: "object", got: block) }
                var r = RequestReader(object: o, prefix: p + ".")
                guard try r.string("type") == "text" else {
                    throw .invalidRequest("\(p).type must be text.", param: p + ".type", code: "invalid_value")
                }
                guard let text = try r.string("text") else { throw APIError.missing(p + ".text") }
                if !text.isEmpty { messages.append(ChatMessage(role: .system, content: .text(text))) }
            }
        default:
            throw APIError.wrongType(path, expected: "string or array", got: value)
        }
    }

    mutating func addMessage(_ value: JSON, path: String) throws(APIError) {
        guard case .object(let o) = value else { throw APIError.wrongType(path, expected: "object", got: value) }
        var r = RequestReader(object: o, prefix: path + ".")
        guard let role = try r.string("role") else { throw APIError.missing(path + ".role") }
        guard let content = r.value("content") else { throw APIError.missing(path + ".content") }
        switch role {
        case "system":
            try addSystem(content, path: path + ".content")
        case "user":
            try addUser(content, path: path + ".content")
        case "assistant":
            try addAssistant(content, path: path + ".content")
        default:
            throw .invalidRequest(
                "Invalid value '\(role)' for \(path).role: expected user or assistant.", param: path + ".role",
                code: "invalid_value")
        }
    }

    // MARK: User turns

    mutating func addUser(_ content: JSON, path: String) throws(APIError) {
        let blocks: [JSON]
        switch content {
        case .string(let s):
            messages.append(ChatMessage(role: .user, content: .text(s)))
            return
        case .array(let b): blocks = b
        default: throw APIError.wrongType(path, expected: "string or array", got: content)
        }
        var results: [ChatMessage] = []
        var parts: [ContentPart] = []
        var resultImages: [ContentPart] = []
        for (i, block) in blocks.enumerated() {
            let p = "\(path)[\(i)]"
            let (type, o) = try Self.block(block, path: p)
            switch type {
            case "tool_result":
                var r = RequestReader(object: o, prefix: p + ".")
                guard let id = try r.string("tool_use_id") else { throw APIError.missing(p + ".tool_use_id") }
                var text = ""
                switch o["content"] {
                case nil, .null?: break
                case .string(let s)?: text = s
                case .array(let inner)?:
                    for (k, item) in inner.enumerated() {
                        let ip = "\(p).content[\(k)]"
                        let (innerType, io) = try Self.block(item, path: ip)
                        switch innerType {
                        case "text":
                            var tr = RequestReader(object: io, prefix: ip + ".")
                            guard let t = try tr.string("text") else { throw APIError.missing(ip + ".text") }
                            text += text.isEmpty || t.isEmpty ? t : "\n" + t
                        case "image":
                            if let image = try self.image(io, path: ip) { resultImages.append(image) }
                        default:
                            unsupported(ip, "a \"\(innerType)\" block inside a tool result")
                        }
                    }
                case let other?:
                    throw APIError.wrongType(p + ".content", expected: "string or array", got: other)
                }
                results.append(ChatMessage(role: .tool, content: .text(text), toolCallID: id))
            case "tool_use":
                throw .invalidRequest(
                    "\(p): tool_use blocks belong in assistant messages.", param: p + ".type", code: "invalid_value")
            default:
                if let part = try userPart(type, o, path: p) { parts.append(part) }
            }
        }
        messages += results
        let all = resultImages + parts
        if !all.isEmpty || results.isEmpty { messages.append(ChatMessage(role: .user, content: .parts(all))) }
    }

    /// One non-tool block of a user turn; nil when dropped or recorded as untranslatable.
    mutating func userPart(_ type: String, _ o: JSONObject, path: String) throws(APIError) -> ContentPart? {
        var r = RequestReader(object: o, prefix: path + ".")
        switch type {
        case "text":
            guard let t = try r.string("text") else { throw APIError.missing(path + ".text") }
            return t.isEmpty ? nil : .text(t)
        case "image":
            return try image(o, path: path)
        case "document":
            return try document(o, path: path)
        case "thinking", "redacted_thinking":
            return nil
        default:
            unsupported(path, "a \"\(type)\" block")
            return nil
        }
    }

    mutating func image(_ o: JSONObject, path: String) throws(APIError) -> ContentPart? {
        var r = RequestReader(object: o, prefix: path + ".")
        var sr = RequestReader(object: try r.requiredObject("source"), prefix: path + ".source.")
        switch try sr.string("type") {
        case "base64":
            let mediaType = try sr.requiredString("media_type")
            guard Self.imageTypes.contains(mediaType) else {
                throw .invalidRequest(
                    "\(path).source.media_type must be one of image/jpeg, image/png, image/gif, image/webp.",
                    param: path + ".source.media_type", code: "invalid_value")
            }
            return .imageURL(url: "data:\(mediaType);base64,\(try sr.requiredString("data"))", detail: nil)
        case "url":
            return .imageURL(url: try sr.requiredString("url"), detail: nil)
        case nil:
            throw APIError.missing(path + ".source.type")
        case let other?:
            unsupported(path + ".source", "an image source of type \"\(other)\"")
            return nil
        }
    }

    mutating func document(_ o: JSONObject, path: String) throws(APIError) -> ContentPart? {
        var r = RequestReader(object: o, prefix: path + ".")
        let source = try r.requiredObject("source")
        var sr = RequestReader(object: source, prefix: path + ".source.")
        switch try sr.string("type") {
        case "base64":
            let mediaType = try sr.string("media_type") ?? "application/pdf"
            let data = try sr.requiredString("data")
            return .file(
                fileData: "data:\(mediaType);base64,\(data)", fileID: nil,
                filename: try r.string("title") ?? "document.pdf")
        case "text":
            return .text(try sr.requiredString("data"))
        case "content":
            switch source["content"] {
            case .string(let s)?:
                return .text(s)
            case .array(let blocks)?:
                var text = ""
                for (k, b) in blocks.enumerated() {
                    let (t, bo) = try Self.block(b, path: "\(path).source.content[\(k)]")
                    if t == "text", let s = bo["text"]?.stringValue { text += text.isEmpty ? s : "\n" + s }
                    if t == "image" { unsupported("\(path).source.content[\(k)]", "an image inside a document") }
                }
                return .text(text)
            default:
                throw APIError.missing(path + ".source.content")
            }
        case nil:
            throw APIError.missing(path + ".source.type")
        case let other?:
            unsupported(path + ".source", "a document source of type \"\(other)\"")
            return nil
        }
    }

    // MARK: Assistant turns

    mutating func addAssistant(_ content: JSON, path: String) throws(APIError) {
        switch content {
        case .string(let s):
            messages.append(ChatMessage(role: .assistant, content: .text(s)))
        case .array(let blocks):
            var text = ""
            var calls: [ToolCall] = []
            for (i, block) in blocks.enumerated() {
                let p = "\(path)[\(i)]"
                let (type, o) = try Self.block(block, path: p)
                var r = RequestReader(object: o, prefix: p + ".")
                switch type {
                case "text":
                    guard let t = try r.string("text") else { throw APIError.missing(p + ".text") }
                    text += t
                case "tool_use":
                    guard let id = try r.string("id") else { throw APIError.missing(p + ".id") }
                    guard let name = try r.string("name") else { throw APIError.missing(p + ".name") }
                    let input = try r.object("input") ?? JSONObject()
                    calls.append(ToolCall(id: id, name: name, arguments: JSON.object(input).serializedString()))
                case "thinking", "redacted_thinking":
                    continue
                case "tool_result":
                    throw .invalidRequest(
                        "\(p): tool_result blocks belong in user messages.", param: p + ".type", code: "invalid_value")
                default:
                    unsupported(p, "a \"\(type)\" block")
                }
            }
            messages.append(
                ChatMessage(
                    role: .assistant, content: text.isEmpty && !calls.isEmpty ? nil : .text(text), toolCalls: calls))
        default:
            throw APIError.wrongType(path, expected: "string or array", got: content)
        }
    }

    // MARK: Helpers

    /// A block's `type` and fields.
    static func block(_ value: JSON, path: String) throws(APIError) -> (String, JSONObject) {
        guard case .object(let o) = value else { throw APIError.wrongType(path, expected: "object", got: value) }
        var r = RequestReader(object: o, prefix: path + ".")
        guard let type = try r.string("type") else { throw APIError.missing(path + ".type") }
        return (type, o)
    }

    mutating func unsupported(_ param: String, _ what: String) {
        untranslatable.append(UntranslatableField(param: param, what: what))
    }
}
