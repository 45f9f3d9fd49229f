import SwitchyardCore

/// The README's table for `/v1/messages` on OpenAI and Gemini targets (an Anthropic target gets
/// every field as sent), built from the rules the parser and codecs use: lists come from the code
/// (`MessagesRequest.nativeOnlyFields`, `MessagesContent.imageTypes`, `MessagesOutput.stopReason`,
/// `MessagesErrors`, `MessagesTokenEstimate`), and every row with an `example` is checked by
/// `MessagesCompatibilityTests` against the real parser and codecs (mapped: the upstream body
/// changes; dropped: it does not; rejected: a 400 naming the field). The README must contain
/// `markdownTable` exactly.
public enum MessagesCompatibility {
    /// What a translating codec does with a field.
    public enum Outcome: Sendable, Equatable {
        case mapped, dropped, rejected
    }

    public struct Row: Sendable {
        public var field: String
        public var openAI: String
        public var gemini: String
        /// Top-level JSON members (without braces) that exercise the row, added to a one-message
        /// request; the user message itself when it starts with `"messages"`.
        public var example: String?
        /// The example without the row's field (default: nothing added), whose upstream body a
        /// mapped field changes and a dropped one leaves as it is.
        public var baseline: String?
        public var outcomes: (openAI: Outcome, gemini: Outcome)?

        init(
            _ field: String, _ openAI: String, _ gemini: String, example: String? = nil, baseline: String? = nil,
            _ outcomes: (Outcome, Outcome)? = nil
        ) {
            self.field = field
            self.openAI = openAI
            self.gemini = gemini
            self.example = example
            self.baseline = baseline
            self.outcomes = outcomes
        }
    }

    static func code(_ items: [String]) -> String { items.map { "`\($0)`" }.joined(separator: ", ") }

