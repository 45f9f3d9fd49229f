/// A request in unified form, parsed from the body of whichever inbound API it arrived on
/// (`origin`): OpenAI Chat Completions (`ChatRequest.parse`), OpenAI Responses, Anthropic Messages.
///
/// Typed fields carry what the codecs translate; `raw` keeps the client's body as received so a
/// target whose native API is the origin forwards every field, unknown ones included, with only
/// `model` replaced.
public struct ChatRequest: Sendable {
    /// The API the client spoke; a codec forwards `raw` only to a target speaking it natively.
    public var origin: InboundAPI
    public var model: String
    public var messages: [ChatMessage]
    public var stream: Bool
    /// `stream_options.include_usage`: the client wants the final usage chunk.
    public var includeUsage: Bool
    /// `max_completion_tokens`, else `max_tokens` (the former wins when both are sent).
    public var maxTokens: Int?
    public var temperature: Double?
    public var topP: Double?
    /// `stop` as a list (a single string becomes one entry).
    public var stop: [String]
    public var n: Int?
    public var seed: Int?
    public var presencePenalty: Double?
    public var frequencyPenalty: Double?
    public var logprobs: Bool
    public var topLogprobs: Int?
    /// Non-empty `logit_bias`, which no translated provider supports.
    public var logitBias: JSONObject?
    /// `user`, else `safety_identifier`.
    public var user: String?
    public var tools: [ToolDefinition]
    public var toolChoice: ToolChoice?
    public var parallelToolCalls: Bool?
    public var responseFormat: ResponseFormat?
    /// `reasoning_effort` (Chat) or `reasoning.effort` (Responses): sent to OpenAI Chat targets
    /// when the request is translated, dropped by the Anthropic and Gemini codecs.
    public var reasoningEffort: String?
    /// Anthropic `top_k`: Gemini's `topK`; no OpenAI counterpart.
    public var topK: Int?
    /// Anthropic `thinking`: mapped to a target's reasoning setting where the target model is
    /// known to reason (see `ThinkingSetting`).
    public var thinking: ThinkingSetting?
    /// Headers of the origin API a target speaking it natively should receive (`anthropic-version`,
    /// `anthropic-beta` from a Messages client); translating codecs ignore them.
    public var nativeHeaders: [HeaderField] = []
    /// The client asked how many input tokens this request holds (`/v1/messages/count_tokens`),
    /// not for an answer: only a codec with a counting endpoint of the origin API encodes it;
    /// every other codec refuses, so no generation is ever billed for a count.
    public var countsTokens = false
    /// Fields only a native target can honour (see `UntranslatableField`).
    public var untranslatable: [UntranslatableField]
    /// The client's body exactly as received (after gateway-side expansion such as a stored
    /// conversation's history for `previous_response_id`).
    public var raw: JSONObject { didSet { rawBytes = nil } }
    /// The bytes `raw` was parsed from, while `raw` is unchanged (any change to `raw` clears
    /// them): a passthrough codec forwards them with `model` replaced in place instead of
    /// serialising `raw` again.
    public var rawBytes: [UInt8]? { didSet { rawLayout = nil } }
    /// Where `model` and `stream_options` lie in `rawBytes`, noted when they were parsed; nil
    /// once `rawBytes` changes.
    public private(set) var rawLayout: RequestBodyLayout?
    /// The final assistant message is a partial answer the upstream should continue (set by the
    /// router's mid-stream recovery, never parsed from a client body); codecs whose target
    /// continues through request flags write them.
    public var continuesFinalMessage = false

    public init(
        model: String, messages: [ChatMessage], raw: JSONObject = JSONObject(), origin: InboundAPI = .chatCompletions
    ) {
        self.origin = origin
        self.model = model
        self.messages = messages
        self.stream = false
        self.includeUsage = false
        self.maxTokens = nil
        self.temperature = nil
        self.topP = nil
        self.stop = []
        self.n = nil
        self.seed = nil
        self.presencePenalty = nil
        self.frequencyPenalty = nil
        self.logprobs = false
        self.topLogprobs = nil
        self.logitBias = nil
        self.user = nil
        self.tools = []
        self.toolChoice = nil
        self.parallelToolCalls = nil
        self.responseFormat = nil
        self.reasoningEffort = nil
        self.topK = nil
        self.thinking = nil
        self.untranslatable = []
        self.raw = raw
    }
}

