public import SwitchyardCore

/// Parses a `POST /v1/responses` body (`ResponseCreateParams` in the SDK) into the unified
/// request. `raw` keeps the body for an OpenAI target in native mode; the typed fields carry what
/// the other targets translate:
///
/// | Responses | unified |
/// |---|---|
/// | `instructions` | a leading `system` message |
/// | `input` (string or items) | messages (`ResponsesItems`) |
/// | `tools[]` `{type: function, name, description, parameters, strict}` | function tools |
/// | `tool_choice` `none`/`auto`/`required`/`{type: function, name}`/`allowed_tools` | the same choices |
/// | `text.format` `text`/`json_object`/`json_schema{name, schema, strict}` | response format |
/// | `max_output_tokens`, `temperature`, `top_p`, `parallel_tool_calls` | the same |
/// | `reasoning.effort` | reasoning effort |
/// | `user`, else `safety_identifier` | user |
///
/// Built-in tools (web search, file search, code interpreter, computer use, MCP, image
/// generation, shell…), a built-in `tool_choice`, `top_logprobs`, `prompt`, `conversation` and
/// `context_management` are untranslatable: only an OpenAI target in native mode serves them.
/// `store`, `metadata`, `previous_response_id`, `include`, `truncation`, `service_tier` and
/// `prompt_cache_*` are the gateway's or are dropped when translating. `background: true` is
/// refused on every target: the gateway answers a request in the request (**policy**).
public enum ResponsesRequest {
    public static func parse(body: [UInt8]) throws(APIError) -> ChatRequest {
        let json = try JSON.requestBody(body)
        guard case .object(let o) = json else {
            throw .invalidRequest("The request body must be a JSON object.", code: "invalid_json")
        }
        return try parse(o)
    }

    public static func parse(_ o: JSONObject) throws(APIError) -> ChatRequest {
        var r = RequestReader(object: o)
        guard let model = try r.string("model") else { throw APIError.missing("model") }
        guard !model.isEmpty else { throw .invalidRequest("`model` must not be empty.", param: "model") }
        let previous = try r.string("previous_response_id")
        let input = try ResponsesItems.items(ofInput: r.value("input"))
        if input.isEmpty, previous == nil, r.value("input") == nil {
            throw APIError.missing("input")
        }
        var items = ResponsesItems()
        try items.add(input, path: "input")
        var messages: [ChatMessage] = []
        if let instructions = try r.string("instructions") {
            messages.append(ChatMessage(role: .system, content: .text(instructions)))
        }
        messages += items.messages

        var req = ChatRequest(model: model, messages: messages, raw: o, origin: .responses)
        req.untranslatable = items.untranslatable
        req.stream = try r.bool("stream") ?? false
        req.maxTokens = try r.int("max_output_tokens", min: 1)
        req.temperature = try r.number("temperature", range: 0...2)
        req.topP = try r.number("top_p", range: 0...1)
        req.parallelToolCalls = try r.bool("parallel_tool_calls")
        if let user = try r.string("user") { req.user = user } else { req.user = try r.string("safety_identifier") }
        if let reasoning = try r.object("reasoning") {
            var rr = RequestReader(object: reasoning, prefix: "reasoning.")
            req.reasoningEffort = try rr.string("effort")
        }
        _ = try r.bool("store")
        _ = try r.object("metadata")
        if try r.bool("background") == true {
            throw .unsupportedParameter(
                "background", provider: "this gateway",
                detail: "background: Switchyard answers every response within its request; send background: false.")
        }
        if let n = try r.int("top_logprobs", min: 0, max: 20), n > 0 {
            req.untranslatable.append(UntranslatableField(param: "top_logprobs", what: "log probabilities"))
        }
        for key in ["prompt", "conversation", "context_management"] where r.value(key) != nil {
            req.untranslatable.append(UntranslatableField(param: key, what: "`\(key)`"))
        }
        try parseTools(o, into: &req)
        if let text = try r.object("text"), let format = text["format"], !format.isNull {
            req.responseFormat = try parseFormat(format)
        }
        return req
    }

