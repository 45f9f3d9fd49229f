public import SwitchyardCore

/// A stored `response` object re-emitted as the event sequence a live stream of it would have
/// had (an idempotent replay of a streamed request): created, in progress, each output item
/// added, its parts and text or arguments in one delta each, done, then completed.
public enum ResponsesReplay {
    public static func events(_ response: JSONObject) -> [UInt8] {
        var out: [UInt8] = []
        var sequence = 0
        func emit(_ type: String, _ fields: JSONObject) {
            out += ResponsesStreamEncoder.event(type, fields, sequence: sequence)
            sequence += 1
        }
        var start = response
        start["status"] = "in_progress"
        start["output"] = []
        start["usage"] = .null
        start["completed_at"] = .null
        emit("response.created", ["response": .object(start)])
        emit("response.in_progress", ["response": .object(start)])
        for (index, item) in (response["output"]?.arrayValue ?? []).enumerated() {
            let id = item["id"] ?? .null
            var added = item
            switch item["type"]?.stringValue {
            case "message":
                added["content"] = []
                added["status"] = "in_progress"
                emit("response.output_item.added", ["output_index": .int(index), "item": added])
                for (k, part) in (item["content"]?.arrayValue ?? []).enumerated() {
                    let at: JSONObject = ["item_id": id, "output_index": .int(index), "content_index": .int(k)]
                    var fields = at
                    if let refusal = part["refusal"]?.stringValue {
                        fields["part"] = ResponsesOutput.refusal("")
                        emit("response.content_part.added", fields)
                        fields = at
                        fields["delta"] = .string(refusal)
                        emit("response.refusal.delta", fields)
                        fields = at
                        fields["refusal"] = .string(refusal)
                        emit("response.refusal.done", fields)
                    } else {
                        let text = part["text"]?.stringValue ?? ""
                        fields["part"] = ResponsesOutput.outputText("")
                        emit("response.content_part.added", fields)
                        fields = at
                        fields["delta"] = .string(text)
                        fields["logprobs"] = []
                        emit("response.output_text.delta", fields)
                        fields = at
                        fields["text"] = .string(text)
                        fields["logprobs"] = []
                        emit("response.output_text.done", fields)
                    }
                    fields = at
                    fields["part"] = part
                    emit("response.content_part.done", fields)
                }
            case "function_call":
                added["arguments"] = ""
                added["status"] = "in_progress"
                emit("response.output_item.added", ["output_index": .int(index), "item": added])
                let arguments = item["arguments"] ?? ""
                emit(
                    "response.function_call_arguments.delta",
                    ["item_id": id, "output_index": .int(index), "delta": arguments])
                emit(
                    "response.function_call_arguments.done",
                    ["item_id": id, "output_index": .int(index), "arguments": arguments])
            default:
                emit("response.output_item.added", ["output_index": .int(index), "item": item])
            }
            emit("response.output_item.done", ["output_index": .int(index), "item": item])
        }
        let final = response["status"]?.stringValue == "incomplete" ? "response.incomplete" : "response.completed"
        emit(final, ["response": .object(response)])
        return out
    }
}
