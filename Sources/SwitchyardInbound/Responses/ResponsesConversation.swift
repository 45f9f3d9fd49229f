public import SwitchyardCore

/// Stored conversations (`store: true`, `previous_response_id`): what the gateway keeps of a turn
/// and how a stored history is folded into the next request, whichever target serves it.
///
/// A turn is stored as its own input items (normalised: a string input is a user message, every
/// item has an `id` and a `status`, as `GET /v1/responses/{id}/input_items` lists them) and its
/// response object; the history of a response is, oldest turn first, each turn's input items
/// followed by its output items. `instructions` are not part of it: as with OpenAI, each request
/// brings its own.
public enum ResponsesConversation {
    /// This turn's input items in stored form, ids derived from the response id.
    public static func storedInput(of request: ChatRequest, responseID: String) -> [JSON] {
        let items = (try? ResponsesItems.items(ofInput: request.raw["input"])) ?? []
        let base = responseID.hasPrefix("resp_") ? String(responseID.dropFirst(5)) : responseID
        return items.enumerated().map { i, item in normalised(item, id: "in_\(base)_\(i)") }
    }

    static func normalised(_ item: JSON, id: String) -> JSON {
        guard case .object(var o) = item else { return item }
        let type = o["type"]?.stringValue ?? (o["role"] != nil ? "message" : "")
        if type == "message" {
            let assistant = o["role"]?.stringValue == "assistant"
            if case .string(let text)? = o["content"] {
                o["content"] = [
                    assistant ? ResponsesOutput.outputText(text) : ["type": "input_text", "text": .string(text)]
                ]
            }
        }
        var out = JSONObject()
        out.appendUnique("id", o["id"] ?? .string((type == "message" ? "msg_" : "item_") + id))
        out.appendUnique("type", .string(type))
        for e in o where e.key != "id" && e.key != "type" { out.appendUnique(e.key, e.value) }
        if out["status"] == nil, ["message", "function_call", "function_call_output"].contains(type) {
            out["status"] = "completed"
        }
        return .object(out)
    }

    /// The request with a stored history in front of its own input: the typed messages for a
    /// translating target (history items a target cannot take are left out), and the body for a
    /// native one (`input` = history + this input, `previous_response_id` removed, so the
    /// conversation never depends on the upstream having kept anything).
    public static func expand(_ request: ChatRequest, history: [JSON]) throws(APIError) -> ChatRequest {
        var r = request
        let own = try ResponsesItems.items(ofInput: request.raw["input"])
        var past = ResponsesItems(lenient: true)
        try past.add(history, path: "previous_response_id")
        var current = ResponsesItems()
        try current.add(own, path: "input")
        var messages: [ChatMessage] = []
        if let instructions = request.raw["instructions"]?.stringValue {
            messages.append(ChatMessage(role: .system, content: .text(instructions)))
        }
        r.messages = messages + past.messages + current.messages
        r.raw["input"] = .array(history.map(upstreamCopy) + own)
        r.raw["previous_response_id"] = nil
        return r
    }

    /// A stored item as input for an OpenAI target: ids and statuses (the gateway's, or another
    /// upstream's) are left out, and an assistant message becomes the plain `{role, content}`
    /// form, which the Responses API takes without an item id. Other items go as stored.
    static func upstreamCopy(_ item: JSON) -> JSON {
        guard case .object(let o) = item else { return item }
        switch o["type"]?.stringValue {
        case "message" where o["role"]?.stringValue == "assistant":
            let text = (o["content"]?.arrayValue ?? []).compactMap { $0["text"]?.stringValue }.joined()
            return ["role": "assistant", "content": .string(text)]
        case "message"?, "function_call"?, "function_call_output"?:
            var copy = o
            copy["id"] = nil
            copy["status"] = nil
            return .object(copy)
        default:
            return item
        }
    }

    /// The output items of a stored response object.
    public static func output(of response: JSONObject) -> [JSON] { response["output"]?.arrayValue ?? [] }
}
