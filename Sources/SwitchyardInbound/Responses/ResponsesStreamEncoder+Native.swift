import SwitchyardCore

extension ResponsesStreamEncoder {
    /// Forwards an event an OpenAI target sent natively, unchanged, and follows it: the highest
    /// sequence number, the upstream's response envelope, each output item, the open message's
    /// text, so that events written later (after a mid-stream continuation) carry on from there.
    mutating func forward(_ raw: JSONObject, into out: inout [UInt8]) {
        let type = raw["type"]?.stringValue ?? ""
        if let n = raw["sequence_number"]?.intValue { sequence = max(sequence, n + 1) }
        switch type {
        case "response.created", "response.in_progress":
            if let r = raw["response"]?.objectValue { upstreamResponse = r }
        case "response.output_item.added":
            if let item = raw["item"] {
                let kind: Item.Kind =
                    switch item["type"]?.stringValue {
                    case "message": .message
                    case "function_call": .functionCall
                    default: .other
                    }
                var entry = Item(
                    kind: kind, id: item["id"]?.stringValue ?? "",
                    outputIndex: raw["output_index"]?.intValue ?? items.count)
                entry.callID = item["call_id"]?.stringValue ?? ""
                entry.name = item["name"]?.stringValue ?? ""
                items.append(entry)
                state.open = items.count - 1
            }
        case "response.content_part.added":
            if let i = state.open, items[i].kind == .message {
                if raw["part"]?["type"]?.stringValue == "refusal" {
                    items[i].refusal = ""
                } else {
                    items[i].text = ""
                }
            }
        case "response.output_text.delta":
            if let i = state.open { items[i].text = (items[i].text ?? "") + (raw["delta"]?.stringValue ?? "") }
        case "response.refusal.delta":
            if let i = state.open { items[i].refusal = (items[i].refusal ?? "") + (raw["delta"]?.stringValue ?? "") }
        case "response.content_part.done":
            if let i = state.open, let part = raw["part"] {
                items[i].parts.append(part)
                items[i].text = nil
                items[i].refusal = nil
            }
        case "response.function_call_arguments.delta":
            if let i = state.open { items[i].arguments += raw["delta"]?.stringValue ?? "" }
        case "response.output_item.done":
            let index = raw["output_index"]?.intValue
            if let i = items.firstIndex(where: { $0.outputIndex == index }) {
                items[i].final = raw["item"]
                if state.open == i { state.open = nil }
            }
        case "response.completed", "response.incomplete":
            completed = raw["response"]?.objectValue
        default:
            break
        }
        out += SSE.event(type, raw)
    }
}
