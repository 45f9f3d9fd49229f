import SwitchyardCore

/// `{{steps.<id>.output}}` references in a step's messages: found at creation (to reject unknown
/// and forward references) and substituted with earlier steps' assistant text at run time.
///
/// Only message `content` strings and the `text` of `text` content parts are templated; the
/// reference must be written exactly (no spaces inside the braces). Anything else that starts with
/// `{{steps.` is a malformed reference and is rejected, so a typo cannot reach the model verbatim.
enum TaskTemplate {
    static let open = Array("{{steps.".utf8)
    static let suffix = Array(".output}}".utf8)

    /// A reference found in a message, with the JSON path of the string it sits in.
    struct Reference: Equatable {
        /// The referenced step id, or `nil` for a malformed `{{steps.…` token.
        var stepID: String?
        /// `messages[0].content` or `messages[1].content[2].text`.
        var path: String
    }

    /// Every reference (or malformed token) in the templated strings of `request`.
    static func references(in request: JSON) -> [Reference] {
        var found: [Reference] = []
        forEachTemplatedString(in: request) { text, path in
            for id in stepIDs(in: text) { found.append(Reference(stepID: id, path: path)) }
        }
        return found
    }

    /// `request` with every `{{steps.<id>.output}}` replaced by `outputs[id]` (unknown ids are left
    /// as written; creation already rejected them).
    static func substitute(_ request: JSON, outputs: [String: String]) -> JSON {
        guard case .object(var body) = request, case .array(var messages)? = body["messages"] else { return request }
        for i in messages.indices {
            guard case .object(var message) = messages[i] else { continue }
            switch message["content"] {
            case .string(let text)?:
                message["content"] = .string(replace(text, outputs))
            case .array(var parts)?:
                for j in parts.indices {
                    guard case .object(var part) = parts[j], part["type"] == "text", case .string(let t)? = part["text"]
                    else { continue }
                    part["text"] = .string(replace(t, outputs))
                    parts[j] = .object(part)
                }
                message["content"] = .array(parts)
            default:
                continue
            }
            messages[i] = .object(message)
        }
        body["messages"] = .array(messages)
        return .object(body)
    }

    static func forEachTemplatedString(in request: JSON, _ body: (String, String) -> Void) {
        guard case .array(let messages)? = request["messages"] else { return }
        for (i, message) in messages.enumerated() {
            switch message["content"] {
            case .string(let text)?:
                body(text, "messages[\(i)].content")
            case .array(let parts)?:
                for (j, part) in parts.enumerated() where part["type"] == "text" {
                    if case .string(let t)? = part["text"] { body(t, "messages[\(i)].content[\(j)].text") }
                }
            default:
                continue
            }
        }
    }

    /// The ids referenced in `text`, in order; `nil` entries for malformed tokens.
    static func stepIDs(in text: String) -> [String?] {
        let bytes = Array(text.utf8)
        var ids: [String?] = []
        var i = 0
        while let start = find(open, in: bytes, from: i) {
            let idStart = start + open.count
            var j = idStart
            while j < bytes.count, isIDByte(bytes[j]) { j += 1 }
            if j > idStart, bytes[j...].starts(with: suffix) {
                ids.append(String(decoding: bytes[idStart..<j], as: UTF8.self))
                i = j + suffix.count
            } else {
                ids.append(nil)
                i = idStart
            }
        }
        return ids
    }

    static func replace(_ text: String, _ outputs: [String: String]) -> String {
        let bytes = Array(text.utf8)
        guard find(open, in: bytes, from: 0) != nil else { return text }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while let start = find(open, in: bytes, from: i) {
            out += bytes[i..<start]
            let idStart = start + open.count
            var j = idStart
            while j < bytes.count, isIDByte(bytes[j]) { j += 1 }
            if j > idStart, bytes[j...].starts(with: suffix),
                let value = outputs[String(decoding: bytes[idStart..<j], as: UTF8.self)]
            {
                out += Array(value.utf8)
                i = j + suffix.count
            } else {
                out += open
                i = idStart
            }
        }
        out += bytes[i...]
        return String(decoding: out, as: UTF8.self)
    }

    /// Step ids are 1–64 of `A-Z a-z 0-9 _ -` (they appear in references, logs and request ids).
    static func isValidStepID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 64 && id.utf8.allSatisfy(isIDByte)
    }

    static func isIDByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F || b == 0x2D
    }

    static func find(_ needle: [UInt8], in hay: [UInt8], from: Int) -> Int? {
        guard needle.count <= hay.count, from <= hay.count - needle.count else { return nil }
        var i = from
        while i <= hay.count - needle.count {
            if hay[i] == needle[0], hay[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }
}
