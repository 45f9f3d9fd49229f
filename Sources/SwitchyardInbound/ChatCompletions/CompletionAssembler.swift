public import SwitchyardCore

/// Builds the final `chat.completion` from a stream's events: text, refusals and tool-call
/// fragments appended per choice, the last finish reason and usage kept. The OpenAI passthrough's
/// own `id`, `created` and `model` win over the gateway's when the upstream chunk carries them.
public struct CompletionAssembler: Sendable {
    struct Choice: Sendable {
        var content: String?
        var refusal: String?
        var toolCalls: [Int: ToolCall] = [:]
        var finishReason: FinishReason?
    }

    var id: String
    var created: Int
    var model: String
    var choices: [Int: Choice] = [:]
    var usage: Usage?
    /// The stream's end marker passed.
    public private(set) var sawEnd = false
    private var sawRaw = false

    public init(id: String, created: Int, model: String) {
        self.id = id
        self.created = created
        self.model = model
    }

    public mutating func feed(_ event: StreamEvent) {
        switch event {
        case .choices(let deltas, let raw):
            if let raw, !sawRaw {
                sawRaw = true
                // Read from the chunk's text: one skim for the three, no tree of the chunk.
                let v = raw.values(["id", "created", "model"])
                if let s = v[0]?.stringValue { id = s }
                if let n = v[1]?.intValue { created = n }
                if let s = v[2]?.stringValue { model = s }
            }
            for delta in deltas {
                var choice = choices[delta.index] ?? Choice()
                if let text = delta.content { choice.content = (choice.content ?? "") + text }
                if let text = delta.refusal { choice.refusal = (choice.refusal ?? "") + text }
                for fragment in delta.toolCalls {
                    var call = choice.toolCalls[fragment.index] ?? ToolCall(id: "", name: "", arguments: "")
                    if let v = fragment.id { call.id = v }
                    if let v = fragment.name { call.name += v }
                    if let v = fragment.arguments { call.arguments += v }
                    choice.toolCalls[fragment.index] = call
                }
                if let reason = delta.finishReason { choice.finishReason = reason }
                choices[delta.index] = choice
            }
        case .usage(let u, _):
            usage = u
        case .done:
            sawEnd = true
        case .error:
            break
        }
    }

    /// The assembled `chat.completion` object.
    public var completion: JSON {
        ChatResponse(
            id: id, created: created, model: model,
            choices: choices.keys.sorted().map { index in
                let c = choices[index] ?? Choice()
                return ChatChoice(
                    index: index, content: c.content ?? (c.toolCalls.isEmpty ? "" : nil),
                    toolCalls: c.toolCalls.keys.sorted().compactMap { c.toolCalls[$0] }, refusal: c.refusal,
                    finishReason: c.finishReason)
            },
            usage: usage
        ).json
    }

    /// A stored completion re-emitted as `chat.completion.chunk` events: per choice the role with
    /// the whole text, the tool calls, the finish reason; then usage when asked; then `[DONE]`.
    public static func replayChunks(_ completion: JSON, includeUsage: Bool) -> [UInt8] {
        let encoder = ChunkEncoder(
            id: completion["id"]?.stringValue ?? "chatcmpl-replay", created: completion["created"]?.intValue ?? 0,
            model: completion["model"]?.stringValue ?? "")
        var out: [UInt8] = []
        for (position, choice) in (completion["choices"]?.arrayValue ?? []).enumerated() {
            let index = choice["index"]?.intValue ?? position
            let message = choice["message"]
            let content = message?["content"]?.stringValue
            let calls = message?["tool_calls"]?.arrayValue ?? []
            out += encoder.encode([
                ChoiceDelta(
                    index: index, role: true, content: content ?? (calls.isEmpty ? "" : nil),
                    contentNull: content == nil && !calls.isEmpty)
            ])
            if let refusal = message?["refusal"]?.stringValue {
                out += encoder.encode([ChoiceDelta(index: index, refusal: refusal)])
            }
            if !calls.isEmpty {
                let fragments = calls.enumerated().map { k, call in
                    ToolCallDelta(
                        index: k, id: call["id"]?.stringValue, name: call["function"]?["name"]?.stringValue,
                        arguments: call["function"]?["arguments"]?.stringValue)
                }
                out += encoder.encode([ChoiceDelta(index: index, toolCalls: fragments)])
            }
            let reason = choice["finish_reason"]?.stringValue.flatMap(FinishReason.init(rawValue:)) ?? .stop
            out += encoder.encode([ChoiceDelta(index: index, finishReason: reason)])
        }
        if includeUsage, let usage = Usage(openAI: completion["usage"]) { out += encoder.encodeUsage(usage) }
        return out + SSE.done
    }
}
