import Synchronization

/// A fragment of a streamed tool call (docs/chat-completions.md §7 rule 3): the first fragment for an
/// `index` carries `id` and `name`, later ones only `arguments` pieces to append.
public struct ToolCallDelta: Sendable, Equatable {
    public var index: Int
    public var id: String?
    public var name: String?
    public var arguments: String?

    public init(index: Int, id: String? = nil, name: String? = nil, arguments: String? = nil) {
        self.index = index
        self.id = id
        self.name = name
        self.arguments = arguments
    }
}

/// One choice's delta within a `chat.completion.chunk`.
public struct ChoiceDelta: Sendable, Equatable {
    public var index: Int
    /// Emit `"role": "assistant"` (first delta of a choice).
    public var role: Bool
    /// Text fragment. With `role` set and no text yet, the codec decides between `""` and `null`.
    public var content: String?
    /// Emit `"content": null` explicitly (first delta of a tool-call-only answer).
    public var contentNull: Bool
    public var toolCalls: [ToolCallDelta]
    public var refusal: String?
    public var finishReason: FinishReason?
    public var logprobs: JSON?

    public init(
        index: Int = 0, role: Bool = false, content: String? = nil, contentNull: Bool = false,
        toolCalls: [ToolCallDelta] = [], refusal: String? = nil, finishReason: FinishReason? = nil,
        logprobs: JSON? = nil
    ) {
        self.index = index
        self.role = role
        self.content = content
        self.contentNull = contentNull
        self.toolCalls = toolCalls
        self.refusal = refusal
        self.finishReason = finishReason
        self.logprobs = logprobs
    }

    /// The OpenAI chunk choice object `{index, delta, logprobs, finish_reason}`.
    public var json: JSON {
        var d = JSONObject()
        if role { d.appendUnique("role", "assistant") }
        if let c = content {
            d.appendUnique("content", .string(c))
        } else if contentNull {
            d.appendUnique("content", .null)
        }
        if !toolCalls.isEmpty {
            d.appendUnique(
                "tool_calls",
                .array(
                    toolCalls.map { t in
                        var o: JSONObject = ["index": .int(t.index)]
                        if let id = t.id {
                            o["id"] = .string(id)
                            o["type"] = "function"
                        }
                        var f = JSONObject()
                        if let n = t.name { f["name"] = .string(n) }
                        if let a = t.arguments { f["arguments"] = .string(a) }
                        o["function"] = .object(f)
                        return .object(o)
                    }))
        }
        if let r = refusal { d.appendUnique("refusal", .string(r)) }
        return .object([
            "index": .int(index), "delta": .object(d), "logprobs": logprobs ?? .null,
            "finish_reason": finishReason.map { .string($0.rawValue) } ?? .null,
        ])
    }
}

/// What a provider stream decoder yields, in order.
public enum StreamEvent: Sendable, Equatable {
    /// Deltas of one chunk. `raw` is set by the OpenAI passthrough: the upstream chunk to forward as is.
    case choices([ChoiceDelta], raw: RawChunk?)
    /// Final token usage. `raw` as above.
    case usage(Usage, raw: RawChunk?)
    /// The upstream reported an error inside the stream (Anthropic `error` event, Gemini `error`,
    /// an OpenAI chunk with a top-level `error`).
    case error(ProviderError)
    /// The upstream's explicit end marker (`[DONE]`, `message_stop`).
    case done
}

/// An upstream stream event forwarded as it came: its JSON text, or the object it holds. A
/// passthrough chunk arrives as bytes and leaves as the same bytes (`SSE.data`); its members are
/// parsed only if read (the first chunk's envelope, an idempotency record's assembly), and then
/// each time they are read: nothing else asks. Equal when both hold the same JSON value.
///
/// Text is held as it is, without a box: a forwarded chunk costs no allocation of its own and
/// no lock when its bytes are read (a box and its lock per event were 6 of a short streamed
/// answer's 158 allocations); it may be a slice of the upstream read it came in. A chunk made
/// from an object keeps it in a box that serialises it once, if ever asked for its bytes.
public struct RawChunk: Sendable, Equatable, ExpressibleByDictionaryLiteral {
    private enum Form: Sendable {
        case text(ArraySlice<UInt8>)
        case object(RawChunkBox)
    }

    private let form: Form

    /// An event's JSON text, trusted to be an object (the decoder checked it).
    public init(bytes: [UInt8]) { form = .text(bytes[...]) }
    public init(bytes: ArraySlice<UInt8>) { form = .text(bytes) }
    public init(_ object: JSONObject) { form = .object(RawChunkBox(object)) }
    public init(dictionaryLiteral elements: (String, JSON)...) { self.init(JSONObject(elements)) }

    /// The JSON text (serialised from the object once, if it was made from one).
    public var bytes: ArraySlice<UInt8> {
        switch form {
        case .text(let bytes): bytes
        case .object(let box): box.bytes[...]
        }
    }

    /// `bytes.count`, read in place when the chunk is text (an encoder sizes its buffer with it).
    public var count: Int {
        switch form {
        case .text(let bytes): bytes.count
        case .object(let box): box.bytes.count
        }
    }

