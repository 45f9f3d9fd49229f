/// Why a JSON text could not be parsed: the byte offset and a short reason, never the input.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public var offset: Int
    public var reason: String
    public var description: String { "\(reason) at byte \(offset)" }
}

extension JSON {
    /// Nesting deeper than this is rejected so hostile input cannot exhaust the stack.
    public static let maximumDepth = 128

    /// Parses RFC 8259 JSON from UTF-8 bytes. Rejects trailing garbage, invalid escapes,
    /// lone surrogates, control characters in strings and nesting past `maximumDepth`.
    ///
    /// Contiguous input (an array, a slice, a buffer: every caller's) is read in place; only other
    /// collections are copied first.
    public static func parse(_ bytes: some Collection<UInt8>) throws(JSONParseError) -> JSON {
        let result =
            bytes.withContiguousStorageIfAvailable(parse(buffer:))
            ?? Array(bytes).withUnsafeBufferPointer(parse(buffer:))
        return try result.get()
    }

    private static func parse(buffer: UnsafeBufferPointer<UInt8>) -> Result<JSON, JSONParseError> {
        var layout: RequestBodyLayout? = nil
        return parse(buffer: buffer, layout: &layout)
    }

    /// Parses as `parse` does and notes where the top-level object's `model` and
    /// `stream_options` values lie (`RequestBodyLayout`); `layout` stays nil when the text is not
    /// an object.
    public static func parse(
        _ bytes: [UInt8], layout: inout RequestBodyLayout?
    ) throws(JSONParseError) -> JSON {
        try bytes.withUnsafeBufferPointer { parse(buffer: $0, layout: &layout) }.get()
    }

    private static func parse(
        buffer: UnsafeBufferPointer<UInt8>, layout: inout RequestBodyLayout?
    ) -> Result<JSON, JSONParseError> {
        var parser = JSONParser(buffer)
        parser.notesLayout = layout == nil ? false : true
        do throws(JSONParseError) {
            parser.skipWhitespace()
            let value = try parser.parseValue(depth: 0)
            parser.skipWhitespace()
            if parser.index != buffer.count { throw parser.error("unexpected trailing characters") }
            if case .object = value { layout = parser.layout } else { layout = nil }
            return .success(value)
        } catch {
            layout = nil
            return .failure(error)
        }
    }

    public static func parse(_ text: String) throws(JSONParseError) -> JSON {
        try parse(Array(text.utf8))
    }
}

/// Where a request body's top-level `model` and `stream_options` values lie, noted while it is
/// parsed: a passthrough codec replaces `model` in place from it, where it scanned the whole body
/// again to find the member (2 to 3% of a request's CPU, perf of `switchyard-bench gateway`).
/// Counts include repeated keys (whose last value the parsed object keeps), so a splice can
/// refuse a body whose upstream would read a different value than was routed on.
public struct RequestBodyLayout: Sendable, Equatable {
    /// The last `model` value's bytes, from its first to its last character.
    public var model: Range<Int>?
    public var modelCount = 0
    /// The last `stream_options` value's bytes.
    public var streamOptions: Range<Int>?
    public var streamOptionsCount = 0

    public init() {}
}

private struct JSONParser: JSONScanning {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0
    /// Whether the top-level object's members are noted in `layout`.
    var notesLayout = false
    var layout = RequestBodyLayout()

    init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    mutating func parseValue(depth: Int) throws(JSONParseError) -> JSON {
        guard index < bytes.count else { throw error("unexpected end of input") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw error("unexpected character")
        }
    }

