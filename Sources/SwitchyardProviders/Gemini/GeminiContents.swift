import SwitchyardCore

/// OpenAI `messages` → Gemini `systemInstruction` + `contents` (docs/translation.md §2, §2.1, §5).
///
/// System and developer text is hoisted; user/assistant/tool messages become `user`/`model`
/// turns; consecutive same-role turns merge; every assistant tool call must be answered by exactly
/// one tool message before the next non-tool message (Gemini 400s on a count mismatch).
struct GeminiContents {
    /// Text parts of `systemInstruction`, one per system/developer message.
    var systemParts: [JSON] = []
    /// `Content` objects in order.
    var contents: [JSON] = []
    /// Names of functions called in the history, first-seen order (stub declarations, docs/translation.md §2 step 9).
    var calledNames: [String] = []

    private var turns: [(role: String, parts: [JSON])] = []

    init(_ messages: [ChatMessage]) throws(APIError) {
        var nameByID: [String: String] = [:]
        var pending = PendingToolCalls()
        var pendingOwner = 0
        var calledNameSet: Set<String> = []
        for (i, m) in messages.enumerated() {
            if m.role != .tool, m.role != .system, m.role != .developer, !pending.isEmpty {
                throw Self.unanswered(pending.openIDs, owner: pendingOwner)
            }
            switch m.role {
            case .system, .developer:
                let text = m.content?.text ?? ""
                if !text.isEmpty { systemParts.append(.object(["text": .string(text)])) }
            case .user:
                append("user", try Self.userParts(m, index: i))
            case .assistant:
                var parts: [JSON] = []
                for p in m.content?.parts ?? [] {
                    switch p {
                    case .text(let t), .refusal(let t): if !t.isEmpty { parts.append(.object(["text": .string(t)])) }
                    default: continue
                    }
                }
                for (j, call) in m.toolCalls.enumerated() {
                    parts.append(try Self.functionCall(call, path: "messages[\(i)].tool_calls[\(j)]"))
                    nameByID[call.id] = call.name
                    if calledNameSet.insert(call.name).inserted { calledNames.append(call.name) }
                }
                pending.removeAll()
                for call in m.toolCalls { pending.add(id: call.id, path: "") }
                pendingOwner = i
                append("model", parts)
            case .tool:
                let path = "messages[\(i)].tool_call_id"
                let id = m.toolCallID ?? ""
                guard let name = nameByID[id] else {
                    throw APIError.invalidRequest(
                        "\(path) '\(id)' does not match any tool call of an earlier assistant message.", param: path,
                        code: "invalid_value")
                }
                guard pending.answer(id) else {
                    throw APIError.invalidRequest(
                        "\(path) '\(id)' answers a tool call that was already answered or belongs to an earlier turn; "
                            + "each tool call needs exactly one tool message right after its assistant message.",
                        param: path, code: "invalid_value")
                }
                append("user", [Self.functionResponse(name: name, id: id, content: m.content)])
            case .function:
                throw APIError.unsupportedValue(
                    "messages[\(i)].role",
                    "The deprecated 'function' role is not supported for Gemini models; use tool messages.")
            }
        }
        if !pending.isEmpty { throw Self.unanswered(pending.openIDs, owner: pendingOwner) }
        if turns.first?.role == "model" { turns.insert(("user", [.object(["text": "."])]), at: 0) }
        guard !turns.isEmpty else {
            throw APIError.invalidRequest(
                "messages must contain at least one user, assistant or tool message with content.", param: "messages",
                code: "invalid_value")
        }
        contents = turns.map { .object(["role": .string($0.role), "parts": .array($0.parts)]) }
    }

    /// Adds parts as a turn, merging into the previous turn when the role repeats (docs/translation.md §2 step 5).
    private mutating func append(_ role: String, _ parts: [JSON]) {
        guard !parts.isEmpty else { return }
        if turns.last?.role == role {
            turns[turns.count - 1].parts.append(contentsOf: parts)
        } else {
            turns.append((role, parts))
        }
    }

    private static func unanswered(_ ids: [String], owner: Int) -> APIError {
        .invalidRequest(
            "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                + "'tool_call_id'. Missing: \(ids.joined(separator: ", ")).",
            param: "messages[\(owner)].tool_calls", code: "invalid_value")
    }

    // MARK: Tool calls and results

    private static func functionCall(_ call: ToolCall, path: String) throws(APIError) -> JSON {
        let args: JSON
        if call.arguments.allSatisfy({ $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }) {
            args = .object([:])
        } else if let parsed = try? JSON.parse(call.arguments), case .object = parsed {
            args = parsed
        } else {
            throw APIError.invalidRequest(
                "\(path).function.arguments must be a JSON object encoded as a string.",
                param: path + ".function.arguments",
                code: "invalid_value")
        }
        let (base, signature) = GeminiToolCallID.split(call.id)
        var fc: JSONObject = ["name": .string(call.name), "args": args]
        if GeminiToolCallID.isGeminiIssued(base) { fc["id"] = .string(base) }
        var part: JSONObject = ["functionCall": .object(fc)]
        if let signature { part["thoughtSignature"] = .string(signature) }
        return .object(part)
    }

