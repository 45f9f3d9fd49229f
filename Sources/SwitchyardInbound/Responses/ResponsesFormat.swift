public import SwitchyardCore

/// `POST /v1/responses`: the OpenAI Responses API. Requests parse with `ResponsesRequest`;
/// answers are `response` objects (`ResponsesOutput`) and typed events
/// (`ResponsesStreamEncoder`); errors are OpenAI's envelope, as on Chat Completions.
public struct ResponsesFormat: InboundFormat {
    public init() {}

    public var api: InboundAPI { .responses }

    public func parseRequest(_ body: [UInt8]) throws(APIError) -> ChatRequest {
        try ResponsesRequest.parse(body: body)
    }

    public func encodeResponse(_ response: ChatResponse, passthrough: [UInt8]?, context: AnswerContext) -> [UInt8] {
        if let passthrough { return passthrough }
        return JSON.object(Self.object(response, context: context)).serialized()
    }

    /// The `response` object of a translated answer.
    public static func object(_ response: ChatResponse, context: AnswerContext) -> JSONObject {
        let (status, reason) = ResponsesOutput.status(response.choices.first?.finishReason)
        return ResponsesOutput.object(
            context: context, model: response.model, status: status,
            output: ResponsesOutput.items(response, responseID: context.id), usage: response.usage,
            incompleteReason: reason)
    }

    public func makeStreamEncoder(context: AnswerContext) -> any InboundStreamEncoder {
        ResponsesStreamEncoder(context: context)
    }

    public func encodeError(_ error: APIError) -> [UInt8] { error.body }

    public func replayStream(_ body: [UInt8], request: ChatRequest) -> [UInt8] {
        guard case .object(let response)? = try? JSON.parse(body) else { return [] }
        return ResponsesReplay.events(response)
    }
}
