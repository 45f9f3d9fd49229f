import SwitchyardCore

/// OpenAI `tools`, `tool_choice`, `parallel_tool_calls` and the forced JSON tool → Anthropic
/// `tools` and `tool_choice` (docs/translation.md §1, §2 step 9, §3, §4).
struct AnthropicToolEncoder {
    let request: ChatRequest
    let target: TargetContext
    let jsonMode: AnthropicJSONMode
    /// Functions called in the message history (need a definition, docs/translation.md §2 step 9).
    let calledToolNames: [String]

    func encode() throws(APIError) -> (tools: [JSON], toolChoice: JSON?) {
        var tools: [JSON] = []
        var names: Set<String> = []
        let allowed = try allowedNames()
        for (i, tool) in request.tools.enumerated() {
            guard tool.kind == .function else {
                throw .unsupportedParameter(
                    "tools[\(i)]", provider: target.providerName,
                    detail:
                        "Custom tools (tools[\(i)]) are not supported by \(target.providerName) models; use function tools."
                )
            }
            if let allowed, !allowed.contains(tool.name) { continue }
            tools.append(try definition(tool, path: "tools[\(i)].function"))
            names.insert(tool.name)
        }

        var choice: JSONObject?
        switch request.toolChoice {
        case nil: choice = nil
        case .none?: choice = ["type": "none"]
        case .auto?: choice = ["type": "auto"]
        case .required?: choice = ["type": "any"]
        case .function(let name)?:
            guard names.contains(name) else {
                throw .invalidRequest(
                    "tool_choice names function '\(name)', which is not in `tools`.",
                    param: "tool_choice.function.name",
                    code: "invalid_value")
            }
            choice = ["type": "tool", "name": .string(name)]
        case .allowedTools(_, let required)?:
            choice = ["type": required ? "any" : "auto"]
        case .custom?:
            throw .unsupportedParameter(
                "tool_choice", provider: target.providerName,
                detail: "Custom tool choices are not supported by \(target.providerName) models.")
        }

        if case .forcedTool(let schema, let description) = jsonMode {
            // No client tools here (AnthropicJSONMode rejects the combination); a client "none" is moot.
            var t: JSONObject = ["name": .string(AnthropicJSONMode.toolName)]
            if let description { t["description"] = .string(description) }
            t["input_schema"] = schema
            tools.append(.object(t))
            names.insert(AnthropicJSONMode.toolName)
            choice = ["type": "tool", "name": .string(AnthropicJSONMode.toolName)]
        }

        // History with tool blocks but no client tools: Anthropic 400s, so declare stubs and
        // forbid calling them (**policy**, docs/translation.md §2 step 9).
        if request.tools.isEmpty, !calledToolNames.isEmpty {
            for name in calledToolNames where names.insert(name).inserted {
                tools.append(["name": .string(name), "input_schema": ["type": "object", "properties": [:]]])
            }
            if !jsonMode.isForcedTool { choice = ["type": "none"] }
        }

        guard !tools.isEmpty else { return ([], nil) }
        if request.parallelToolCalls == false, choice?["type"]?.stringValue != "none" {
            var c = choice ?? ["type": "auto"]
            c["disable_parallel_tool_use"] = true
            choice = c
        }
        return (tools, choice.map(JSON.object))
    }

    /// `{"name", "description", "input_schema"}`; `parameters` absent or `{}` means no
    /// parameters; otherwise its `type` must be `"object"`. `strict: true` is kept only on
    /// targets with structured outputs (**policy**; older models reject the field).
    private func definition(_ tool: ToolDefinition, path: String) throws(APIError) -> JSON {
        var t: JSONObject = ["name": .string(tool.name)]
        if let d = tool.description { t["description"] = .string(d) }
        if let p = tool.parameters, p.objectValue?.isEmpty == false {
            guard p["type"]?.stringValue == "object" else {
                throw .unsupportedValue(
                    path + ".parameters",
                    "\(target.providerName) models need tool parameters of `\"type\": \"object\"` (\(path).parameters)."
                )
            }
            t["input_schema"] = p
        } else {
            t["input_schema"] = ["type": "object", "properties": [:]]
        }
        if tool.strict == true, target.structuredOutputs { t["strict"] = true }
        return .object(t)
    }

    /// The `allowed_tools` subset, each name checked against `tools`.
    private func allowedNames() throws(APIError) -> Set<String>? {
        guard case .allowedTools(let names, _)? = request.toolChoice else { return nil }
        let defined = Set(request.tools.map(\.name))
        for (k, n) in names.enumerated() where !defined.contains(n) {
            throw .invalidRequest(
                "tool_choice.allowed_tools.tools[\(k)] names '\(n)', which is not in `tools`.",
                param: "tool_choice.allowed_tools.tools[\(k)]", code: "invalid_value")
        }
        return Set(names)
    }
}