extension ChatRequest {
    /// Parses and validates an OpenAI Chat Completions body.
    ///
    /// Rejections are 400 `invalid_request_error` whose `param` is the JSON path of the
    /// offending field (`messages[2].tool_calls[0].function.arguments`).
    public static func parse(body: [UInt8]) throws(APIError) -> ChatRequest {
        var layout: RequestBodyLayout? = RequestBodyLayout()
        return try parse(try JSON.requestBody(body, layout: &layout), rawBytes: body, layout: layout)
    }

    /// The request is built in one place and its optional fields filled in by `readFields`
    /// through `inout`: with them set here on a local and the local returned, the optimiser
    /// copied the whole request into the result and destroyed the local (a retain and a release
    /// of each of its fields), and `parse(body:)` did it once more to set `rawBytes`.
    public static func parse(_ json: JSON, rawBytes: [UInt8]? = nil) throws(APIError) -> ChatRequest {
        try parse(json, rawBytes: rawBytes, layout: nil)
    }

    /// `layout`: where `model` and `stream_options` lie in `rawBytes`, when they were parsed from it.
    static func parse(
        _ json: JSON, rawBytes: [UInt8]?, layout: RequestBodyLayout?
    ) throws(APIError) -> ChatRequest {
        guard case .object(let o) = json else {
            throw .invalidRequest("The request body must be a JSON object.", code: "invalid_json")
        }
        var r = RequestReader(object: o)
        guard let model = try r.string("model") else { throw APIError.missing("model") }
        guard !model.isEmpty else { throw .invalidRequest("`model` must not be empty.", param: "model") }
        guard let rawMessages = o["messages"], !rawMessages.isNull else { throw APIError.missing("messages") }
        guard case .array(let messageValues) = rawMessages else {
            throw APIError.wrongType("messages", expected: "array", got: rawMessages)
        }
        guard !messageValues.isEmpty else {
            throw .invalidRequest("`messages` must contain at least one message.", param: "messages")
        }
        var messages: [ChatMessage] = []
        messages.reserveCapacity(messageValues.count)
        for (i, m) in messageValues.enumerated() {
            messages.append(try parseMessage(m, index: i))
        }

        var req = ChatRequest(model: model, messages: messages, raw: o)
        try readFields(&req, o, &r, rawBytes: rawBytes)
        if rawBytes != nil { req.rawLayout = layout }
        return req
    }

    /// Every field of a Chat Completions body but `model` and `messages`, and the body's bytes.
    private static func readFields(
        _ req: inout ChatRequest, _ o: JSONObject, _ r: inout RequestReader, rawBytes: [UInt8]?
    ) throws(APIError) {
        req.rawBytes = rawBytes
        req.stream = try r.bool("stream") ?? false
        if let so = try r.object("stream_options") {
            var sr = RequestReader(object: so, prefix: "stream_options.")
            req.includeUsage = try sr.bool("include_usage") ?? false
        }
        let maxCompletion = try r.int("max_completion_tokens", min: 1)
        let maxTokens = try r.int("max_tokens", min: 1)
        req.maxTokens = maxCompletion ?? maxTokens
        req.temperature = try r.number("temperature", range: 0...2)
        req.topP = try r.number("top_p", range: 0...1)
        req.n = try r.int("n", min: 1, max: 128)
        req.seed = try r.int("seed")
        req.presencePenalty = try r.number("presence_penalty", range: -2...2)
        req.frequencyPenalty = try r.number("frequency_penalty", range: -2...2)
        req.logprobs = try r.bool("logprobs") ?? false
        req.topLogprobs = try r.int("top_logprobs", min: 0, max: 20)
        if let bias = try r.object("logit_bias"), !bias.isEmpty { req.logitBias = bias }
        if let user = try r.string("user") { req.user = user } else { req.user = try r.string("safety_identifier") }
        req.parallelToolCalls = try r.bool("parallel_tool_calls")
        req.reasoningEffort = try r.string("reasoning_effort")

        if let stop = o["stop"], !stop.isNull {
            switch stop {
            case .string(let s): req.stop = [s]
            case .array(let items):
                guard items.count <= 4 else {
                    throw .invalidRequest("`stop` accepts at most 4 sequences.", param: "stop")
                }
                for (i, item) in items.enumerated() {
                    guard let s = item.stringValue else {
                        throw APIError.wrongType("stop[\(i)]", expected: "string", got: item)
                    }
                    req.stop.append(s)
                }
            default: throw APIError.wrongType("stop", expected: "string or array", got: stop)
            }
        }

        if let tools = o["tools"], !tools.isNull {
            guard case .array(let items) = tools else {
                throw APIError.wrongType("tools", expected: "array", got: tools)
            }
            for (i, t) in items.enumerated() { req.tools.append(try parseTool(t, path: "tools[\(i)]")) }
        }
        if let choice = o["tool_choice"], !choice.isNull {
            req.toolChoice = try parseToolChoice(choice)
            if req.tools.isEmpty, req.toolChoice != ToolChoice.none {
                throw .invalidRequest("`tool_choice` is only allowed when `tools` are specified.", param: "tool_choice")
            }
        }
        if let format = o["response_format"], !format.isNull {
            req.responseFormat = try parseResponseFormat(format)
        }
    }

