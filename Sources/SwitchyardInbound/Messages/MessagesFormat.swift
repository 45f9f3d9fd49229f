public import SwitchyardCore

/// `POST /v1/messages`: the Anthropic Messages API, for clients of the `anthropic` SDKs and
/// agents pointed at `ANTHROPIC_BASE_URL`. Requests parse with `MessagesRequest`; answers are
/// `message` objects (`MessagesOutput`) and Anthropic's events (`MessagesStreamEncoder`); errors
/// are Anthropic's envelope (`MessagesErrors`) with a `request-id` header. An Anthropic target
/// receives the client's body and headers natively and its answer comes back as it sent it.
public struct MessagesFormat: InboundFormat {
    public init() {}

    public var api: InboundAPI { .anthropicMessages }

    public func parseRequest(_ body: [UInt8]) throws(APIError) -> ChatRequest {
        try MessagesRequest.parse(body: body)
    }

    public func encodeResponse(_ response: ChatResponse, passthrough: [UInt8]?, context: AnswerContext) -> [UInt8] {
        if let passthrough { return passthrough }
        return JSON.object(MessagesOutput.message(response, id: context.id)).serialized()
    }

    public func makeStreamEncoder(context: AnswerContext) -> any InboundStreamEncoder {
        MessagesStreamEncoder(context: context)
    }

    public func encodeError(_ error: APIError) -> [UInt8] { MessagesErrors.body(error) }

    public func encodeError(_ error: APIError, requestID: String) -> [UInt8] {
        MessagesErrors.body(error, requestID: requestID)
    }

    public func errorStatus(_ error: APIError) -> Int { MessagesErrors.status(error) }

    public func replayStream(_ body: [UInt8], request: ChatRequest) -> [UInt8] {
        guard case .object(let message)? = try? JSON.parse(body) else { return [] }
        return MessagesReplay.events(message)
    }

    public func answerID(requestID: String) -> String? {
        "msg_" + requestID.filter { $0.isASCII && ($0.isLetter || $0.isNumber) }
    }

    public func responseHeaders(requestID: String) -> [(String, String)] { [("request-id", requestID)] }

    public var forwardedHeaderNames: [String] { ["anthropic-version", "anthropic-beta"] }
}

/// A stored `message` re-emitted as Anthropic's events, for an idempotent replay: `message_start`
/// with the envelope, each block started empty and given its content in one delta, then
/// `message_delta` with the stop reason and usage, and `message_stop`.
public enum MessagesReplay {
    public static func events(_ message: JSONObject) -> [UInt8] {
        var out: [UInt8] = []
        func emit(_ type: String, _ fields: JSONObject) {
            out += SSE.event(type, MessagesStreamEncoder.typed(type, fields))
        }
        var start = message
        start["content"] = []
        start["stop_reason"] = .null
        start["stop_sequence"] = .null
        emit("message_start", ["message": .object(start)])
        for (i, block) in (message["content"]?.arrayValue ?? []).enumerated() {
            guard case .object(var b) = block else { continue }
            var deltas: [JSON] = []
            switch b["type"]?.stringValue {
            case "text":
                deltas.append(["type": "text_delta", "text": b["text"] ?? ""])
                b["text"] = ""
                b["citations"] = nil
            case "thinking":
                deltas.append(["type": "thinking_delta", "thinking": b["thinking"] ?? ""])
                if let s = b["signature"] { deltas.append(["type": "signature_delta", "signature": s]) }
                b["thinking"] = ""
                b["signature"] = ""
            case "tool_use", "server_tool_use":
                deltas.append(
                    ["type": "input_json_delta", "partial_json": .string((b["input"] ?? [:]).serializedString())])
                b["input"] = [:]
            default:
                break
            }
            emit("content_block_start", ["index": .int(i), "content_block": .object(b)])
            for d in deltas { emit("content_block_delta", ["index": .int(i), "delta": d]) }
            emit("content_block_stop", ["index": .int(i)])
        }
        emit(
            "message_delta",
            [
                "delta": [
                    "stop_reason": message["stop_reason"] ?? .null, "stop_sequence": message["stop_sequence"] ?? .null,
                ],
                "usage": message["usage"] ?? ["output_tokens": 0],
            ])
        emit("message_stop", [:])
        return out
    }
}
