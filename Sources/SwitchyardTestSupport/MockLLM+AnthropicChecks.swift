import SwitchyardCore

extension MockLLM {
    /// What the real Messages API would refuse in a body, as its 400 message; nil when valid.
    /// Checked: `system` blocks, every content block's required fields (image and document
    /// sources, `tool_use.input` an object), empty text blocks, `tool_use` only from the assistant
    /// and `tool_result` only from the user, each `tool_use` answered by a `tool_result` at the
    /// start of the next user turn and every `tool_result` answering one, `tools` present when the
    /// history has tool blocks, tool `input_schema` of type object, `cache_control` of type
    /// `ephemeral`, `thinking.budget_tokens` of at least 1,024 and below `max_tokens`, and with
    /// thinking on, a final assistant turn (a prefill) that starts with a thinking block
    /// *(unverified: the API's wording of that refusal)*.
    static func anthropicProblem(_ body: JSONObject, countsTokens: Bool) -> String? {
        if let system = body["system"] {
            switch system {
            case .string: break
            case .array(let blocks):
                for (i, b) in blocks.enumerated() {
                    guard b["type"]?.stringValue == "text", let t = b["text"]?.stringValue else {
                        return "system.\(i): Input should be a valid text block"
                    }
                    if t.isEmpty { return "system: text content blocks must be non-empty" }
                    if let p = cacheControlProblem(b, "system.\(i)") { return p }
                }
            default: return "system: Input should be a valid string or list of text blocks"
            }
        }
        let messages = body["messages"]?.arrayValue ?? []
        var sawToolBlocks = false
        var pending: [String] = []
        for (i, m) in messages.enumerated() {
            let role = m["role"]?.stringValue ?? ""
            let isFinalAssistant = i == messages.count - 1 && role == "assistant"
            guard case .array(let blocks)? = m["content"] else {
                if m["content"]?.stringValue == nil { return "messages.\(i).content: Input should be a valid list" }
                if !pending.isEmpty { return unanswered(pending, i) }
                if m["content"]?.stringValue == "", !isFinalAssistant {
                    return
                        "messages.\(i): all messages must have non-empty content except for the optional final assistant message"
                }
                continue
            }
            var answered: [String] = []
            var seenOther = false
            for (k, b) in blocks.enumerated() {
                let path = "messages.\(i).content.\(k)"
                if let p = cacheControlProblem(b, path) { return p }
                switch b["type"]?.stringValue {
                case "text":
                    guard let t = b["text"]?.stringValue else { return "\(path).text: Field required" }
                    if t.isEmpty { return "messages: text content blocks must be non-empty" }
                    seenOther = true
                case "image":
                    if let p = imageProblem(b["source"], path) { return p }
                    seenOther = true
                case "document":
                    let type = b["source"]?["type"]?.stringValue
                    guard ["base64", "text", "url", "content", "file"].contains(type ?? "") else {
                        return
                            "\(path).source: Input tag '\(type ?? "")' found using 'type' does not match any of the expected tags"
                    }
                    seenOther = true
                case "tool_use":
                    guard role == "assistant" else {
                        return "\(path): tool_use blocks are only allowed in assistant messages"
                    }
                    guard b["id"]?.stringValue != nil, b["name"]?.stringValue != nil else {
                        return "\(path).id: Field required"
                    }
                    guard case .object? = b["input"] else { return "\(path).input: Input should be a valid dictionary" }
                    sawToolBlocks = true
                case "tool_result":
                    guard role == "user" else { return "\(path): tool_result blocks are only allowed in user messages" }
                    guard let id = b["tool_use_id"]?.stringValue else { return "\(path).tool_use_id: Field required" }
                    guard pending.contains(id) else {
                        return
                            "messages.\(i).content.\(k): unexpected `tool_use_id` found in `tool_result` blocks: \(id). Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
                    }
                    if seenOther { return "messages.\(i): `tool_result` blocks must come first in the user message" }
                    answered.append(id)
                    sawToolBlocks = true
                case "thinking", "redacted_thinking":
                    guard role == "assistant" else {
                        return "\(path): thinking blocks are only allowed in assistant messages"
                    }
                case let other:
                    return
                        "\(path).type: Input tag '\(other ?? "")' found using 'type' does not match any of the expected tags"
                }
            }
            let missing = pending.filter { !answered.contains($0) }
            if !missing.isEmpty { return unanswered(missing, i) }
            pending =
                role == "assistant"
                ? blocks.compactMap { $0["type"]?.stringValue == "tool_use" ? $0["id"]?.stringValue : nil } : []
        }
        if !pending.isEmpty, !countsTokens, messages.last?["role"]?.stringValue != "assistant" {
            return unanswered(pending, messages.count)
        }
        let tools = body["tools"]?.arrayValue ?? []
        if sawToolBlocks, tools.isEmpty {
            return "Requests which include `tool_use` or `tool_result` blocks must define tools."
        }
        for (i, t) in tools.enumerated() {
            if let p = cacheControlProblem(t, "tools.\(i)") { return p }
            guard t["type"] == nil || t["type"]?.stringValue == "custom" else { continue }
            guard t["input_schema"]?["type"]?.stringValue == "object" else {
                return "tools.\(i).custom.input_schema.type: Input should be 'object'"
            }
        }
        let thinkingType = body["thinking"]?["type"]?.stringValue
        if thinkingType == "enabled" || thinkingType == "adaptive", messages.count > 1,
            messages.last?["role"]?.stringValue == "assistant"
        {
            let first = messages.last?["content"]?.arrayValue?.first?["type"]?.stringValue
            if first != "thinking", first != "redacted_thinking" {
                return "messages.\(messages.count - 1).content.0.type: Expected `thinking` or `redacted_thinking`, "
                    + "but found `\(first ?? "text")`. When `thinking` is enabled, a final `assistant` message must "
                    + "start with a thinking block."
            }
        }
        if thinkingType == "enabled" {
            let budget = body["thinking"]?["budget_tokens"]?.intValue ?? 0
            if budget < 1024 { return "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024" }
            if !countsTokens, let max = body["max_tokens"]?.intValue, budget >= max {
                return "`max_tokens` must be greater than `thinking.budget_tokens`."
            }
        }
        return nil
    }

