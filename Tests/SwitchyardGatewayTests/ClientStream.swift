import FoundationEssentials
import SwitchyardCore
import Testing

/// The client side of an SSE chat stream: the `data:` payloads in order (comments and heartbeats
/// dropped), and views of the `chat.completion.chunk` objects among them.
struct ClientStream {
    var payloads: [String]
    /// The parsed payloads other than `[DONE]` and in-band errors, in order.
    var chunks: [JSON] = []
    /// The in-band `{"error": {...}}` event, if any (the first one).
    var error: JSON?

    init(_ text: String) {
        payloads = text.components(separatedBy: "\n\n").compactMap { block in
            let data = block.split(separator: "\n").filter { $0.hasPrefix("data: ") }.map { $0.dropFirst(6) }
            return data.isEmpty ? nil : data.joined(separator: "\n")
        }
        for payload in payloads where payload != "[DONE]" {
            guard let json = try? JSON.parse(payload) else { continue }
            if let e = json["error"] {
                if error == nil { error = e }
            } else {
                chunks.append(json)
            }
        }
    }

    /// Expects one whole answer: `text`, no in-band error, one role delta, the finish reason
    /// `stop` and `[DONE]`.
    func expectWholeAnswer(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(error == nil, sourceLocation: sourceLocation)
        #expect(self.text == text, sourceLocation: sourceLocation)
        #expect(roleDeltas == 1, sourceLocation: sourceLocation)
        #expect(finishReasons == ["stop"], sourceLocation: sourceLocation)
        #expect(containsDone, sourceLocation: sourceLocation)
    }

    var endsWithDone: Bool { payloads.last == "[DONE]" }
    var containsDone: Bool { payloads.contains("[DONE]") }

    var deltas: [JSON] { chunks.flatMap { $0["choices"]?.arrayValue ?? [] }.compactMap { $0["delta"] } }
    /// The concatenated `delta.content` of every chunk.
    var text: String { deltas.compactMap { $0["content"]?.stringValue }.joined() }
    var roleDeltas: Int { deltas.filter { $0["role"] != nil }.count }
    var toolCallChunks: Int { deltas.filter { $0["tool_calls"] != nil }.count }
    var finishReasons: [String] {
        chunks.flatMap { $0["choices"]?.arrayValue ?? [] }.compactMap { $0["finish_reason"]?.stringValue }
    }
    var usage: JSON? { chunks.last { $0["usage"] != nil && $0["usage"] != .null }?["usage"] }
    var ids: [String] { chunks.compactMap { $0["id"]?.stringValue } }
    var models: [String] { chunks.compactMap { $0["model"]?.stringValue } }
    var created: [Int] { chunks.compactMap { $0["created"]?.intValue } }
}
