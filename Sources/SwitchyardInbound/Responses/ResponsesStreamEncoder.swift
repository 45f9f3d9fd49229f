public import SwitchyardCore

/// Writes a routed stream as the Responses API's typed server-sent events, each
/// `event: <type>` + `data: {…,"sequence_number":n}`, in the order the SDK's stream helper
/// (`responses.stream()`) accumulates: `response.created`, `response.in_progress`, then per
/// output item `response.output_item.added`, for a message `response.content_part.added`,
/// `response.output_text.delta`…, `response.output_text.done`, `response.content_part.done`, for a
/// function call `response.function_call_arguments.delta`…, `.done`; `response.output_item.done`;
/// finally `response.completed` (or `response.incomplete`) with the whole response.
///
/// Two sources, one state: events an OpenAI target sent natively arrive with `raw` and are
/// forwarded unchanged, while the encoder follows them (sequence numbers, the response envelope,
/// the open message and its text); events without `raw` (a translating target, or the rest of a
/// native stream finished by another target after a mid-stream failure) are written from the
/// unified deltas, continuing the same numbering, items and envelope.
///
/// Pure: events in, bytes out; `finalBody` is the completed `response` object.
public struct ResponsesStreamEncoder: SplicingStreamEncoder {
    struct Item: Sendable {
        enum Kind: Sendable { case message, functionCall, other }
        var kind: Kind
        var id: String
        var outputIndex: Int
        /// Message: closed parts, then the open text or refusal part.
        var parts: [JSON] = []
        var text: String?
        var refusal: String?
        var callID = ""
        var name = ""
        var arguments = ""
        /// The item as its `output_item.done` gave it (forwarded items) or as built at closing.
        var final: JSON?
    }

    var sequence = 0
    /// The `response` object of the upstream's `response.created` (native streams).
    var upstreamResponse: JSONObject?
    var items: [Item] = []
    var completed: JSONObject?
    var ended: Bool { completed != nil }

    var state: SplicingState

    public init(context: AnswerContext) {
        self.state = SplicingState(context: context)
    }

    public var finalBody: [UInt8]? {
        guard state.failure == nil, let completed else { return nil }
        return JSON.object(completed).serialized()
    }

    public mutating func fail(_ error: APIError) -> [UInt8] {
        var out: [UInt8] = []
        if !state.started { start(into: &out) }
        var response = envelope(status: "failed", error: error)
        response["output"] = .array(items.map { $0.final ?? itemJSON($0, status: "incomplete") })
        emit("response.failed", ["response": .object(response)], into: &out)
        return out
    }

    // MARK: Written events

    mutating func start(into out: inout [UInt8]) {
        state.started = true
        let response = envelope(status: "in_progress")
        emit("response.created", ["response": .object(response)], into: &out)
        emit("response.in_progress", ["response": .object(response)], into: &out)
    }

    mutating func appendText(_ text: String, refusal: Bool, into out: inout [UInt8]) {
        let i = openMessage(into: &out)
        let wanted = refusal ? items[i].refusal : items[i].text
        if wanted == nil {
            closePart(i, into: &out)
            if refusal { items[i].refusal = "" } else { items[i].text = "" }
            emit(
                "response.content_part.added",
                [
                    "item_id": .string(items[i].id), "output_index": .int(items[i].outputIndex),
                    "content_index": .int(items[i].parts.count),
                    "part": refusal ? ResponsesOutput.refusal("") : ResponsesOutput.outputText(""),
                ], into: &out)
        }
        var fields: JSONObject = [
            "item_id": .string(items[i].id), "output_index": .int(items[i].outputIndex),
            "content_index": .int(items[i].parts.count), "delta": .string(text),
        ]
        if refusal {
            items[i].refusal = (items[i].refusal ?? "") + text
            emit("response.refusal.delta", fields, into: &out)
        } else {
            items[i].text = (items[i].text ?? "") + text
            fields["logprobs"] = []
            emit("response.output_text.delta", fields, into: &out)
        }
    }

    /// The open message item, opening one (and closing a function call) when needed.
    mutating func openMessage(into out: inout [UInt8]) -> Int {
        if let i = state.open, items[i].kind == .message { return i }
        closeOpen(into: &out)
        return openItem(.message, prefix: "msg", into: &out) { _ in }
    }

    mutating func openCall(_ call: ToolCallDelta, into out: inout [UInt8]) -> Int {
        openItem(.functionCall, prefix: "fc", into: &out) { item in
            item.callID = call.id ?? "call_\(item.outputIndex)"
            item.name = call.name ?? ""
        }
    }

    /// Adds an item at the next output index as the open one, announces it, and returns its index
    /// in `items`.
    mutating func openItem(
        _ kind: Item.Kind, prefix: String, into out: inout [UInt8], _ fill: (inout Item) -> Void
    ) -> Int {
        let index = nextOutputIndex
        var item = Item(
            kind: kind, id: ResponsesOutput.itemID(prefix, responseID: responseID, outputIndex: index),
            outputIndex: index)
        fill(&item)
        items.append(item)
        state.open = items.count - 1
        emit(
            "response.output_item.added",
            ["output_index": .int(index), "item": itemJSON(item, status: "in_progress")], into: &out)
        return items.count - 1
    }