    public static let rows: [Row] = [
        Row(
            "`system` (string or `text` blocks), `system`-role messages", "one `system` message per block",
            "`systemInstruction.parts`, one per block", example: #""system":[{"type":"text","text":"Be brief."}]"#,
            (.mapped, .mapped)),
        Row(
            "`text` blocks; consecutive same-role turns", "`content` (text parts)", "`parts`; turns merged"),
        Row(
            "`image`, `base64` source (\(code(MessagesContent.imageTypes.sorted())))", "`image_url` data URL",
            "`inlineData`",
            example:
                #""messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},{"type":"text","text":"x"}]}]"#,
            (.mapped, .mapped)),
        Row(
            "`image`, `url` source", "`image_url` URL", "**rejected** (Gemini cannot fetch it)",
            example:
                #""messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"https://example.com/a.png"}},{"type":"text","text":"x"}]}]"#,
            (.mapped, .rejected)),
        Row(
            "`document`, `base64` PDF source", "`file` part (`file_data`, `title` as `filename`)",
            "`inlineData` (`application/pdf`)",
            example:
                #""messages":[{"role":"user","content":[{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0="}},{"type":"text","text":"x"}]}]"#,
            (.mapped, .mapped)),
        Row(
            "`document`, `text` or `content` source", "text part", "text part",
            example:
                #""messages":[{"role":"user","content":[{"type":"document","source":{"type":"text","media_type":"text/plain","data":"notes"}},{"type":"text","text":"x"}]}]"#,
            (.mapped, .mapped)),
        Row(
            "`image` or `document` by `file` id, `document` by URL, `search_result`, `server_tool_use` and server tool results, `container_upload`, block types newer than Switchyard",
            "**rejected** (400 naming the block)", "**rejected**",
            example:
                #""messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"file_1"}}]}]"#,
            (.rejected, .rejected)),
        Row(
            "`tool_use` blocks (assistant)", "`tool_calls` (`arguments` = `input` as JSON; ids kept)",
            "`functionCall` parts"),
        Row(
            "`tool_result` blocks",
            "`tool` messages (text joined); images in a result move to the user message after them; `is_error` dropped",
            "`functionResponse` parts (+ `inlineData` for images)"),
        Row(
            "`thinking`, `redacted_thinking` blocks in the history", "dropped", "dropped",
            example:
                #""messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"s"},{"type":"text","text":"a"}]},{"role":"user","content":"x"}]"#,
            baseline:
                #""messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"text","text":"a"}]},{"role":"user","content":"x"}]"#,
            (.dropped, .dropped)),
        Row(
            "`tools`: client tools (`name`, `description`, `input_schema`, `strict`)", "function tools",
            "`functionDeclarations` (schema cleaned as for Chat Completions clients)",
            example: #""tools":[{"name":"f","input_schema":{"type":"object","properties":{"a":{"type":"string"}}}}]"#,
            (.mapped, .mapped)),
        Row(
            "`tools`: server tools (`web_search_…`, `web_fetch_…`, `bash_…`, `code_execution_…`, `text_editor_…`, computer use, memory, tool search)",
            "**rejected**", "**rejected**", example: #""tools":[{"type":"web_search_20250305","name":"web_search"}]"#,
            (.rejected, .rejected)),
        Row(
            "`tool_choice` `auto` / `any` / `tool` / `none`", "`auto` / `required` / named function / `none`",
            "`AUTO` / `ANY` / `ANY` + `allowedFunctionNames` / `NONE`",
            example: #""tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"any"}"#,
            (.mapped, .mapped)),
        Row(
            "`tool_choice.disable_parallel_tool_use`", "`parallel_tool_calls: false`", "dropped",
            example:
                #""tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"auto","disable_parallel_tool_use":true}"#,
            baseline: #""tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"auto"}"#,
            (.mapped, .dropped)),
        Row("`max_tokens`", "`max_completion_tokens`", "`maxOutputTokens`"),
        Row(
            "`stop_sequences`", "`stop` (the first 4, OpenAI's maximum)", "`stopSequences`",
            example: #""stop_sequences":["END"]"#, (.mapped, .mapped)),
        Row(
            "`temperature` (0–1), `top_p`", "`temperature`, `top_p`", "`temperature`, `topP`",
            example: #""temperature":0.5"#, (.mapped, .mapped)),
        Row("`top_k`", "dropped", "`topK`", example: #""top_k":5"#, (.dropped, .mapped)),
        Row("`metadata.user_id`", "`user`", "dropped", example: #""metadata":{"user_id":"u-1"}"#, (.mapped, .dropped)),
        Row(
            "`thinking` (`enabled` with `budget_tokens`, `adaptive`, `disabled`)",
            "`reasoning_effort` for models named `o1…`, `o3…`, `o4…`, `gpt-5…` (budget below 4,096 `low`, below 16,384 `medium`, else `high`; `adaptive` `medium`); dropped for other models, which reject it",
            "`thinkingConfig` for `gemini-2.5…` (`thinkingBudget`; `adaptive` -1, `disabled` 0) and `gemini-3…` (`thinkingLevel` `low` below 8,192, else `high`); dropped for other models",
            example: #""thinking":{"type":"enabled","budget_tokens":2048}"#, nil),
        Row(
            "`output_config.format` (`json_schema`)", "`response_format` `json_schema`",
            "`responseMimeType` + `responseJsonSchema`",
            example: #""output_config":{"format":{"type":"json_schema","schema":{"type":"object"}}}"#,
            (.mapped, .mapped)),
        Row(
            "`cache_control` (top level, blocks, tools), `citations`, a document's `title` and `context`, `output_config.effort`, `service_tier`, `speed`, `inference_geo`, `diagnostics`, `user_profile_id`, `workspace_id`",
            "dropped", "dropped",
            example: #""cache_control":{"type":"ephemeral"},"service_tier":"auto","speed":"standard""#,
            (.dropped, .dropped)),
        Row(
            code(MessagesRequest.nativeOnlyFields), "**rejected**", "**rejected**", example: #""container":"cntr_1""#,
            (.rejected, .rejected)),
        Row(
            "answer",
            "a `message`: a `text` block (an OpenAI refusal's text too), then one `tool_use` block per call (`input` parsed; arguments that are not a JSON object become `{}`)",
            "the same; thought parts dropped"),
        Row(
            "`stop_reason`",
            FinishReason.allListed.map { "`\($0.rawValue)` → `\(MessagesOutput.stopReason($0))`" }.joined(
                separator: ", ")
                + "; an OpenAI refusal → `refusal`; `stop_sequence` is always null (no provider says which sequence matched)",
            "the same, from the unified finish reason"),
        Row(
            "`usage`", "`input_tokens` = prompt − cached, `cache_read_input_tokens` = cached, `output_tokens`",
            "`input_tokens` = `promptTokenCount`, `output_tokens` = candidates + thoughts"),
        Row(
            "streams",
            "`message_start` (usage 0), `ping`, per block `content_block_start` / `content_block_delta` (`text_delta`, `input_json_delta`) / `content_block_stop`, `message_delta` (stop reason, whole usage), `message_stop`; a failure after the start is an `error` event",
            "the same; each function call as one `input_json_delta`"),
        Row(
            "`POST /v1/messages/count_tokens`",
            "estimate (`x-switchyard-token-count: estimate`): a token per 4 bytes of text and JSON, \(MessagesTokenEstimate.perMessage) per message and tool, \(MessagesTokenEstimate.perImage) per image, \(MessagesTokenEstimate.perPDFChunk) per started \(MessagesTokenEstimate.pdfChunkCharacters) base64 characters of a PDF",
            "the same estimate"),
    ]

    /// The table as it appears in the README.
    public static var markdownTable: String {
        var out =
            "| Anthropic field | OpenAI target (Chat Completions) | Gemini target (generateContent) |\n|---|---|---|\n"
        for r in rows { out += "| \(r.field) | \(r.openAI) | \(r.gemini) |\n" }
        return out
    }
}

extension FinishReason {
    /// The finish reasons a translated answer can carry, in the order the README lists them.
    static let allListed: [FinishReason] = [.stop, .length, .toolCalls, .contentFilter]
}
