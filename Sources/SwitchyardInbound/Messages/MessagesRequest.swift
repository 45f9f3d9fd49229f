public import SwitchyardCore

/// Anthropic Messages request bodies (`MessageCreateParams`, `MessageCountTokensParams` in the
/// SDK) → the unified request. `raw` keeps the body as received: an Anthropic target gets it with
/// only `model` replaced, so `cache_control`, thinking blocks and their signatures, documents,
/// citations, betas and fields newer than this parser reach it untouched. The typed fields are
/// what an OpenAI or Gemini target is written from (`MessagesCompatibility` lists every field's
/// fate); what only Anthropic can honour is recorded in `untranslatable`, answered with a 400 by
/// the translating codecs.
///
/// Checked here as the API checks them (400 `invalid_request_error` naming the field): `model`,
/// `max_tokens` (not for a token count), `messages` with roles `user`, `assistant` (and `system`,
/// which the 2.17 SDK's `MessageParam` admits), each block's required fields, `temperature` and
/// `top_p` in 0…1, tool definitions and `tool_choice`.
public enum MessagesRequest {
    /// Top-level fields with no counterpart elsewhere that change what the model does.
    static let nativeOnlyFields = ["container", "mcp_servers", "context_management"]

    public static func parse(body: [UInt8], countsTokens: Bool = false) throws(APIError) -> ChatRequest {
        let json: JSON
        do {
            json = try JSON.parse(body)
        } catch {
            throw .invalidRequest(
                "We could not parse the JSON body of your request (\(error)). Send valid JSON.", code: "invalid_json")
        }
        guard case .object(let o) = json else {
            throw .invalidRequest("The request body must be a JSON object.", code: "invalid_json")
        }
        return try parse(o, countsTokens: countsTokens)
    }

    public static func parse(_ o: JSONObject, countsTokens: Bool = false) throws(APIError) -> ChatRequest {
        var r = RequestReader(object: o)
        guard let model = try r.string("model") else { throw APIError.missing("model") }
        guard !model.isEmpty else { throw .invalidRequest("`model` must not be empty.", param: "model") }
        let maxTokens = try r.int("max_tokens", min: 0)
        if maxTokens == nil, !countsTokens { throw APIError.missing("max_tokens") }
        guard let rawMessages = r.value("messages") else { throw APIError.missing("messages") }
        guard case .array(let items) = rawMessages else {
            throw APIError.wrongType("messages", expected: "array", got: rawMessages)
        }
        guard !items.isEmpty else {
            throw .invalidRequest("`messages` must contain at least one message.", param: "messages")
        }

        var content = MessagesContent()
        if let system = r.value("system") { try content.addSystem(system, path: "system") }
        for (i, item) in items.enumerated() { try content.addMessage(item, path: "messages[\(i)]") }

        var req = ChatRequest(model: model, messages: content.messages, raw: o, origin: .anthropicMessages)
        req.untranslatable = content.untranslatable
        req.countsTokens = countsTokens
        req.maxTokens = maxTokens.map { max(1, $0) }
        req.stream = countsTokens ? false : (try r.bool("stream") ?? false)
        req.temperature = try r.number("temperature", range: 0...1)
        req.topP = try r.number("top_p", range: 0...1)
        req.topK = try r.int("top_k", min: 0)
        if let stops = r.value("stop_sequences") {
            guard case .array(let values) = stops else {
                throw APIError.wrongType("stop_sequences", expected: "array", got: stops)
            }
            for (i, v) in values.enumerated() {
                guard let s = v.stringValue else {
                    throw APIError.wrongType("stop_sequences[\(i)]", expected: "string", got: v)
                }
                req.stop.append(s)
            }
        }
        if let metadata = try r.object("metadata") {
            var mr = RequestReader(object: metadata, prefix: "metadata.")
            req.user = try mr.string("user_id")
        }
        if let tools = r.value("tools") {
            guard case .array(let defs) = tools else {
                throw APIError.wrongType("tools", expected: "array", got: tools)
            }
            for (i, t) in defs.enumerated() {
                if let tool = try parseTool(t, path: "tools[\(i)]", untranslatable: &req.untranslatable) {
                    req.tools.append(tool)
                }
            }
        }
        if let choice = try r.object("tool_choice") {
            try parseToolChoice(choice, into: &req, hasTools: r.value("tools")?.arrayValue?.isEmpty == false)
        }
        if let thinking = try r.object("thinking") { req.thinking = try parseThinking(thinking) }
        if let output = try r.object("output_config") {
            var or = RequestReader(object: output, prefix: "output_config.")
            if let format = try or.object("format") {
                var fr = RequestReader(object: format, prefix: "output_config.format.")
                guard try fr.string("type") == "json_schema" else {
                    throw .invalidRequest(
                        "output_config.format.type must be json_schema.", param: "output_config.format.type",
                        code: "invalid_value")
                }
                guard let schema = try fr.object("schema") else {
                    throw APIError.missing("output_config.format.schema")
                }
                req.responseFormat = .jsonSchema(name: "output", description: nil, schema: .object(schema), strict: nil)
            }
        }
        for key in nativeOnlyFields where r.value(key) != nil {
            req.untranslatable.append(UntranslatableField(param: key, what: "`\(key)`"))
        }
        return req
    }