    /// `messages[index]`. Its path (`messages[2]`) is written only for an error or a part that
    /// needs it: building it for every message was 1% of a plain request's CPU (perf,
    /// `switchyard-bench gateway`), and only errors read it.
    static func parseMessage(_ value: JSON, index: Int) throws(APIError) -> ChatMessage {
        var path: String { "messages[" + String(index) + "]" }
        guard case .object(let o) = value else { throw APIError.wrongType(path, expected: "object", got: value) }
        var r = RequestReader(object: o, list: "messages", index: index)
        guard let roleText = try r.string("role") else { throw APIError.missing(path + ".role") }
        guard let role = ChatRole(rawValue: roleText) else {
            throw .invalidRequest(
                "Invalid value '\(roleText)' for \(path).role: expected one of system, developer, user, assistant, tool, function.",
                param: path + ".role", code: "invalid_value")
        }
        var message = ChatMessage(role: role, content: nil)
        message.name = try r.string("name")
        if let c = o["content"], !c.isNull {
            // Text needs no path (only parts and errors name one): none is built for it.
            if case .string(let text) = c {
                message.content = .text(text)
            } else {
                message.content = try parseContent(c, path: path + ".content")
            }
        }
        message.refusal = try r.string("refusal")
        switch role {
        case .assistant:
            if let calls = o["tool_calls"], !calls.isNull {
                guard case .array(let items) = calls else {
                    throw APIError.wrongType(path + ".tool_calls", expected: "array", got: calls)
                }
                for (j, call) in items.enumerated() {
                    message.toolCalls.append(try parseToolCall(call, path: "\(path).tool_calls[\(j)]"))
                }
            }
            if message.content == nil, message.toolCalls.isEmpty, message.refusal == nil, o["function_call"] == nil {
                throw .invalidRequest(
                    "\(path) must have `content` or `tool_calls`.", param: path + ".content",
                    code: "missing_required_parameter")
            }
        case .tool:
            guard let id = try r.string("tool_call_id") else { throw APIError.missing(path + ".tool_call_id") }
            message.toolCallID = id
            if message.content == nil { throw APIError.missing(path + ".content") }
        case .system, .developer, .user:
            if message.content == nil { throw APIError.missing(path + ".content") }
        case .function:
            break
        }
        return message
    }

    static func parseContent(_ value: JSON, path: String) throws(APIError) -> MessageContent {
        switch value {
        case .string(let s): return .text(s)
        case .array(let items):
            var parts: [ContentPart] = []
            parts.reserveCapacity(items.count)
            for (k, item) in items.enumerated() { parts.append(try parsePart(item, path: "\(path)[\(k)]")) }
            return .parts(parts)
        default:
            throw APIError.wrongType(path, expected: "string or array", got: value)
        }
    }

