import SwitchyardCore

extension AnthropicCodec {
    /// The body a Messages client sent, with only `model` replaced (after a mid-stream failure,
    /// with the delivered text appended as the final assistant turn by the router): everything
    /// else — `cache_control`, thinking blocks and signatures, documents, citations, server tools,
    /// fields newer than Switchyard — reaches Anthropic untouched. The client's `anthropic-version`
    /// replaces the gateway's; its `anthropic-beta` flags join the provider's configured ones.
    /// A token count goes to `/v1/messages/count_tokens` the same way.
    func encodeNative(_ request: ChatRequest, for target: TargetContext) -> EncodedRequest {
        var body = request.raw
        body["model"] = .string(target.upstreamModel)
        var headers = [HeaderField("Content-Type", "application/json")]
        if let version = request.nativeHeaders.value(for: "anthropic-version") {
            headers.append(HeaderField("anthropic-version", version))
        }
        let betas = Self.betaFlags(target.configuredHeaders) + Self.betaFlags(request.nativeHeaders)
        if request.nativeHeaders.value(for: "anthropic-beta") != nil, !betas.isEmpty {
            var seen: Set<String> = []
            headers.append(
                HeaderField("anthropic-beta", betas.filter { seen.insert($0).inserted }.joined(separator: ",")))
        }
        return EncodedRequest(
            path: request.countsTokens ? "/v1/messages/count_tokens" : "/v1/messages", headers: headers,
            body: body.serialized())
    }

    /// The comma-separated flags of every `anthropic-beta` header.
    static func betaFlags(_ headers: [HeaderField]) -> [String] {
        headers.filter { $0.name.lowercased() == "anthropic-beta" }.flatMap { h in
            h.value.split(separator: ",").map { $0.trimmingCharacters() }.filter { !$0.isEmpty }
        }
    }

    /// The answer as Anthropic sent it, plus its unified reading for metrics and logs (text, tool
    /// calls, stop reason, usage). A count is `{"input_tokens": n}`: its unified usage is `n`
    /// prompt tokens.
    func decodeNative(
        _ body: [UInt8], request: ChatRequest, target: TargetContext, id: String, created: Int
    ) throws(ProviderError) -> DecodedResponse {
        if request.countsTokens {
            guard let n = (try? JSON.parse(body))?["input_tokens"]?.intValue else {
                throw ProviderError(
                    kind: .malformedResponse, status: 200, message: "The upstream answer was not a token count.")
            }
            let response = ChatResponse(
                id: id, created: created, model: target.upstreamModel, choices: [],
                usage: Usage(promptTokens: n, completionTokens: 0))
            return DecodedResponse(response: response, passthroughBody: body)
        }
        let response = try AnthropicResponseDecoder(forcedJSON: false).decode(
            body, target: target, id: id, created: created)
        return DecodedResponse(response: response, passthroughBody: body)
    }
}

extension Substring {
    fileprivate func trimmingCharacters() -> String {
        var s = self
        while s.first == " " || s.first == "\t" { s.removeFirst() }
        while s.last == " " || s.last == "\t" { s.removeLast() }
        return String(s)
    }
}