    /// `response` must be an object: the content itself when it is a JSON object, else `{"output": …}`.
    private static func functionResponse(name: String, id: String, content: MessageContent?) -> JSON {
        let text = content?.text ?? ""
        let response: JSON
        if let parsed = try? JSON.parse(text) {
            response = parsed.objectValue != nil ? parsed : .object(["output": parsed])
        } else {
            response = .object(["output": .string(text)])
        }
        var fr: JSONObject = ["name": .string(name), "response": response]
        let base = GeminiToolCallID.split(id).base
        if GeminiToolCallID.isGeminiIssued(base) { fr["id"] = .string(base) }
        return .object(["functionResponse": .object(fr)])
    }

    // MARK: User content parts (docs/translation.md §2.1)

    private static func userParts(_ m: ChatMessage, index i: Int) throws(APIError) -> [JSON] {
        guard let content = m.content else { return [] }
        var parts: [JSON] = []
        for (k, part) in content.parts.enumerated() {
            let path = "messages[\(i)].content[\(k)]"
            switch part {
            case .text(let t), .refusal(let t):
                if !t.isEmpty { parts.append(.object(["text": .string(t)])) }
            case .imageURL(let url, _):
                parts.append(try image(url, path: path + ".image_url.url"))
            case .inputAudio(let data, let format):
                guard format == "wav" || format == "mp3" else {
                    throw APIError.invalidRequest(
                        "\(path).input_audio.format must be wav or mp3.", param: path + ".input_audio.format",
                        code: "invalid_value")
                }
                parts.append(inline(mime: "audio/" + format, data: data))
            case .file(let fileData, let fileID, let filename):
                guard let fileData else {
                    if fileID != nil {
                        throw APIError.unsupportedParameter(
                            path + ".file.file_id", provider: "Gemini",
                            detail: "Files referenced by file_id are not supported for Gemini models; send file_data.")
                    }
                    throw APIError.invalidRequest(
                        "Missing required parameter: '\(path).file.file_data'.", param: path + ".file.file_data",
                        code: "missing_required_parameter")
                }
                parts.append(try pdf(fileData, filename: filename, path: path + ".file.file_data"))
            }
        }
        return parts
    }

    private static func inline(mime: String, data: String) -> JSON {
        .object(["inlineData": .object(["mimeType": .string(mime), "data": .string(data)])])
    }

    private static func image(_ url: String, path: String) throws(APIError) -> JSON {
        let lower = url.prefix(8).lowercased()
        if lower.hasPrefix("data:") {
            let (mime, data) = try dataURL(url, path: path)
            return inline(mime: mime, data: data)
        }
        if lower.hasPrefix("http://") || lower.hasPrefix("https://") {
            throw APIError.unsupportedValue(
                path,
                "Remote image URLs are not supported for Gemini models (remote fetch is not enabled on this gateway); "
                    + "send the image inline as a data:<mime>;base64,<data> URL.")
        }
        throw APIError.invalidRequest(
            "\(path) must be an http(s) URL or a data:<mime>;base64,<data> URL.", param: path, code: "invalid_value")
    }

    /// A PDF given as a data URL, or as bare base64 with a `.pdf` filename or PDF magic (`%PDF` → `JVBER`).
    private static func pdf(_ fileData: String, filename: String?, path: String) throws(APIError) -> JSON {
        let notPDF = APIError.unsupportedValue(path, "Only PDF files can be sent inline to Gemini models.")
        if fileData.prefix(5).lowercased() == "data:" {
            let (mime, data) = try dataURL(fileData, path: path)
            guard mime.lowercased() == "application/pdf" else { throw notPDF }
            return inline(mime: "application/pdf", data: data)
        }
        let isPDF = filename?.lowercased().hasSuffix(".pdf") == true || fileData.hasPrefix("JVBER")
        guard isPDF else { throw notPDF }
        return inline(mime: "application/pdf", data: fileData)
    }

    /// Splits `data:<mime>[;params];base64,<data>` at the first comma (docs/translation.md §2.1).
    private static func dataURL(_ url: String, path: String) throws(APIError) -> (mime: String, data: String) {
        let malformed = APIError.invalidRequest(
            "\(path) is not a valid data URL: expected data:<mime>;base64,<data>.", param: path, code: "invalid_value")
        guard let comma = url.firstIndex(of: ",") else { throw malformed }
        let header = url[url.index(url.startIndex, offsetBy: 5)..<comma]
        let data = String(url[url.index(after: comma)...])
        guard header.lowercased().hasSuffix(";base64"), !data.isEmpty else { throw malformed }
        let mime = String(header.split(separator: ";", omittingEmptySubsequences: false)[0])
        guard mime.contains("/") else { throw malformed }
        return (mime, data)
    }
}