    static func parsePart(_ value: JSON, path: String) throws(APIError) -> ContentPart {
        var r = try RequestReader(value, at: path)
        let type = try r.requiredString("type")
        switch type {
        case "text": return .text(try r.requiredString("text"))
        case "refusal": return .refusal(try r.requiredString("refusal"))
        case "image_url":
            guard let img = r.object["image_url"] else { throw APIError.missing(path + ".image_url") }
            // The SDKs send an object; a bare string is accepted as the URL, as OpenAI does.
            if case .string(let url) = img { return .imageURL(url: url, detail: nil) }
            guard case .object(let io) = img else {
                throw APIError.wrongType(path + ".image_url", expected: "object", got: img)
            }
            var ir = RequestReader(object: io, prefix: path + ".image_url.")
            return .imageURL(url: try ir.requiredString("url"), detail: try ir.string("detail"))
        case "input_audio":
            return try r.inputAudio()
        case "file":
            var fr = RequestReader(object: try r.requiredObject("file"), prefix: path + ".file.")
            return .file(
                fileData: try fr.string("file_data"), fileID: try fr.string("file_id"),
                filename: try fr.string("filename"))
        default:
            throw .invalidRequest(
                "Invalid content part type '\(type)' at \(path).type.", param: path + ".type", code: "invalid_value")
        }
    }

    static func parseToolCall(_ value: JSON, path: String) throws(APIError) -> ToolCall {
        guard case .object(let o) = value else { throw APIError.wrongType(path, expected: "object", got: value) }
        var r = RequestReader(object: o, prefix: path + ".")
        guard let id = try r.string("id") else { throw APIError.missing(path + ".id") }
        guard let fn = try r.object("function") else { throw APIError.missing(path + ".function") }
        var fr = RequestReader(object: fn, prefix: path + ".function.")
        guard let name = try fr.string("name") else { throw APIError.missing(path + ".function.name") }
        let arguments = try fr.string("arguments") ?? ""
        return ToolCall(id: id, name: name, arguments: arguments)
    }

    static func parseTool(_ value: JSON, path: String) throws(APIError) -> ToolDefinition {
        guard case .object(let o) = value else { throw APIError.wrongType(path, expected: "object", got: value) }
        var r = RequestReader(object: o, prefix: path + ".")
        let type = try r.string("type") ?? "function"
        switch type {
        case "function":
            guard let fn = try r.object("function") else { throw APIError.missing(path + ".function") }
            var fr = RequestReader(object: fn, prefix: path + ".function.")
            guard let name = try fr.string("name") else { throw APIError.missing(path + ".function.name") }
            guard isValidToolName(name) else {
                throw .invalidRequest(
                    "Invalid \(path).function.name '\(name)': use 1-64 characters of a-z, A-Z, 0-9, _ and -.",
                    param: path + ".function.name", code: "invalid_value")
            }
            var parameters: JSON? = nil
            if let p = fn["parameters"], !p.isNull {
                guard case .object = p else {
                    throw APIError.wrongType(path + ".function.parameters", expected: "object", got: p)
                }
                parameters = p
            }
            return ToolDefinition(
                kind: .function, name: name, description: try fr.string("description"), parameters: parameters,
                strict: try fr.bool("strict"))
        case "custom":
            guard let c = try r.object("custom") else { throw APIError.missing(path + ".custom") }
            var cr = RequestReader(object: c, prefix: path + ".custom.")
            guard let name = try cr.string("name") else { throw APIError.missing(path + ".custom.name") }
            return ToolDefinition(kind: .custom, name: name, description: try cr.string("description"))
        default:
            throw .invalidRequest(
                "Invalid tool type '\(type)' at \(path).type.", param: path + ".type", code: "invalid_value")
        }
    }

