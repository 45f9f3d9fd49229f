public import SwitchyardCore

/// Gemini `:streamGenerateContent?alt=sse` → unified stream events (docs/translation.md §7.2).
///
/// Each `data:` payload is a complete `GenerateContentResponse` holding only new parts; there is
/// no end marker, so completion is `isComplete` (every candidate seen reported a `finishReason`)
/// when the body ends. Function calls arrive whole and are emitted as one complete tool-call delta
/// with an id (docs/translation.md §5) that depends only on `idSeed` and positions, never on how bytes were split.
public struct GeminiStreamDecoder: SSEStreamDecoder {
    private struct Candidate {
        var roleSent = false
        var nextTool = 0
        var sawCall = false
        var finished = false
    }

    private let seed: String
    public var sse = SSEParser()
    private var candidates: [Int: Candidate] = [:]
    private var lastUsage: Usage?
    public private(set) var malformedEvents = 0

    public init(idSeed: String) { self.seed = idSeed }

    public var isComplete: Bool { !candidates.isEmpty && candidates.values.allSatisfy(\.finished) }

    public mutating func end(into out: inout [StreamEvent]) {
        if let lastUsage { out.append(.usage(lastUsage, raw: nil)) }
    }

    public mutating func decode(_ m: SSEMessage, into out: inout [StreamEvent]) {
        guard let json = m.json else {
            malformedEvents += 1
            return
        }
        if let e = GeminiErrorDecoder.unwrap(json), case .object = e {
            var error = GeminiErrorDecoder.decode(status: e["code"]?.intValue ?? 500, error: e)
            error.status = 200
            out.append(.error(error))
            return
        }
        guard case .object(let o) = json else {
            malformedEvents += 1
            return
        }
        if let usage = GeminiResponseDecoder.usage(o["usageMetadata"]) { lastUsage = usage }
        let list = o["candidates"]?.arrayValue ?? []
        if list.isEmpty, o["promptFeedback"]?["blockReason"] != nil {
            finishCandidate(0, reason: .contentFilter, into: &out)
            return
        }
        for (position, c) in list.enumerated() {
            let index = c["index"]?.intValue ?? position
            var state = candidates[index] ?? Candidate()
            candidates[index] = state
            guard !state.finished else { continue }
            for part in c["content"]?["parts"]?.arrayValue ?? [] {
                if let text = GeminiResponseDecoder.visibleText(part) {
                    out.append(.choices([ChoiceDelta(index: index, role: !state.roleSent, content: text)], raw: nil))
                    state.roleSent = true
                } else if let call = GeminiResponseDecoder.toolCall(
                    part, seed: seed, candidate: index, call: state.nextTool)
                {
                    let tool = ToolCallDelta(
                        index: state.nextTool, id: call.id, name: call.name, arguments: call.arguments)
                    out.append(
                        .choices(
                            [
                                ChoiceDelta(
                                    index: index, role: !state.roleSent, contentNull: !state.roleSent, toolCalls: [tool]
                                )
                            ],
                            raw: nil))
                    state.roleSent = true
                    state.nextTool += 1
                    state.sawCall = true
                }
            }
            candidates[index] = state
            if let reason = c["finishReason"]?.stringValue {
                finishCandidate(
                    index, reason: GeminiResponseDecoder.finishReason(reason, sawCall: state.sawCall), into: &out)
            }
        }
    }

    /// Emits the finish delta, preceded by a role delta when the candidate produced nothing.
    private mutating func finishCandidate(_ index: Int, reason: FinishReason, into out: inout [StreamEvent]) {
        var state = candidates[index] ?? Candidate()
        guard !state.finished else { return }
        if !state.roleSent {
            let filtered = reason == .contentFilter
            out.append(
                .choices(
                    [ChoiceDelta(index: index, role: true, content: filtered ? nil : "", contentNull: filtered)],
                    raw: nil))
            state.roleSent = true
        }
        out.append(.choices([ChoiceDelta(index: index, finishReason: reason)], raw: nil))
        state.finished = true
        candidates[index] = state
    }
}