    static func parseTools(_ o: JSONObject, into req: inout ChatRequest) throws(APIError) {
        var clientTools = 0
        if let tools = o["tools"], !tools.isNull {
            guard case .array(let list) = tools else {
                throw APIError.wrongType("tools", expected: "array", got: tools)
            }
            clientTools = list.count
            for (i, t) in list.enumerated() {
                let path = "tools[\(i)]"
                guard case .object(let to) = t else { throw APIError.wrongType(path, expected: "object", got: t) }
                var r = RequestReader(object: to, prefix: path + ".")
                guard let type = try r.string("type") else { throw APIError.missing(path + ".type") }
                switch type {
                case "function":
                    guard let name = try r.string("name") else { throw APIError.missing(path + ".name") }
                    guard ChatRequest.isValidToolName(name) else {
                        throw .invalidRequest(
                            "Invalid \(path).name '\(name)': use 1-64 characters of a-z, A-Z, 0-9, _ and -.",
                            param: path + ".name", code: "invalid_value")
                    }
                    var parameters: JSON?
                    if let p = r.value("parameters") {
                        guard case .object = p else {
                            throw APIError.wrongType(path + ".parameters", expected: "object", got: p)
                        }
                        parameters = p
                    }
                    req.tools.append(
                        ToolDefinition(
                            kind: .function, name: name, description: try r.string("description"),
                            parameters: parameters, strict: try r.bool("strict")))
                case "custom":
                    guard let name = try r.string("name") else { throw APIError.missing(path + ".name") }
                    req.tools.append(
                        ToolDefinition(kind: .custom, name: name, description: try r.string("description")))
                default:
                    req.untranslatable.append(UntranslatableField(param: path, what: "the built-in tool \"\(type)\""))
                }
            }
        }
        guard let choice = o["tool_choice"], !choice.isNull else { return }
        switch choice {
        case .string("none"): req.toolChoice = ToolChoice.none
        case .string("auto"): req.toolChoice = .auto
        case .string("required"): req.toolChoice = .required
        case .object(let co):
            var r = RequestReader(object: co, prefix: "tool_choice.")
            switch try r.string("type") {
            case "function"?:
                guard let name = try r.string("name") else { throw APIError.missing("tool_choice.name") }
                req.toolChoice = .function(name)
            case "custom"?:
                guard let name = try r.string("name") else { throw APIError.missing("tool_choice.name") }
                req.toolChoice = .custom(name)
            case "allowed_tools"?:
                let mode = try r.string("mode") ?? "auto"
                guard mode == "auto" || mode == "required" else {
                    throw .invalidRequest(
                        "tool_choice.mode must be auto or required.", param: "tool_choice.mode", code: "invalid_value")
                }
                var names: [String] = []
                for t in r.value("tools")?.arrayValue ?? [] {
                    if t["type"]?.stringValue == "function", let n = t["name"]?.stringValue { names.append(n) }
                }
                req.toolChoice = .allowedTools(names: names, required: mode == "required")
            case nil:
                throw APIError.missing("tool_choice.type")
            case let other?:
                req.untranslatable.append(
                    UntranslatableField(param: "tool_choice", what: "a tool_choice of type \"\(other)\""))
            }
        default:
            throw .invalidRequest(
                "Invalid value for tool_choice: expected none, auto, required or an object.", param: "tool_choice",
                code: "invalid_value")
        }
        if clientTools == 0, let c = req.toolChoice, c != ToolChoice.none {
            throw .invalidRequest("`tool_choice` is only allowed when `tools` are specified.", param: "tool_choice")
        }
    }

    static func parseFormat(_ value: JSON) throws(APIError) -> ResponseFormat {
        try ResponseFormat.parse(value, at: "text.format") { r throws(APIError) in
            let name = try r.requiredString("name")
            guard let schema = r.value("schema") else { throw APIError.missing("text.format.schema") }
            guard case .object = schema else {
                throw APIError.wrongType("text.format.schema", expected: "object", got: schema)
            }
            return .jsonSchema(
                name: name, description: try r.string("description"), schema: schema, strict: try r.bool("strict"))
        }
    }
}
