import SwitchyardCore

extension OpenAICodec {
    /// Which of the three ways to an OpenAI upstream a request takes.
    enum Wire: Equatable {
        /// A Chat Completions client: its body to `/chat/completions`, answers forwarded.
        case chatPassthrough
        /// A Responses client and a `native` target: its body to `/responses`, answers forwarded.
        case responsesPassthrough
        /// Anything else: a Chat Completions body written from the typed fields, answers decoded.
        case chatTranslated

        /// From the request's `origin` and the target's `responsesMode` alone: an initializer takes
        /// its arguments owned, so one taking the whole `ChatRequest` (or `TargetContext`) copied it
        /// (a retain and release of each of its fields) on every encode and decode just to read one.
        init(_ origin: InboundAPI, _ responsesMode: ResponsesMode) {
            switch origin {
            case .chatCompletions: self = .chatPassthrough
            case .responses where responsesMode == .native: self = .responsesPassthrough
            case .responses, .anthropicMessages: self = .chatTranslated
            }
        }
    }

    /// The Responses body as the client sent it (after the gateway expanded a stored
    /// conversation), with only `model` replaced.
    func encodeResponsesPassthrough(_ request: ChatRequest, for target: TargetContext) -> EncodedRequest {
        var body = request.raw
        body["model"] = .string(target.upstreamModel)
        return EncodedRequest(
            path: "/responses", headers: [HeaderField("Content-Type", "application/json")], body: body.serialized())
    }

    func encodeTranslated(_ request: ChatRequest, for target: TargetContext) throws(APIError) -> EncodedRequest {
        if let e = request.untranslatableError(provider: target.providerName) { throw e }
        if request.countsTokens {
            throw .unsupportedParameter(
                "count_tokens", provider: target.providerName,
                detail: "Token counting is only forwarded to Anthropic targets.")
        }
        var body = OpenAIChatEncoder.body(request, model: target.upstreamModel)
        if request.continuesFinalMessage { Self.flagContinuation(&body, target.continuation) }
        return EncodedRequest(path: Self.chatPath, headers: Self.jsonHeaders, body: body.serialized())
    }

    func decodeResponsesPassthrough(
        _ body: [UInt8], target: TargetContext, created: Int
    ) throws(ProviderError) -> DecodedResponse {
        guard let json = try? JSON.parse(body), case .object(let o) = json,
            let response = OpenAIResponsesDecoder.chatResponse(
                o, fallbackModel: target.upstreamModel, created: created)
        else {
            throw ProviderError(
                kind: .malformedResponse, status: 200, message: "The upstream answer was not a response object.")
        }
        if o["status"]?.stringValue == "failed" {
            let e = o["error"]
            throw OpenAIResponsesDecoder.streamError(code: e?["code"]?.stringValue, message: e?["message"]?.stringValue)
        }
        return DecodedResponse(response: response, passthroughBody: body)
    }
}