    /// The object (parsed from the text, if it was made from bytes; `{}` if they are not one).
    public var object: JSONObject {
        switch form {
        case .text(let bytes): (try? JSON.parse(bytes))?.objectValue ?? JSONObject()
        case .object(let box): box.object
        }
    }

    public subscript(key: String) -> JSON? { object[key] }

    /// `self[key]` for each of `keys`, read from the text when the chunk is text: only those
    /// members' values are parsed (a chunk's whole tree was most of the cost of reading its
    /// envelope).
    public func values(_ keys: [StaticString]) -> [JSON?] {
        switch form {
        case .text(let bytes): RawChunkBox.values(keys, in: bytes)
        case .object(let box): keys.map { box.object["\($0)"] }
        }
    }

    public static func == (lhs: RawChunk, rhs: RawChunk) -> Bool {
        switch (lhs.form, rhs.form) {
        case (.object(let a), .object(let b)) where a === b: return true
        case (.text(let a), .text(let b)) where a == b: return true
        default: return lhs.object == rhs.object
        }
    }
}

/// A chunk made from an object: the object, and its text serialised once when first asked for.
final class RawChunkBox: Sendable {
    let object: JSONObject
    private let text = Mutex<[UInt8]?>(nil)

    init(_ object: JSONObject) { self.object = object }

    var bytes: [UInt8] {
        text.withLock { text in
            if let b = text { return b }
            let b = object.serialized()
            text = b
            return b
        }
    }

    static func values(_ keys: [StaticString], in bytes: ArraySlice<UInt8>) -> [JSON?] {
        bytes.withUnsafeBufferPointer { b in
            var found = [Range<Int>?](repeating: nil, count: keys.count)
            // Not an object, or not JSON: `object` would be `{}`, which has none of them.
            let isObject =
                (try? JSON.forEachMember(of: b) { m in
                    for (i, key) in keys.enumerated() where m.named(key, in: b) { found[i] = m.value }
                }) ?? false
            guard isObject else { return keys.map { _ in nil } }
            return found.map { range in range.flatMap { try? JSON.parse(UnsafeBufferPointer(rebasing: b[$0])) } }
        }
    }
}

/// Writes `chat.completion.chunk` SSE events with one envelope (`id`, `created`, `model`)
/// shared by every chunk of a response (docs/translation.md §7).
public struct ChunkEncoder: Sendable {
    public var id: String
    public var created: Int
    public var model: String

    public init(id: String, created: Int, model: String) {
        self.id = id
        self.created = created
        self.model = model
    }

    /// `data: {chunk}\n\n` for one or more choice deltas.
    public func encode(_ deltas: [ChoiceDelta]) -> [UInt8] {
        encode(choices: .array(deltas.map(\.json)), usage: nil)
    }

    /// `data: {"choices": [], "usage": …}\n\n`, the usage chunk sent before `[DONE]`.
    public func encodeUsage(_ usage: Usage) -> [UInt8] {
        encode(choices: .array([]), usage: usage.json)
    }

    func encode(choices: JSON, usage: JSON?) -> [UInt8] {
        var o = JSONObject()
        o.appendUnique("id", .string(id))
        o.appendUnique("object", "chat.completion.chunk")
        o.appendUnique("created", .int(created))
        o.appendUnique("model", .string(model))
        o.appendUnique("choices", choices)
        if let usage { o.appendUnique("usage", usage) }
        return SSE.data(o)
    }
}

/// Server-sent-event framing helpers for what Switchyard writes to clients.
public enum SSE {
    public static let done: [UInt8] = Array("data: [DONE]\n\n".utf8)

    public static func data(_ object: JSONObject) -> [UInt8] {
        var out: [UInt8] = Array("data: ".utf8)
        out.reserveCapacity(256)
        object.write(to: &out)
        out.append(contentsOf: [0x0A, 0x0A])
        return out
    }

    /// A named event, `event: <type>\ndata: <json>\n\n` (the Responses and Messages APIs' framing).
    public static func event(_ type: String, _ object: JSONObject) -> [UInt8] {
        var out: [UInt8] = Array("event: ".utf8)
        out.reserveCapacity(type.utf8.count + 256)
        out += type.utf8
        out += "\ndata: ".utf8
        object.write(to: &out)
        out += [0x0A, 0x0A]
        return out
    }

    /// `data: <chunk>\n\n` for a forwarded chunk: its own bytes, not a re-serialisation.
    public static func data(_ chunk: RawChunk) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(chunk.bytes.count + 8)
        append(chunk, to: &out)
        return out
    }

    /// Appends `data: <chunk>\n\n` to `out` (which grows as an array does: reserve room for a
    /// batch of chunks before appending them one by one, or each append reallocates).
    public static func append(_ chunk: RawChunk, to out: inout [UInt8]) {
        let bytes = chunk.bytes
        out.append(contentsOf: "data: ".utf8)
        out.append(contentsOf: bytes)
        out.append(contentsOf: [0x0A, 0x0A])
    }

    /// The in-band error event of docs/translation.md §9.3 (no `[DONE]` follows it).
    public static func error(_ error: APIError) -> [UInt8] {
        guard case .object(let o) = error.envelope else { return [] }
        return data(o)
    }
}
