import SwitchyardCore

/// Builds the Anthropic Messages body for one OpenAI request (docs/translation.md §1–§5), rejecting
/// what Anthropic cannot honour with a 400 naming the parameter (docs/translation.md §9.1).
///
/// Key order: `model`, `max_tokens`, `system`, `messages`, `tools`, `tool_choice`,
/// `temperature`, `top_p`, `stop_sequences`, `metadata`, `output_config`, `stream`.
/// Dropped silently (the gateway logs and counts drops): `seed`, `presence_penalty`,
/// `frequency_penalty`, `reasoning_effort`, `metadata`, `store`, `service_tier`,
/// `stream_options`, `image_url.detail`, message `name`.
struct AnthropicRequestEncoder {
    let request: ChatRequest
    let target: TargetContext

    private var provider: String { target.providerName }

    func body() throws(APIError) -> JSON {
        try rejectUnsupported()
        let jsonMode = try AnthropicJSONMode(request: request, target: target)
        var builder = AnthropicMessageBuilder(provider: provider)
        for (i, m) in request.messages.enumerated() { try builder.add(m, at: i) }
        let (system, messages) = try builder.finish()
        let (tools, toolChoice) = try AnthropicToolEncoder(
            request: request, target: target, jsonMode: jsonMode, calledToolNames: builder.calledToolNames
        ).encode()

        var body = JSONObject()
        body.appendUnique("model", .string(target.upstreamModel))
        body.appendUnique("max_tokens", .int(request.maxTokens ?? target.defaultMaxTokens))
        if let system { body.appendUnique("system", .string(system)) }
        body.appendUnique("messages", .array(messages))
        if !tools.isEmpty { body.appendUnique("tools", .array(tools)) }
        if let toolChoice { body.appendUnique("tool_choice", toolChoice) }
        if let t = try temperature() { body.appendUnique("temperature", t) }
        // Recent Claude models 400 on both; temperature wins.
        if request.temperature == nil, let p = request.topP {
            body.appendUnique("top_p", request.raw["top_p"] ?? .double(p))
        }
        let stops = request.stop.filter { !$0.allSatisfy(\.isWhitespace) }
        if !stops.isEmpty { body.appendUnique("stop_sequences", .array(stops.map(JSON.string))) }
        if let user = request.user, Self.isOpaque(user) { body.appendUnique("metadata", ["user_id": .string(user)]) }
        if case .outputConfig(let schema) = jsonMode {
            body.appendUnique("output_config", ["format": ["type": "json_schema", "schema": schema]])
        }
        if request.stream { body.appendUnique("stream", true) }
        return .object(body)
    }

    /// Parameters with no Anthropic counterpart that change the answer's shape (docs/translation.md §1, §10).
    private func rejectUnsupported() throws(APIError) {
        if let n = request.n, n > 1 {
            throw .unsupportedParameter(
                "n", provider: provider, detail: "n > 1 is not supported by \(provider) models; send n = 1.")
        }
        if request.logprobs {
            throw .unsupportedParameter(
                "logprobs", provider: provider, detail: "logprobs are not supported by \(provider) models.")
        }
        if request.topLogprobs != nil {
            throw .unsupportedParameter(
                "top_logprobs", provider: provider, detail: "top_logprobs is not supported by \(provider) models.")
        }
        if request.logitBias != nil {
            throw .unsupportedParameter(
                "logit_bias", provider: provider, detail: "logit_bias is not supported by \(provider) models.")
        }
        for key in ["functions", "function_call"] where request.raw[key].map({ !$0.isNull }) == true {
            throw .unsupportedParameter(
                key, provider: provider,
                detail: "`\(key)` is deprecated and not supported for \(provider) models; use tools and tool_choice.")
        }
    }

    /// 0…1 passes through as sent (never rescaled); above 1 is rejected unless the target clamps.
    private func temperature() throws(APIError) -> JSON? {
        guard let t = request.temperature else { return nil }
        if t <= 1 { return request.raw["temperature"] ?? .double(t) }
        guard target.clampTemperature else {
            throw .unsupportedValue(
                "temperature", "temperature \(Self.format(t)) is above 1.0, the maximum for \(provider) models")
        }
        return .double(1.0)
    }

    /// `metadata.user_id` must be an opaque id (Anthropic forbids names, emails, phone numbers):
    /// **policy** — no `@`, no whitespace, 1–256 characters; otherwise dropped.
    static func isOpaque(_ user: String) -> Bool {
        !user.isEmpty && user.count <= 256 && !user.contains("@") && !user.contains(where: \.isWhitespace)
    }

    private static func format(_ d: Double) -> String { d == d.rounded() ? String(Int(d)) : String(d) }
}