    mutating func appendArguments(_ args: String, to i: Int, into out: inout [UInt8]) {
        items[i].arguments += args
        emit(
            "response.function_call_arguments.delta",
            ["item_id": .string(items[i].id), "output_index": .int(items[i].outputIndex), "delta": .string(args)],
            into: &out)
    }

    /// Closes the open text or refusal part of message `i`.
    mutating func closePart(_ i: Int, into out: inout [UInt8]) {
        let base: JSONObject = [
            "item_id": .string(items[i].id), "output_index": .int(items[i].outputIndex),
            "content_index": .int(items[i].parts.count),
        ]
        var part: JSON?
        if let text = items[i].text {
            var fields = base
            fields["text"] = .string(text)
            fields["logprobs"] = []
            emit("response.output_text.done", fields, into: &out)
            part = ResponsesOutput.outputText(text)
        } else if let refusal = items[i].refusal {
            var fields = base
            fields["refusal"] = .string(refusal)
            emit("response.refusal.done", fields, into: &out)
            part = ResponsesOutput.refusal(refusal)
        }
        guard let part else { return }
        var fields = base
        fields["part"] = part
        emit("response.content_part.done", fields, into: &out)
        items[i].parts.append(part)
        items[i].text = nil
        items[i].refusal = nil
    }

    mutating func close(_ i: Int, into out: inout [UInt8]) {
        switch items[i].kind {
        case .message:
            closePart(i, into: &out)
        case .functionCall:
            emit(
                "response.function_call_arguments.done",
                [
                    "item_id": .string(items[i].id), "output_index": .int(items[i].outputIndex),
                    "arguments": .string(items[i].arguments),
                ], into: &out)
        case .other:
            return
        }
        let item = itemJSON(items[i], status: "completed")
        items[i].final = item
        emit("response.output_item.done", ["output_index": .int(items[i].outputIndex), "item": item], into: &out)
    }

    mutating func complete(into out: inout [UInt8]) {
        closeOpen(into: &out)
        let (status, reason) = ResponsesOutput.status(state.finish)
        var response = envelope(status: status, incompleteReason: reason)
        response["output"] = .array(items.map { $0.final ?? itemJSON($0, status: "completed") })
        response["usage"] = state.usage.map(ResponsesOutput.usage) ?? .null
        completed = response
        emit(
            status == "completed" ? "response.completed" : "response.incomplete", ["response": .object(response)],
            into: &out)
    }

    // MARK: Helpers

    var responseID: String { upstreamResponse?["id"]?.stringValue ?? state.context.id }

    var nextOutputIndex: Int { (items.map(\.outputIndex).max() ?? -1) + 1 }

    /// The response object for a lifecycle event: the upstream's own envelope on a native stream
    /// (a continuation keeps its id), else the gateway's; `model` names the answering target.
    func envelope(status: String, incompleteReason: String? = nil, error: APIError? = nil) -> JSONObject {
        var r =
            upstreamResponse
            ?? ResponsesOutput.object(
                context: state.context, model: state.model, status: status, output: [], usage: nil)
        r["status"] = .string(status)
        r["model"] = .string(state.model)
        r["incomplete_details"] = incompleteReason.map { ["reason": .string($0)] } ?? .null
        if status != "completed" { r["completed_at"] = .null }
        if let error {
            r["error"] = [
                "code": .string(ResponsesOutput.streamErrorCode(error)), "message": .string(error.message),
            ]
        }
        return r
    }

    func itemJSON(_ item: Item, status: String) -> JSON {
        switch item.kind {
        case .message:
            var parts = item.parts
            if let t = item.text { parts.append(ResponsesOutput.outputText(t)) }
            if let r = item.refusal { parts.append(ResponsesOutput.refusal(r)) }
            return ResponsesOutput.message(id: item.id, status: status, content: parts)
        case .functionCall:
            return ResponsesOutput.functionCall(
                id: item.id, status: status, callID: item.callID, name: item.name, arguments: item.arguments)
        case .other:
            return item.final ?? ["id": .string(item.id)]
        }
    }

    /// One event with the next sequence number.
    mutating func emit(_ type: String, _ fields: JSONObject, into out: inout [UInt8]) {
        out += Self.event(type, fields, sequence: sequence)
        sequence += 1
    }

    /// The event `type`: `{"type": type, …fields, "sequence_number": sequence}`, framed.
    static func event(_ type: String, _ fields: JSONObject, sequence: Int) -> [UInt8] {
        var o = typed(type, fields)
        o.appendUnique("sequence_number", .int(sequence))
        return SSE.event(type, o)
    }
}