    /// Members are collected into an array with the duplicate check done here (the same linear
    /// scan `JSONObject` does for small objects, without a call per member); past
    /// `JSONObject.indexThreshold` members a key table takes over, so a long object costs O(n).
    mutating func parseObject(depth: Int) throws(JSONParseError) -> JSON {
        let start = index + 1
        if try open(depth: depth, close: UInt8(ascii: "}")) { return .object(JSONObject()) }
        var entries: [JSONObject.Entry] = []
        // Room for four members at once: growing from one (1, 2, 4) took three allocations for
        // the usual object of a chat payload (2 to 4 members) where this takes one.
        entries.reserveCapacity(4)
        var positions: [String: Int] = [:]
        var indexed = false
        repeat {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected object key") }
            let key = try parseString()
            try expectColon()
            let valueStart = index
            let value = try parseValue(depth: depth)
            if depth == 1, notesLayout { note(key, valueStart..<index) }
            // A repeated key keeps its first position and takes the last value (`JSONObject`).
            if indexed {
                let next = entries.count
                let i = Self.claim(&positions[key, default: next])
                if i == next {
                    entries.append(JSONObject.Entry(key: key, value: value))
                } else {
                    entries[i].value = value
                }
            } else {
                let length = key.utf8.count
                var found = -1
                for i in entries.indices where entries[i].key.utf8.count == length && entries[i].key == key {
                    found = i
                    break
                }
                if found >= 0 {
                    entries[found].value = value
                } else {
                    entries.append(JSONObject.Entry(key: key, value: value))
                    if entries.count > JSONObject.indexThreshold {
                        // Sized for as many members as the rest of the body would hold at the size of
                        // those so far, but at most one per 16 bytes left (a wrong guess costs about
                        // twice the body in memory, briefly): growing a Dictionary rehashes every key,
                        // a seventh of the time of a 600,000-member object.
                        let left = bytes.count - index
                        let estimate = left / max(1, (index - start) / entries.count)
                        positions.reserveCapacity(entries.count + min(estimate, left / 16))
                        for (i, e) in entries.enumerated() { positions[e.key] = i }
                        indexed = true
                    }
                }
            }
        } while try another(close: UInt8(ascii: "}"))
        return .object(JSONObject(uniqueEntries: entries, positions: indexed ? positions : nil))
    }

    private static func claim(_ slot: inout Int) -> Int { slot }

    private mutating func note(_ key: String, _ value: Range<Int>) {
        if key == "model" {
            layout.model = value
            layout.modelCount += 1
        } else if key == "stream_options" {
            layout.streamOptions = value
            layout.streamOptionsCount += 1
        }
    }

    mutating func parseArray(depth: Int) throws(JSONParseError) -> JSON {
        var array: [JSON] = []
        if try open(depth: depth, close: UInt8(ascii: "]")) { return .array(array) }
        repeat {
            skipWhitespace()
            array.append(try parseValue(depth: depth))
        } while try another(close: UInt8(ascii: "]"))
        return .array(array)
    }

    /// A number keeps its text, so that no digit is lost on the way through.
    mutating func parseNumber() throws(JSONParseError) -> String {
        let start = index
        try scanNumber()
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
    }

    mutating func parseString() throws(JSONParseError) -> String {
        var text = StringAssembly(bytes: bytes)
        try scanString(into: &text)
        return text.string
    }
}

/// Builds a string from a scan: one run without escapes (the common case) is decoded straight
/// from the input; the first escape starts a scratch buffer that the rest is appended to. The
/// scan has checked the UTF-8 already, so decoding repairs nothing.
private struct StringAssembly: JSONStringSink {
    let bytes: UnsafeBufferPointer<UInt8>
    var unescaped = 0..<0
    var escaped = false
    var scratch: [UInt8] = []

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    @inline(__always)
    mutating func run(_ range: Range<Int>) {
        if escaped {
            scratch.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[range]))
        } else {
            unescaped = range
        }
    }

    @inline(__always)
    mutating func escape(_ byte: UInt8) {
        startScratch()
        scratch.append(byte)
    }

    @inline(__always)
    mutating func escape(_ scalar: Unicode.Scalar) {
        startScratch()
        UTF8.encode(scalar) { scratch.append($0) }
    }

    @inline(__always)
    private mutating func startScratch() {
        if escaped { return }
        escaped = true
        scratch = Array(UnsafeBufferPointer(rebasing: bytes[unescaped]))
    }

    var string: String {
        if escaped { return String(decoding: scratch, as: UTF8.self) }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[unescaped]), as: UTF8.self)
    }
}
