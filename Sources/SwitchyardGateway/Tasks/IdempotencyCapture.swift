import SwitchyardCore
import SwitchyardEdge
import SwitchyardStore
import Synchronization

/// What a chat completion answered, kept for its idempotency record. `Gateway.handleChat` feeds
/// it: the whole body of a JSON answer, or the events of a streamed one, assembled into the
/// final `chat.completion` as they pass. Only a successful answer (2xx, a stream that ended with
/// its end marker) yields a `result`.
final class IdempotencyCapture: Sendable {
    /// Marks a record holding an assembled stream: replayed as chunks, not as JSON.
    static let streamContentType = "text/event-stream"

    private struct State {
        var result: (headers: [StoredHeader], body: [UInt8])?
        var assembler: CompletionAssembler?
        var streamHeaders: [StoredHeader] = []
    }

    private let state = Mutex(State())

    /// The response to store, or nil when the request failed.
    var result: (headers: [StoredHeader], body: [UInt8])? { state.withLock { $0.result } }

    func completed(status: Int, headers: HTTPHeaders, body: [UInt8]) {
        guard (200..<300).contains(status) else { return }
        state.withLock { $0.result = (Self.keep(headers), body) }
    }

    func streamStarted(id: String, created: Int, model: String, headers: HTTPHeaders) {
        state.withLock { s in
            s.assembler = CompletionAssembler(id: id, created: created, model: model)
            s.streamHeaders = Self.keep(headers)
        }
    }

    func observe(_ event: StreamEvent) {
        state.withLock { $0.assembler?.feed(event) }
    }

    /// The stream is over; `ok` when it ended normally (not an error or a client gone).
    func streamFinished(ok: Bool) {
        state.withLock { s in
            guard ok, let assembler = s.assembler, assembler.sawEnd else { return }
            s.result = (s.streamHeaders, assembler.completion.serialized())
        }
    }

    /// Response headers worth replaying: content type and routing facts, never ids of this request.
    static func keep(_ headers: HTTPHeaders) -> [StoredHeader] {
        headers.compactMap { field in
            let name = field.name.lowercased()
            guard name == "content-type" || name.hasPrefix("x-switchyard-") else { return nil }
            return StoredHeader(name: field.name, value: field.value)
        }
    }
}

/// Builds the final `chat.completion` from a stream's events: text, refusals and tool-call
/// fragments appended per choice, the last finish reason and usage kept. The OpenAI passthrough's
/// own `id`, `created` and `model` win over the gateway's when the upstream chunk carries them.
struct CompletionAssembler {
    struct Choice {
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
    var sawEnd = false
    private var sawRaw = false

    init(id: String, created: Int, model: String) {
        self.id = id
        self.created = created
        self.model = model
    }

    mutating func feed(_ event: StreamEvent) {
        switch event {
        case .choices(let deltas, let raw):
            if let raw, !sawRaw {
                sawRaw = true
                if let v = raw["id"]?.stringValue { id = v }
                if let v = raw["created"]?.intValue { created = v }
                if let v = raw["model"]?.stringValue { model = v }
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

    var completion: JSON {
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
    static func replayChunks(_ completion: JSON, includeUsage: Bool) -> [UInt8] {
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
