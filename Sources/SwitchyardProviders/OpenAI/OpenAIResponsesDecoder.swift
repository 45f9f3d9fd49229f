public import SwitchyardCore

/// Reads an OpenAI `response` object (the Responses API's answer, forwarded to a Responses client
/// as it came) into the unified answer for bookkeeping: text, tool calls, finish reason, usage.
public enum OpenAIResponsesDecoder {
    /// The unified view of a `response` object; nil when it is not one.
    public static func chatResponse(_ o: JSONObject, fallbackModel: String, created: Int) -> ChatResponse? {
        guard let output = o["output"]?.arrayValue else { return nil }
        var text: String?
        var refusal: String?
        var calls: [ToolCall] = []
        for item in output {
            switch item["type"]?.stringValue {
            case "message":
                for part in item["content"]?.arrayValue ?? [] {
                    if let t = part["text"]?.stringValue, part["type"]?.stringValue == "output_text" {
                        text = (text ?? "") + t
                    }
                    if let r = part["refusal"]?.stringValue { refusal = (refusal ?? "") + r }
                }
            case "function_call":
                calls.append(
                    ToolCall(
                        id: item["call_id"]?.stringValue ?? "", name: item["name"]?.stringValue ?? "",
                        arguments: item["arguments"]?.stringValue ?? ""))
            default:
                continue
            }
        }
        let choice = ChatChoice(
            index: 0, content: text, toolCalls: calls, refusal: refusal,
            finishReason: finishReason(o, hasToolCalls: !calls.isEmpty))
        return ChatResponse(
            id: o["id"]?.stringValue ?? "", created: o["created_at"]?.intValue ?? created,
            model: o["model"]?.stringValue ?? fallbackModel, choices: [choice], usage: usage(o["usage"]))
    }

    /// `completed` → `stop` (`tool_calls` when the model called a function); `incomplete` →
    /// `length` for `max_output_tokens`, `content_filter` for a filter.
    static func finishReason(_ o: JSONObject, hasToolCalls: Bool) -> FinishReason {
        if o["status"]?.stringValue == "incomplete" {
            return o["incomplete_details"]?["reason"]?.stringValue == "content_filter" ? .contentFilter : .length
        }
        return hasToolCalls ? .toolCalls : .stop
    }

    /// A Responses `usage` object in unified terms (input ↔ prompt, output ↔ completion).
    public static func usage(_ value: JSON?) -> Usage? {
        guard let value, case .object(let u) = value else { return nil }
        let input = u["input_tokens"]?.intValue ?? 0
        let output = u["output_tokens"]?.intValue ?? 0
        return Usage(
            promptTokens: input, completionTokens: output, totalTokens: u["total_tokens"]?.intValue ?? input + output,
            cachedTokens: u["input_tokens_details"]?["cached_tokens"]?.intValue,
            reasoningTokens: u["output_tokens_details"]?["reasoning_tokens"]?.intValue)
    }

    /// A Responses `error` object (`response.failed`, the `error` stream event) as facts for
    /// the router: a rate limit retries, anything else is a server error.
    static func streamError(code: String?, message: String?) -> ProviderError {
        let kind: ProviderError.Kind = code == "rate_limit_exceeded" ? .rateLimited : .serverError
        return ProviderError(
            kind: kind, status: 200, providerType: nil, providerCode: code,
            message: message ?? "The upstream response failed.")
    }
}

/// Reads an OpenAI Responses SSE stream (`event: response.*` with a JSON `data` carrying `type`)
/// for bookkeeping and hands every event on as `raw`, to be forwarded to a Responses client as
/// it came. Text, refusal and function-call deltas are also given as a unified delta (choice 0;
/// function calls numbered in order of appearance) so that recovery and accounting work as for
/// chat; `response.completed`/`response.incomplete` carry the finish reason, then usage, then
/// the end marker. `response.failed` and `error` become `.error`.
public struct OpenAIResponsesStreamDecoder: SSEStreamDecoder {
    public var sse = SSEParser()
    /// output_index → the function call's position among the answer's calls.
    private var callIndex: [Int: Int] = [:]
    private var finished = false
    public private(set) var malformedEvents = 0

    public init() {}

    public var isComplete: Bool { finished }

    public mutating func decode(_ m: SSEMessage, into out: inout [StreamEvent]) {
        if m.isDone { return out.append(.done) }
        guard let o = m.jsonObject, let type = o["type"]?.stringValue else {
            malformedEvents += 1
            return
        }
        switch type {
        case "response.output_text.delta":
            out.append(.choices([ChoiceDelta(content: o["delta"]?.stringValue ?? "")], raw: RawChunk(o)))
        case "response.refusal.delta":
            out.append(.choices([ChoiceDelta(refusal: o["delta"]?.stringValue ?? "")], raw: RawChunk(o)))
        case "response.output_item.added" where o["item"]?["type"]?.stringValue == "function_call":
            let position = callIndex.count
            callIndex[o["output_index"]?.intValue ?? position] = position
            let item = o["item"]
            let delta = ToolCallDelta(
                index: position, id: item?["call_id"]?.stringValue, name: item?["name"]?.stringValue,
                arguments: item?["arguments"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 })
            out.append(.choices([ChoiceDelta(toolCalls: [delta])], raw: RawChunk(o)))
        case "response.function_call_arguments.delta":
            let position = callIndex[o["output_index"]?.intValue ?? -1] ?? 0
            let delta = ToolCallDelta(index: position, arguments: o["delta"]?.stringValue ?? "")
            out.append(.choices([ChoiceDelta(toolCalls: [delta])], raw: RawChunk(o)))
        case "response.completed", "response.incomplete":
            let response = o["response"]?.objectValue ?? JSONObject()
            finished = true
            let reason = OpenAIResponsesDecoder.finishReason(response, hasToolCalls: !callIndex.isEmpty)
            out.append(.choices([ChoiceDelta(finishReason: reason)], raw: RawChunk(o)))
            if let u = OpenAIResponsesDecoder.usage(response["usage"]) { out.append(.usage(u, raw: nil)) }
            out.append(.done)
        case "response.failed":
            let e = o["response"]?["error"]
            out.append(
                .error(
                    OpenAIResponsesDecoder.streamError(
                        code: e?["code"]?.stringValue, message: e?["message"]?.stringValue)))
        case "error":
            out.append(
                .error(
                    OpenAIResponsesDecoder.streamError(code: o["code"]?.stringValue, message: o["message"]?.stringValue)
                ))
        default:
            out.append(.choices([], raw: RawChunk(o)))
        }
    }
}
