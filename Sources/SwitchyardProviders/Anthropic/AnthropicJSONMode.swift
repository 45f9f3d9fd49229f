import SwitchyardCore

/// How an OpenAI `response_format` is realised on Anthropic (docs/translation.md §4).
///
/// - `json_object` → a forced tool `json_response` whose schema accepts any object;
/// - `json_schema` → `output_config.format` on targets flagged `structuredOutputs`, otherwise
///   the forced tool with the client's schema.
///
/// **Policy** on conflicts: a forced tool cannot coexist with the client's own tools (the
/// client's `tool_choice` would be overridden), so `json_object` + `tools`, and `json_schema` +
/// `tools` on a target without structured outputs, are rejected with `param: "response_format"`.
enum AnthropicJSONMode: Equatable {
    case off
    /// Add tool ``toolName`` with this `input_schema` and force it.
    case forcedTool(schema: JSON, description: String?)
    /// Send `output_config: {"format": {"type": "json_schema", "schema": …}}`.
    case outputConfig(schema: JSON)

    /// Name of the synthetic tool (LiteLLM calls its equivalent `json_tool_call`).
    static let toolName = "json_response"

    static let anyObjectSchema: JSON = ["type": "object", "properties": [:], "additionalProperties": true]

    init(request: ChatRequest, target: TargetContext) throws(APIError) {
        switch request.responseFormat {
        case nil, .text?:
            self = .off
        case .jsonObject?:
            guard request.tools.isEmpty else {
                throw .unsupportedValue(
                    "response_format",
                    "response_format json_object cannot be combined with tools for \(target.providerName) models; "
                        + "use json_schema on a model with structured outputs, or drop one of them.")
            }
            self = .forcedTool(schema: Self.anyObjectSchema, description: nil)
        case .jsonSchema(_, let description, let schema, _)?:
            if target.structuredOutputs {
                self = .outputConfig(schema: schema)
                return
            }
            guard request.tools.isEmpty else {
                throw .unsupportedValue(
                    "response_format",
                    "response_format json_schema cannot be combined with tools for this \(target.providerName) model "
                        + "(it has no structured outputs); drop one of them.")
            }
            guard schema["type"]?.stringValue == "object" else {
                throw .unsupportedValue(
                    "response_format.json_schema.schema",
                    "\(target.providerName) models can only produce JSON objects here: the schema's `type` must be \"object\"."
                )
            }
            self = .forcedTool(schema: schema, description: description)
        }
    }

    var isForcedTool: Bool { if case .forcedTool = self { true } else { false } }

    /// Whether answers to this request arrive through the forced tool (for the decoders, which
    /// only run after `encode` accepted the same request).
    static func usesForcedTool(request: ChatRequest, target: TargetContext) -> Bool {
        // Without a JSON response format the mode is `off`, known without making it (making it
        // copied the whole request, 0.03 us of every translated answer).
        switch request.responseFormat {
        case nil, .text?: return false
        default: return (try? AnthropicJSONMode(request: request, target: target))?.isForcedTool ?? false
        }
    }
}
