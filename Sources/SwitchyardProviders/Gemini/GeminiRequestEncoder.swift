import SwitchyardCore

/// Builds the `generateContent` body from a unified request (docs/translation.md §1, §3, §4).
///
/// Key order is the one Gemini documents: `systemInstruction`, `contents`, `tools`,
/// `toolConfig`, `generationConfig`. Numbers the client sent are copied as written.
struct GeminiRequestEncoder {
    let request: ChatRequest
    /// The upstream model id: whether it thinks decides where `thinking` goes.
    var model = ""

    func body() throws(APIError) -> JSONObject {
        try rejectUnsupported()
        let history = try GeminiContents(request.messages)
        var body = JSONObject()
        if !history.systemParts.isEmpty { body["systemInstruction"] = .object(["parts": .array(history.systemParts)]) }
        body["contents"] = .array(history.contents)
        let (tools, toolConfig) = try self.tools(calledNames: history.calledNames)
        if let tools { body["tools"] = tools }
        if let toolConfig { body["toolConfig"] = toolConfig }
        let config = generationConfig()
        if !config.isEmpty { body["generationConfig"] = .object(config) }
        return body
    }

    /// `body().serialized()` for a plain conversation (no tools, every message a system,
    /// developer, user or assistant one whose content is a string or absent, without tool calls),
    /// `systemInstruction` and `contents` written straight to bytes: the same rules and the same
    /// errors, without a tree of parts, turns and members (building and serialising it was 0.8 +
    /// 0.3 us of a translated request, `switchyard-bench gateway --provider gemini`). nil for any
    /// other request, which `body()` encodes (or rejects).
    func plainBody() throws(APIError) -> [UInt8]? {
        guard request.tools.isEmpty, request.toolChoice == nil || request.toolChoice == ToolChoice.none else {
            return nil
        }
        try rejectUnsupported()
        // `GeminiContents`: system texts hoisted, one text part per non-empty text, a repeated
        // role merged: one list of parts, a turn being a run of one role (a list of texts per
        // turn was an allocation of every request).
        var system: [String] = []
        var parts: [(model: Bool, text: String)] = []
        for m in request.messages {
            guard let text = m.plainText else { return nil }
            switch m.role {
            case .system, .developer:
                if !text.isEmpty { system.append(text) }
            case .user, .assistant:
                if !text.isEmpty { parts.append((m.role == .assistant, text)) }
            case .tool, .function:
                return nil
            }
        }
        guard let first = parts.first else { return nil }  // `GeminiContents` rejects it
        let config = generationConfig()

        var out: [UInt8] = []
        out.reserveCapacity(
            96 + system.reduce(0) { $0 + $1.utf8.count + 12 } + parts.reduce(0) { $0 + $1.text.utf8.count + 44 })
        out.append(UInt8(ascii: "{"))
        if !system.isEmpty {
            JSON.writeLiteral(#""systemInstruction":{"parts":["#, to: &out)
            Self.writeParts(system, to: &out)
            JSON.writeLiteral("]},", to: &out)
        }
        JSON.writeLiteral(#""contents":["#, to: &out)
        if first.model { JSON.writeLiteral(#"{"role":"user","parts":[{"text":"."}]},"#, to: &out) }
        for (i, part) in parts.enumerated() {
            if i == 0 || part.model != parts[i - 1].model {
                if i > 0 { JSON.writeLiteral("]},", to: &out) }
                JSON.writeLiteral(part.model ? #"{"role":"model","parts":["# : #"{"role":"user","parts":["#, to: &out)
                JSON.writeLiteral(#"{"text":"#, to: &out)
            } else {
                JSON.writeLiteral(#",{"text":"#, to: &out)
            }
            JSON.writeString(part.text, to: &out)
            out.append(UInt8(ascii: "}"))
        }
        JSON.writeLiteral("]}]", to: &out)
        if !config.isEmpty {
            JSON.writeLiteral(#","generationConfig":"#, to: &out)
            config.write(to: &out)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// `{"text":…}` parts, comma-separated.
    private static func writeParts(_ texts: [String], to out: inout [UInt8]) {
        for (i, text) in texts.enumerated() {
            JSON.writeLiteral(i > 0 ? #",{"text":"# : #"{"text":"#, to: &out)
            JSON.writeString(text, to: &out)
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Parameters Gemini cannot honour (docs/translation.md §1: `logit_bias`; deprecated `functions`).
    private func rejectUnsupported() throws(APIError) {
        if request.logitBias != nil {
            throw APIError.unsupportedParameter("logit_bias", provider: "Gemini")
        }
        for key in ["functions", "function_call"] where request.raw[key].map({ !$0.isNull }) == true {
            throw APIError.unsupportedParameter(
                key, provider: "Gemini", detail: "\(key) is deprecated and not supported for Gemini models; use tools.")
        }
    }

    // MARK: generationConfig (docs/translation.md §1, §4)

    private func generationConfig() -> JSONObject {
        var c = JSONObject()
        if let t = request.temperature { c["temperature"] = number("temperature", t) }
        if let p = request.topP { c["topP"] = number("top_p", p) }
        if let k = request.topK { c["topK"] = .int(k) }
        if let m = request.maxTokens { c["maxOutputTokens"] = .int(m) }
        if !request.stop.isEmpty { c["stopSequences"] = .array(request.stop.map(JSON.string)) }
        // n = 1 is Gemini's default; omitting it spares models that reject candidateCount.
        if let n = request.n, n > 1 { c["candidateCount"] = .int(n) }
        if let s = request.seed { c["seed"] = request.raw["seed"] ?? .int(s) }
        if let p = request.presencePenalty, p != 0 { c["presencePenalty"] = number("presence_penalty", p) }
        if let f = request.frequencyPenalty, f != 0 { c["frequencyPenalty"] = number("frequency_penalty", f) }
        if request.logprobs {
            c["responseLogprobs"] = true
            if let k = request.topLogprobs { c["logprobs"] = .int(k) }
        }
        switch request.responseFormat {
        case .jsonObject?:
            c["responseMimeType"] = "application/json"
        case .jsonSchema(_, _, let schema, _)?:
            c["responseMimeType"] = "application/json"
            c["responseJsonSchema"] = schema
        case .text?, nil:
            break
        }
        if let thinking = request.thinking, let config = Self.thinkingConfig(thinking, model: model) {
            c["thinkingConfig"] = .object(config)
        }
        return c
    }

    /// Anthropic `thinking` for a Gemini model that thinks (**policy**: by model name, since
    /// models without thinking reject `thinkingConfig`): 2.5 models take the budget
    /// (`thinkingBudget`, -1 = dynamic for `adaptive`, 0 = off for `disabled`); 3.x models a
    /// `thinkingLevel` (`low` below 8,192 budget tokens, else `high`; dynamic for `adaptive`);
    /// other models get nothing. Thoughts are never included in the answer.
    static func thinkingConfig(_ thinking: ThinkingSetting, model: String) -> JSONObject? {
        let name = model.hasPrefix("models/") ? String(model.dropFirst("models/".count)) : model
        if name.hasPrefix("gemini-2.5") {
            switch thinking {
            case .disabled: return ["thinkingBudget": 0]
            case .adaptive: return ["thinkingBudget": -1]
            case .budget(let n): return ["thinkingBudget": .int(n)]
            }
        }
        if name.hasPrefix("gemini-3") {
            switch thinking {
            case .disabled, .adaptive: return nil
            case .budget(let n): return ["thinkingLevel": n < 8192 ? "low" : "high"]
            }
        }
        return nil
    }

    /// The client's literal number when it sent one, so `0.7` stays `0.7`.
    private func number(_ key: String, _ value: Double) -> JSON {
        if case .number? = request.raw[key] { return request.raw[key]! }
        return .double(value)
    }

    // MARK: tools and toolConfig (docs/translation.md §3, §2 step 9)

    private func tools(calledNames: [String]) throws(APIError) -> (JSON?, JSON?) {
        guard !request.tools.isEmpty else {
            if let choice = request.toolChoice, choice != .none {
                throw APIError.invalidRequest(
                    "`tool_choice` is only allowed when `tools` are specified.", param: "tool_choice",
                    code: "invalid_value")
            }
            guard !calledNames.isEmpty else { return (nil, nil) }
            // History holds tool calls but no tools were sent: declare stubs and forbid new calls.
            let stubs = calledNames.map { JSON.object(["name": .string($0)]) }
            return (.array([.object(["functionDeclarations": .array(stubs)])]), config(mode: "NONE"))
        }
        var declarations: [(name: String, json: JSON)] = []
        var budget = GeminiSchema.Budget()
        for (i, tool) in request.tools.enumerated() {
            declarations.append((tool.name, try declaration(tool, path: "tools[\(i)]", budget: &budget)))
        }
        let names = Set(declarations.map(\.name))
        var toolConfig: JSON?
        switch request.toolChoice {
        case nil:
            toolConfig = nil
        case .auto?:
            toolConfig = config(mode: "AUTO")
        case .none?:
            toolConfig = config(mode: "NONE")
        case .required?:
            toolConfig = config(mode: "ANY")
        case .function(let name)?:
            guard names.contains(name) else {
                throw APIError.invalidRequest(
                    "tool_choice names '\(name)', which is not in tools.", param: "tool_choice.function.name",
                    code: "invalid_value")
            }
            toolConfig = config(mode: "ANY", allowed: [name])
        case .allowedTools(let allowed, let required)?:
            guard !allowed.isEmpty else {
                throw APIError.invalidRequest(
                    "tool_choice.allowed_tools.tools must list at least one tool.",
                    param: "tool_choice.allowed_tools.tools",
                    code: "invalid_value")
            }
            for name in allowed where !names.contains(name) {
                throw APIError.invalidRequest(
                    "tool_choice.allowed_tools names '\(name)', which is not in tools.",
                    param: "tool_choice.allowed_tools.tools", code: "invalid_value")
            }
            if required {
                toolConfig = config(mode: "ANY", allowed: allowed)
            } else {
                let kept = Set(allowed)
                declarations.removeAll { !kept.contains($0.name) }
                toolConfig = config(mode: "AUTO")
            }
        case .custom?:
            throw APIError.unsupportedParameter(
                "tool_choice", provider: "Gemini", detail: "Custom tools are not supported for Gemini models.")
        }
        let tools: JSON = .array([.object(["functionDeclarations": .array(declarations.map(\.json))])])
        return (tools, toolConfig)
    }

    private func config(mode: String, allowed: [String] = []) -> JSON {
        var fc: JSONObject = ["mode": .string(mode)]
        if !allowed.isEmpty { fc["allowedFunctionNames"] = .array(allowed.map(JSON.string)) }
        return .object(["functionCallingConfig": .object(fc)])
    }

    private func declaration(
        _ tool: ToolDefinition, path: String, budget: inout GeminiSchema.Budget
    ) throws(APIError) -> JSON {
        guard tool.kind == .function else {
            throw APIError.unsupportedParameter(
                path + ".type", provider: "Gemini", detail: "Custom tools are not supported for Gemini models.")
        }
        if let first = tool.name.first, first.isNumber || first == "-" {
            throw APIError.invalidRequest(
                "Invalid \(path).function.name '\(tool.name)': Gemini function names must start with a letter or '_'.",
                param: path + ".function.name", code: "invalid_value")
        }
        var d: JSONObject = ["name": .string(tool.name)]
        if let description = tool.description { d["description"] = .string(description) }
        if let parameters = tool.parameters {
            let cleaned: JSON
            do {
                cleaned = try GeminiSchema.clean(parameters, budget: &budget)
            } catch {
                throw Self.schemaError(error, param: path + ".function.parameters")
            }
            if Self.hasParameters(cleaned) { d["parameters"] = cleaned }
        }
        return .object(d)
    }

    /// Gemini rejects an OBJECT schema with empty `properties` (docs/translation.md §3), so such schemas are omitted.
    private static func hasParameters(_ schema: JSON) -> Bool {
        if let props = schema["properties"]?.objectValue, !props.isEmpty { return true }
        return schema["anyOf"] != nil
    }

    private static func schemaError(_ failure: GeminiSchema.Failure, param: String) -> APIError {
        switch failure {
        case .recursive(let ref):
            return .unsupportedValue(
                param,
                "\(param) is recursive (\(ref) refers to itself); Gemini function schemas cannot express recursion.")
        case .tooDeep:
            return .unsupportedValue(
                param,
                "\(param) nests $ref more than \(GeminiSchema.maximumRefDepth) levels deep, the limit for Gemini models."
            )
        case .unresolvable(let ref):
            return .invalidRequest(
                "\(param) has a $ref '\(ref)' that does not point into the schema's $defs or definitions.",
                param: param,
                code: "invalid_value")
        case .conflictingKeywords(let what):
            return .unsupportedValue(param, "\(param) combines \(what), which cannot be expressed for Gemini models.")
        case .tooLarge:
            return .invalidRequest(
                "\(param) expands to more than \(GeminiSchema.maximumInlinedBytes / 1024) KiB when its $refs are "
                    + "inlined for Gemini models (together with the request's other tools); refer to shared "
                    + "definitions fewer times or flatten the schema.",
                param: param,
                code: "schema_too_large")
        }
    }
}