    static func unanswered(_ ids: [String], _ i: Int) -> String {
        "messages.\(i): `tool_use` ids were found without `tool_result` blocks immediately after: "
            + ids.joined(separator: ", ")
            + ". Each `tool_use` block must have a corresponding `tool_result` block in the next message."
    }

    static func cacheControlProblem(_ block: JSON, _ path: String) -> String? {
        guard let c = block["cache_control"], !c.isNull else { return nil }
        return c["type"]?.stringValue == "ephemeral" ? nil : "\(path).cache_control.type: Input should be 'ephemeral'"
    }

    static func imageProblem(_ source: JSON?, _ path: String) -> String? {
        switch source?["type"]?.stringValue {
        case "base64":
            let types = ["image/jpeg", "image/png", "image/gif", "image/webp"]
            guard let mt = source?["media_type"]?.stringValue, types.contains(mt) else {
                return
                    "\(path).source.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'"
            }
            guard let data = source?["data"]?.stringValue, !data.isEmpty, !data.hasPrefix("data:") else {
                return "\(path).source.base64.data: Input should be plain base64 without a data: prefix"
            }
            return nil
        case "url":
            return source?["url"]?.stringValue == nil ? "\(path).source.url.url: Field required" : nil
        case "file":
            return source?["file_id"]?.stringValue == nil ? "\(path).source.file.file_id: Field required" : nil
        default:
            return "\(path).source: Input tag found using 'type' does not match any of the expected tags"
        }
    }

    /// Images in the last user turn of any wire format, for the mock's "how many images?" answer.
    static func imageCount(_ content: JSON?) -> Int {
        (content?.arrayValue ?? []).filter { p in
            let t = p["type"]?.stringValue
            return t == "image" || t == "image_url" || t == "input_image"
                || p["inlineData"]?["mimeType"]?.stringValue?.hasPrefix("image/") == true
        }.count
    }
}
