import SwitchyardCore

/// Builds the Anthropic Messages body for one OpenAI request (docs/translation.md §1–§5), rejecting
/// what Anthropic cannot honour with a 400 naming the parameter (docs/translation.md §9.1).
///
/// Key order: `model`, `max_tokens`, `system`, `messages`, `tools`, `tool_choice`,
/// `temperature`, `top_p`, `stop_sequences`, `metadata`, `output_config`, `stream`.
/// Dropped silently (neither logged nor counted; docs/translation.md): `seed`, `presence_penalty`,
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
        let stops = request.stop.filter { !Self.isAllWhitespace($0) }
        if !stops.isEmpty { body.appendUnique("stop_sequences", .array(stops.map(JSON.string))) }
        if let user = request.user, Self.isOpaque(user) { body.appendUnique("metadata", ["user_id": .string(user)]) }
        if case .outputConfig(let schema) = jsonMode {
            body.appendUnique("output_config", ["format": ["type": "json_schema", "schema": schema]])
        }
        if request.stream { body.appendUnique("stream", true) }
        return .object(body)
    }

    /// `body().serialized()` for a plain conversation (no tools, no JSON mode, every message a
    /// system, developer, user or assistant one whose content is a string or absent, without tool
    /// calls), written straight to bytes: the same rules and the same errors, without a tree of
    /// blocks, messages and members (building and serialising it was 1.2 + 0.55 us of a
    /// translated request, `switchyard-bench gateway --provider anthropic`). nil for any other
    /// request, which `body()` encodes (or rejects).
    func plainBody() throws(APIError) -> [UInt8]? {
        guard request.tools.isEmpty, request.toolChoice == nil || request.toolChoice == ToolChoice.none,
            request.responseFormat == nil || request.responseFormat == .text
        else { return nil }
        try rejectUnsupported()
        // The builder's turns, each block a text: one list of blocks, a turn being a run of one
        // role (a list of texts per message and per turn were two allocations of every request).
        var systemText = ""
        var blocks: [(assistant: Bool, text: String)] = []
        for m in request.messages {
            guard let text = m.plainText else { return nil }
            switch m.role {
            case .system, .developer:
                if !text.isEmpty {
                    if !systemText.isEmpty { systemText += "\n\n" }
                    systemText += text
                }
            case .user:
                // `AnthropicMessageBuilder.append`: whitespace-only (or no) text is dropped, a
                // repeated role merged.
                if !Self.isAllWhitespace(text) { blocks.append((false, text)) }
            case .assistant:
                let refusal = m.refusal ?? ""
                guard !Self.isAllWhitespace(text) || !Self.isAllWhitespace(refusal) else { continue }
                if !text.isEmpty { blocks.append((true, text)) }
                if !refusal.isEmpty { blocks.append((true, refusal)) }
            case .tool, .function:
                return nil
            }
        }
        // `stripTrailingAssistantWhitespace`.
        while let last = blocks.indices.last, blocks[last].assistant {
            let text = blocks[last].text
            let trimmed = AnthropicMessageBuilder.trimmingTrailingWhitespace(text)
            if trimmed.count == text.count { break }
            if !trimmed.isEmpty {
                blocks[last].text = trimmed
                break
            }
            blocks.removeLast()
        }
        guard let first = blocks.first else { return nil }  // `finish()` rejects it
        let temperature = try temperature()

        var out: [UInt8] = []
        out.reserveCapacity(160 + systemText.utf8.count + blocks.reduce(0) { $0 + $1.text.utf8.count + 72 })
        JSON.writeLiteral(#"{"model":"#, to: &out)
        JSON.writeString(target.upstreamModel, to: &out)
        JSON.writeLiteral(#","max_tokens":"#, to: &out)
        JSON.writeInt(request.maxTokens ?? target.defaultMaxTokens, to: &out)
        if !systemText.isEmpty {
            JSON.writeLiteral(#","system":"#, to: &out)
            JSON.writeString(systemText, to: &out)
        }
        JSON.writeLiteral(#","messages":["#, to: &out)
        if first.assistant { JSON.writeLiteral(#"{"role":"user","content":"."},"#, to: &out) }
        for (i, block) in blocks.enumerated() {
            if i == 0 || block.assistant != blocks[i - 1].assistant {
                if i > 0 { JSON.writeLiteral("]},", to: &out) }
                JSON.writeLiteral(
                    block.assistant ? #"{"role":"assistant","content":["# : #"{"role":"user","content":["#, to: &out)
                JSON.writeLiteral(#"{"type":"text","text":"#, to: &out)
            } else {
                JSON.writeLiteral(#",{"type":"text","text":"#, to: &out)
            }
            JSON.writeString(block.text, to: &out)
            out.append(UInt8(ascii: "}"))
        }
        JSON.writeLiteral("]}]", to: &out)
        if let temperature {
            JSON.writeLiteral(#","temperature":"#, to: &out)
            temperature.write(to: &out)
        }
        if request.temperature == nil, let p = request.topP {
            JSON.writeLiteral(#","top_p":"#, to: &out)
            (request.raw["top_p"] ?? .double(p)).write(to: &out)
        }
        var stops = 0
        for stop in request.stop where !Self.isAllWhitespace(stop) {
            JSON.writeLiteral(stops == 0 ? #","stop_sequences":["# : ",", to: &out)
            JSON.writeString(stop, to: &out)
            stops += 1
        }
        if stops > 0 { out.append(UInt8(ascii: "]")) }
        if let user = request.user, Self.isOpaque(user) {
            JSON.writeLiteral(#","metadata":{"user_id":"#, to: &out)
            JSON.writeString(user, to: &out)
            out.append(UInt8(ascii: "}"))
        }
        if request.stream { JSON.writeLiteral(#","stream":true"#, to: &out) }
        out.append(UInt8(ascii: "}"))
        return out
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

    /// `s.allSatisfy(\.isWhitespace)`, read from the UTF-8 bytes while they are ASCII: an ASCII
    /// byte after ASCII ones starts a character of its own (only CR LF join, both whitespace), so
    /// a non-whitespace one decides; the first byte outside ASCII hands the whole string to the
    /// `Character` check. (Breaking a message's text into characters to find its first one was
    /// 0.09 us of a translated request, `switchyard-bench gateway --provider anthropic`.)
    static func isAllWhitespace(_ s: String) -> Bool {
        for b in s.utf8 {
            switch b {
            case 0x09...0x0D, 0x20: continue
            case 0..<0x80: return false
            default: return s.allSatisfy(\.isWhitespace)
            }
        }
        return true
    }

    /// `metadata.user_id` must be an opaque id (Anthropic forbids names, emails, phone numbers):
    /// **policy** — no `@`, no whitespace, 1–256 characters; otherwise dropped.
    static func isOpaque(_ user: String) -> Bool {
        !user.isEmpty && user.count <= 256 && !user.contains("@") && !user.contains(where: \.isWhitespace)
    }

    private static func format(_ d: Double) -> String { d == d.rounded() ? String(Int(d)) : String(d) }
}