    /// A client tool (`input_schema`, `type` absent or `custom`) becomes a function; a server tool
    /// (`web_search_…`, `bash_…`, `code_execution_…`, …) is Anthropic's own and recorded as
    /// untranslatable.
    static func parseTool(
        _ value: JSON, path: String, untranslatable: inout [UntranslatableField]
    ) throws(APIError) -> ToolDefinition? {
        guard case .object(let o) = value else { throw APIError.wrongType(path, expected: "object", got: value) }
        var r = RequestReader(object: o, prefix: path + ".")
        let type = try r.string("type")
        guard let name = try r.string("name") else { throw APIError.missing(path + ".name") }
        if let type, type != "custom" {
            untranslatable.append(UntranslatableField(param: path, what: "the server tool \"\(type)\""))
            return nil
        }
        guard !name.isEmpty, name.utf8.count <= 128 else {
            throw .invalidRequest(
                "\(path).name must be 1 to 128 characters.", param: path + ".name", code: "invalid_value")
        }
        guard let schema = try r.object("input_schema") else { throw APIError.missing(path + ".input_schema") }
        return ToolDefinition(
            kind: .function, name: name, description: try r.string("description"), parameters: .object(schema),
            strict: try r.bool("strict"))
    }

    /// `auto` / `any` / `tool` / `none`; `disable_parallel_tool_use` → `parallelToolCalls = false`.
    static func parseToolChoice(_ o: JSONObject, into req: inout ChatRequest, hasTools: Bool) throws(APIError) {
        var r = RequestReader(object: o, prefix: "tool_choice.")
        guard let type = try r.string("type") else { throw APIError.missing("tool_choice.type") }
        switch type {
        case "auto": req.toolChoice = .auto
        case "any": req.toolChoice = .required
        case "none": req.toolChoice = ToolChoice.none
        case "tool":
            guard let name = try r.string("name") else { throw APIError.missing("tool_choice.name") }
            req.toolChoice = .function(name)
        default:
            throw .invalidRequest(
                "Invalid tool_choice.type '\(type)': expected auto, any, tool or none.", param: "tool_choice.type",
                code: "invalid_value")
        }
        if try r.bool("disable_parallel_tool_use") == true { req.parallelToolCalls = false }
        if !hasTools, type != "none" {
            throw .invalidRequest("`tool_choice` is only allowed when `tools` are specified.", param: "tool_choice")
        }
    }

    static func parseThinking(_ o: JSONObject) throws(APIError) -> ThinkingSetting {
        var r = RequestReader(object: o, prefix: "thinking.")
        guard let type = try r.string("type") else { throw APIError.missing("thinking.type") }
        switch type {
        case "disabled":
            return .disabled
        case "enabled":
            guard let budget = try r.int("budget_tokens", min: 1) else {
                throw APIError.missing("thinking.budget_tokens")
            }
            return .budget(budget)
        default:
            // `adaptive`, `between_tools` and types newer than this parser: the model decides.
            return .adaptive
        }
    }
}
