import SwitchyardCore

extension MessagesStreamEncoder {
    /// Forwards an event an Anthropic target sent natively, unchanged, and follows it: the message
    /// envelope, every block by its index (kind, and for `finalBody` its text, thinking, tool input
    /// and citations), the open block, the stop reason and usage, so that events written later
    /// (after a mid-stream continuation) carry on from there.
    mutating func forward(_ raw: JSONObject, into out: inout [UInt8]) {
        let type = raw["type"]?.stringValue ?? ""
        switch type {
        case "message_start":
            envelope = raw["message"]?.objectValue
        case "content_block_start":
            let start = raw["content_block"]?.objectValue ?? JSONObject()
            let kind: Block.Kind =
                switch start["type"]?.stringValue {
                case "text": .text
                case "tool_use": .toolUse
                default: .other
                }
            let index = raw["index"]?.intValue ?? blocks.count
            // Indexes arrive in order; a gap (a block this encoder never saw) is filled so that
            // later indexes still name positions.
            while blocks.count < index { blocks.append(Block(kind: .other, start: ["type": "text", "text": ""])) }
            if index < blocks.count {
                blocks[index] = Block(kind: kind, start: start)
            } else {
                blocks.append(Block(kind: kind, start: start))
            }
            state.open = index
        case "content_block_delta":
            guard let i = raw["index"]?.intValue, blocks.indices.contains(i), let delta = raw["delta"] else { break }
            guard state.context.keepsFinalAnswer else { break }
            switch delta["type"]?.stringValue {
            case "text_delta": blocks[i].text += delta["text"]?.stringValue ?? ""
            case "thinking_delta": blocks[i].text += delta["thinking"]?.stringValue ?? ""
            case "signature_delta": blocks[i].signature = delta["signature"]?.stringValue
            case "input_json_delta": blocks[i].partialJSON += delta["partial_json"]?.stringValue ?? ""
            case "citations_delta": if let c = delta["citation"] { blocks[i].citations.append(c) }
            default: break
            }
        case "content_block_stop":
            if raw["index"]?.intValue == state.open { state.open = nil }
        case "message_delta":
            deltaSent = true
            nativeStop = raw["delta"]
            for e in raw["usage"]?.objectValue ?? JSONObject() { nativeUsage[e.key] = e.value }
        case "message_stop":
            stopped = true
        default:
            break
        }
        out += SSE.event(type, raw)
    }
}