    /// OpenAI's rule for function names: 1-64 of `a-z A-Z 0-9 _ -`.
    public static func isValidToolName(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 64 else { return false }
        return name.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F || b == 0x2D
        }
    }

    static func parseToolChoice(_ value: JSON) throws(APIError) -> ToolChoice {
        switch value {
        case .string("none"): return ToolChoice.none
        case .string("auto"): return .auto
        case .string("required"): return .required
        case .object(let o):
            var r = RequestReader(object: o, prefix: "tool_choice.")
            let type = try r.string("type")
            switch type {
            case "function":
                guard let fn = try r.object("function"), let name = fn["name"]?.stringValue else {
                    throw APIError.missing("tool_choice.function.name")
                }
                return .function(name)
            case "custom":
                guard let c = try r.object("custom"), let name = c["name"]?.stringValue else {
                    throw APIError.missing("tool_choice.custom.name")
                }
                return .custom(name)
            case "allowed_tools":
                guard let at = try r.object("allowed_tools") else {
                    throw APIError.missing("tool_choice.allowed_tools")
                }
                let mode = at["mode"]?.stringValue ?? "auto"
                guard mode == "auto" || mode == "required" else {
                    throw .invalidRequest(
                        "tool_choice.allowed_tools.mode must be auto or required.",
                        param: "tool_choice.allowed_tools.mode",
                        code: "invalid_value")
                }
                var names: [String] = []
                for t in at["tools"]?.arrayValue ?? [] {
                    if let n = t["function"]?["name"]?.stringValue { names.append(n) }
                }
                return .allowedTools(names: names, required: mode == "required")
            default:
                throw .invalidRequest("Invalid tool_choice type.", param: "tool_choice.type", code: "invalid_value")
            }
        default:
            throw .invalidRequest(
                "Invalid value for tool_choice: expected none, auto, required or an object.", param: "tool_choice",
                code: "invalid_value")
        }
    }

    static func parseResponseFormat(_ value: JSON) throws(APIError) -> ResponseFormat {
        try ResponseFormat.parse(value, at: "response_format") { r throws(APIError) in
            let js = try r.requiredObject("json_schema")
            var jr = RequestReader(object: js, prefix: "response_format.json_schema.")
            return .jsonSchema(
                name: try jr.requiredString("name"), description: try jr.string("description"),
                schema: js["schema"] ?? .object([:]), strict: try jr.bool("strict"))
        }
    }
}

extension ResponseFormat {
    /// A `{"type": "text" | "json_object" | "json_schema", …}` object at `path`. `jsonSchema` reads
    /// a `json_schema` format from the object (the APIs place its fields differently).
    public static func parse(
        _ value: JSON, at path: String, jsonSchema: (inout RequestReader) throws(APIError) -> ResponseFormat
    ) throws(APIError) -> ResponseFormat {
        var r = try RequestReader(value, at: path)
        switch try r.string("type") {
        case "text": return .text
        case "json_object": return .jsonObject
        case "json_schema": return try jsonSchema(&r)
        case nil: throw APIError.missing(path + ".type")
        case let other?:
            throw .invalidRequest(
                "Invalid \(path).type '\(other)': expected text, json_object or json_schema.", param: path + ".type",
                code: "invalid_value")
        }
    }
}

extension JSON {
    /// A client's request body as JSON; 400 `invalid_json` when it is not.
    public static func requestBody(_ body: [UInt8]) throws(APIError) -> JSON {
        var layout: RequestBodyLayout? = nil
        return try requestBody(body, layout: &layout)
    }

    /// The same, noting the body's layout when `layout` is not nil (`JSON.parse(_:layout:)`).
    public static func requestBody(_ body: [UInt8], layout: inout RequestBodyLayout?) throws(APIError) -> JSON {
        do {
            return try JSON.parse(body, layout: &layout)
        } catch {
            throw .invalidRequest(
                "We could not parse the JSON body of your request (\(error)). Send valid JSON.", code: "invalid_json")
        }
    }
}

extension APIError {
    /// 400 `missing_required_parameter` naming `param`.
    public static func missing(_ param: String) -> APIError {
        .invalidRequest("Missing required parameter: '\(param)'.", param: param, code: "missing_required_parameter")
    }

    /// 400 `invalid_type` naming `param`, what was expected and what came.
    public static func wrongType(_ param: String, expected: String, got: JSON) -> APIError {
        .invalidRequest(
            "Invalid type for '\(param)': expected \(expected), but got \(got.kindName).", param: param,
            code: "invalid_type")
    }
}

