import SwitchyardCore

/// OpenAI `messages` → Anthropic `system` + `messages` (docs/translation.md §2, steps 1–8).
///
/// Feed messages in order with ``add(_:at:)``, then call ``finish()``.
///
/// **Policy, `system` shape:** one string, the system/developer texts joined with `"\n\n"` in
/// their original order (the form of the worked example in docs/translation.md §2.2; every Anthropic
/// model accepts it). Empty system texts are skipped; with none left `system` is omitted.
struct AnthropicMessageBuilder {
    struct Turn {
        var role: String
        var blocks: [JSON]
    }

    private(set) var systemTexts: [String] = []
    private(set) var turns: [Turn] = []
    /// Names of functions called in the history, in order of first appearance (for stub tools).
    private(set) var calledToolNames: [String] = []
    private var calledToolNameSet: Set<String> = []
    /// Calls of the latest assistant message not answered yet: original id and JSON path.
    private var pending = PendingToolCalls()
    let provider: String

    init(provider: String) { self.provider = provider }

    mutating func add(_ message: ChatMessage, at i: Int) throws(APIError) {
        let path = "messages[\(i)]"
        switch message.role {
        case .system, .developer:
            // Removed from the list wherever they are, so they do not interrupt a tool exchange.
            let text = try AnthropicContent.plainText(message.content, path: path + ".content")
            if !text.isEmpty { systemTexts.append(text) }
        case .tool:
            let id = message.toolCallID ?? ""
            guard pending.answer(id) else {
                throw .invalidRequest(
                    "\(path).tool_call_id '\(id)' does not answer an unanswered tool call of the preceding assistant message.",
                    param: path + ".tool_call_id", code: "invalid_value")
            }
            var result: JSONObject = ["type": "tool_result", "tool_use_id": .string(AnthropicWire.toolID(id))]
            let text = try AnthropicContent.plainText(message.content, path: path + ".content")
            // `content: ""` is refused by Anthropic; a block without `content` is its documented empty result.
            if !text.isEmpty { result["content"] = .string(text) }
            append("user", [.object(result)])
        case .user:
            try requireAnswered(before: path)
            append(
                "user", try AnthropicContent.userBlocks(message.content, path: path + ".content", provider: provider))
        case .assistant:
            try requireAnswered(before: path)
            var blocks = try AnthropicContent.assistantBlocks(message, path: path + ".content")
            for (j, call) in message.toolCalls.enumerated() {
                let input = try Self.arguments(call.arguments, path: "\(path).tool_calls[\(j)].function.arguments")
                blocks.append([
                    "type": "tool_use", "id": .string(AnthropicWire.toolID(call.id)), "name": .string(call.name),
                    "input": input,
                ])
                pending.add(id: call.id, path: "\(path).tool_calls[\(j)]")
                if calledToolNameSet.insert(call.name).inserted { calledToolNames.append(call.name) }
            }
            append("assistant", blocks)
        case .function:
            throw .unsupportedValue(
                path + ".role",
                "Messages with role 'function' (deprecated) are not supported for \(provider) models; use tool messages."
            )
        }
    }

    /// The system string (nil when empty) and the `messages` array.
    mutating func finish() throws(APIError) -> (system: String?, messages: [JSON]) {
        try requireAnswered(before: nil)
        stripTrailingAssistantWhitespace()
        guard let first = turns.first else {
            throw .invalidRequest(
                "`messages` must contain at least one user or assistant message with content.", param: "messages",
                code: "invalid_value")
        }
        var messages: [JSON] = []
        messages.reserveCapacity(turns.count + 1)
        // Anthropic requires a user turn first (**policy**, as LiteLLM: insert "." rather than reject).
        if first.role == "assistant" { messages.append(["role": "user", "content": "."]) }
        for t in turns { messages.append(["role": .string(t.role), "content": .array(t.blocks)]) }
        return (systemTexts.isEmpty ? nil : systemTexts.joined(separator: "\n\n"), messages)
    }

    /// Merges adjacent same-role turns. A message without blocks, or with only whitespace
    /// text, is dropped: Anthropic refuses a message whose text blocks are all whitespace
    /// ("text content blocks must contain non-whitespace text"; observed, not documented).
    private mutating func append(_ role: String, _ blocks: [JSON]) {
        let whitespaceOnly = blocks.allSatisfy { b in
            b["type"]?.stringValue == "text" && b["text"]?.stringValue?.allSatisfy(\.isWhitespace) == true
        }
        guard !whitespaceOnly else { return }  // also true for no blocks
        if let last = turns.indices.last, turns[last].role == role {
            turns[last].blocks.append(contentsOf: blocks)
        } else {
            turns.append(Turn(role: role, blocks: blocks))
        }
    }

    /// Every tool call must be answered by a tool message before the next user/assistant
    /// message (and before the end); Anthropic would 400 otherwise.
    private mutating func requireAnswered(before path: String?) throws(APIError) {
        guard let open = pending.first() else { return }
        let place = path.map { "before \($0)" } ?? "at the end of messages"
        throw .invalidRequest(
            "Tool call '\(open.id)' (\(open.path)) has no tool message answering it \(place); "
                + "each tool call needs exactly one tool message right after its assistant message.",
            param: open.path + ".id", code: "invalid_value")
    }

    /// A final assistant turn is a prefill, and Anthropic refuses one ending in whitespace
    /// ("final assistant content cannot end with trailing whitespace"): trim its last text block,
    /// dropping blocks (and the turn) left empty.
    private mutating func stripTrailingAssistantWhitespace() {
        while let last = turns.indices.last, turns[last].role == "assistant" {
            guard let b = turns[last].blocks.indices.last, turns[last].blocks[b]["type"]?.stringValue == "text",
                let text = turns[last].blocks[b]["text"]?.stringValue
            else { return }
            let trimmed = Self.trimmingTrailingWhitespace(text)
            if trimmed.count == text.count { return }
            if trimmed.isEmpty {
                turns[last].blocks.removeLast()
                if turns[last].blocks.isEmpty { turns.removeLast() }
            } else {
                turns[last].blocks[b]["text"] = .string(trimmed)
                return
            }
        }
    }

    static func trimmingTrailingWhitespace(_ s: String) -> String {
        var end = s.endIndex
        while end > s.startIndex {
            let prev = s.index(before: end)
            guard s[prev].isWhitespace else { break }
            end = prev
        }
        return String(s[..<end])
    }

    /// `arguments` → the `input` object: `""` (or whitespace) is `{}`; invalid JSON or a non-object is rejected.
    static func arguments(_ text: String, path: String) throws(APIError) -> JSON {
        if text.allSatisfy(\.isWhitespace) { return .object([:]) }
        guard let value = try? JSON.parse(text), case .object = value else {
            throw .invalidRequest(
                "\(path) must be a JSON object encoded as a string.", param: path, code: "invalid_value")
        }
        return value
    }
}