/// Typed field access with OpenAI-style errors naming the full parameter path.
public struct RequestReader {
    public let object: JSONObject
    /// What error paths start with (`stream_options.`), or the list whose element `object` is.
    private let head: String
    /// The index of `object` in the list `head` names, when it is one's element: its prefix
    /// (`messages[2].`) is written only when an error names a field.
    private let index: Int?

    /// What a field's name is prefixed with in errors (`messages[2].`, `stream_options.`).
    public var prefix: String { index.map { head + "[" + String($0) + "]." } ?? head }

    public init(object: JSONObject, prefix: String = "") {
        self.object = object
        self.head = prefix
        self.index = nil
    }

    /// A reader of element `index` of the list `list`, whose keys are named `<list>[<index>].<key>`
    /// in errors.
    public init(object: JSONObject, list: String, index: Int) {
        self.object = object
        self.head = list
        self.index = index
    }

    /// A reader of the object `value`, whose keys are named `<path>.<key>` in errors; 400 when
    /// `value` is not an object.
    public init(_ value: JSON, at path: String) throws(APIError) {
        guard case .object(let o) = value else { throw APIError.wrongType(path, expected: "object", got: value) }
        self.init(object: o, prefix: path + ".")
    }

    /// The string at `key`; 400 `missing_required_parameter` when it is absent.
    public mutating func requiredString(_ key: String) throws(APIError) -> String {
        guard let s = try string(key) else { throw APIError.missing(prefix + key) }
        return s
    }

    /// The object at `key`; 400 `missing_required_parameter` when it is absent.
    public mutating func requiredObject(_ key: String) throws(APIError) -> JSONObject {
        guard let o = try object(key) else { throw APIError.missing(prefix + key) }
        return o
    }

    /// The `input_audio` part's `{"data", "format"}` (Chat Completions and Responses spell it alike).
    public mutating func inputAudio() throws(APIError) -> ContentPart {
        var audio = RequestReader(object: try requiredObject("input_audio"), prefix: prefix + "input_audio.")
        return .inputAudio(data: try audio.requiredString("data"), format: try audio.requiredString("format"))
    }

    public func value(_ key: String) -> JSON? {
        guard let v = object[key], !v.isNull else { return nil }
        return v
    }

    public mutating func string(_ key: String) throws(APIError) -> String? {
        guard let v = value(key) else { return nil }
        guard let s = v.stringValue else { throw APIError.wrongType(prefix + key, expected: "string", got: v) }
        return s
    }

    public mutating func bool(_ key: String) throws(APIError) -> Bool? {
        guard let v = value(key) else { return nil }
        guard let b = v.boolValue else { throw APIError.wrongType(prefix + key, expected: "boolean", got: v) }
        return b
    }

    public mutating func object(_ key: String) throws(APIError) -> JSONObject? {
        guard let v = value(key) else { return nil }
        guard let o = v.objectValue else { throw APIError.wrongType(prefix + key, expected: "object", got: v) }
        return o
    }

    public mutating func number(_ key: String, range: ClosedRange<Double>? = nil) throws(APIError) -> Double? {
        guard let v = value(key) else { return nil }
        guard let d = v.doubleValue else { throw APIError.wrongType(prefix + key, expected: "number", got: v) }
        if let range, !range.contains(d) {
            throw .invalidRequest(
                "Invalid '\(prefix + key)': \(v) is outside \(fmt(range.lowerBound))..\(fmt(range.upperBound)).",
                param: prefix + key, code: "invalid_value")
        }
        return d
    }

    public mutating func int(_ key: String, min: Int? = nil, max: Int? = nil) throws(APIError) -> Int? {
        guard let v = value(key) else { return nil }
        guard let i = v.intValue else { throw APIError.wrongType(prefix + key, expected: "integer", got: v) }
        if let min, i < min {
            throw .invalidRequest(
                "Invalid '\(prefix + key)': \(i) is below the minimum of \(min).", param: prefix + key,
                code: "invalid_value")
        }
        if let max, i > max {
            throw .invalidRequest(
                "Invalid '\(prefix + key)': \(i) is above the maximum of \(max).", param: prefix + key,
                code: "invalid_value")
        }
        return i
    }

    private func fmt(_ d: Double) -> String { d == d.rounded() ? String(Int(d)) : String(d) }
}
