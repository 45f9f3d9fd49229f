/// One member of a JSON object found by `JSON.members(of:)`: where its key and value are in the
/// text, nothing decoded.
public struct JSONMember: Sendable, Equatable {
    /// The key's bytes between the quotes, still escaped if `keyEscaped`.
    public var key: Range<Int>
    public var keyEscaped: Bool
    /// The value's bytes, from its first to its last character.
    public var value: Range<Int>
}

extension JSON {
    /// Checks `bytes` as strictly as `parse` does (same grammar, UTF-8 and escape rules, depth
    /// limit and trailing-garbage check) without building any value, and returns the members of
    /// the top-level object in order (duplicates included), or nil when the text is valid JSON
    /// but not an object.
    ///
    /// This is the passthrough's lazy scan: an answer or chunk forwarded as received needs its
    /// validity and a few members (`usage`, `choices`), not a tree of every string in it, and a
    /// body whose `model` is replaced in place needs that value's position. Parse a member's
    /// bytes with `parse` when its value is wanted.
    public static func members(of bytes: UnsafeBufferPointer<UInt8>) throws(JSONParseError) -> [JSONMember]? {
        var skimmer = JSONSkimmer(bytes)
        skimmer.skipWhitespace()
        var members: [JSONMember]? = nil
        if skimmer.index < bytes.count, bytes[skimmer.index] == UInt8(ascii: "{") {
            members = try skimmer.skipObject(depth: 1, collecting: true)
        } else {
            try skimmer.skipValue(depth: 0)
        }
        skimmer.skipWhitespace()
        if skimmer.index != bytes.count { throw skimmer.error("unexpected trailing characters") }
        return members
    }

    /// `members(of:)` without the array: `body` is called with each member of the top-level
    /// object in order (duplicates included) while the text is checked, and the result says
    /// whether it was an object (false: valid JSON of another kind). A stream decoder reads a few
    /// members of every event; the member arrays were three allocations per event.
    ///
    /// The text is checked to its end before the result is known, so `body` may have seen
    /// members of a text that then throws: use what it kept only after a normal return.
    public static func forEachMember(
        of bytes: UnsafeBufferPointer<UInt8>, _ body: (JSONMember) -> Void
    ) throws(JSONParseError) -> Bool {
        var skimmer = JSONSkimmer(bytes)
        skimmer.skipWhitespace()
        var isObject = false
        if skimmer.index < bytes.count, bytes[skimmer.index] == UInt8(ascii: "{") {
            isObject = true
            try skimmer.skipObject(depth: 1, visiting: body)
        } else {
            try skimmer.skipValue(depth: 0)
        }
        skimmer.skipWhitespace()
        if skimmer.index != bytes.count { throw skimmer.error("unexpected trailing characters") }
        return isObject
    }

    /// `members(of:)` over an array's bytes.
    public static func members(of bytes: [UInt8]) throws(JSONParseError) -> [JSONMember]? {
        let result: Result<[JSONMember]?, JSONParseError> = bytes.withUnsafeBufferPointer { buffer in
            do throws(JSONParseError) {
                return .success(try members(of: buffer))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}

extension Array where Element == JSONMember {
    /// The last member named `key` (the one `JSON.parse` keeps the value of), comparing the key's
    /// text in `bytes`; escaped keys are decoded first.
    public func last(named key: StaticString, in bytes: UnsafeBufferPointer<UInt8>) -> JSONMember? {
        for m in reversed() where m.named(key, in: bytes) { return m }
        return nil
    }

    /// How many members are named `key`.
    public func count(named key: StaticString, in bytes: UnsafeBufferPointer<UInt8>) -> Int {
        var n = 0
        for m in self where m.named(key, in: bytes) { n += 1 }
        return n
    }
}

extension JSONMember {
    /// Whether the key's text is `name`.
    @inlinable
    public func named(_ name: StaticString, in bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        JSONKey(text: key, escaped: keyEscaped).named(name, in: bytes)
    }
}

/// An object member's key found by `JSONReader`: where its text is, nothing decoded.
public struct JSONKey: Sendable, Equatable {
    /// The key's bytes between the quotes, still escaped if `escaped`.
    public var text: Range<Int>
    public var escaped: Bool

    @inlinable
    public init(text: Range<Int>, escaped: Bool) {
        self.text = text
        self.escaped = escaped
    }

    /// Whether the key's text is `name`. Inlined where it is asked: a stream decoder asks it of
    /// every member of every chunk, and most keys differ from `name` in length.
    @inlinable
    public func named(_ name: StaticString, in bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        let length = name.utf8CodeUnitCount
        if escaped { return Self.escapedKey(text, in: bytes, is: name) }
        guard text.count == length else { return false }
        let p = name.utf8Start
        var i = 0
        while i < length {
            if bytes[text.lowerBound + i] != p[i] { return false }
            i += 1
        }
        return true
    }

    /// Rare: an escaped key is decoded as `parse` would and its text compared.
    @usableFromInline
    static func escapedKey(_ key: Range<Int>, in bytes: UnsafeBufferPointer<UInt8>, is name: StaticString) -> Bool {
        var quoted = [UInt8(ascii: "\"")]
        quoted.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[key]))
        quoted.append(UInt8(ascii: "\""))
        guard case .string(let s)? = try? JSON.parse(quoted) else { return false }
        return s.utf8.elementsEqual(UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
    }
}

/// Reads JSON text in one pass, checking it as strictly as `parse` does, and builds nothing:
/// the caller steps through objects and arrays, notes where the values it wants are (`index`
/// before and after one) and skips the rest. `forEachMember(of:)` sees only the top level; a
/// stream decoder that wants a member of a member of a chunk read the inner text once more per
/// level (a streamed chunk's `choices`, its choice, its `delta`: three passes over the same bytes).
///
/// Every value must be stepped through or skipped, and `finish()` called: only then has the
/// whole text been checked. A thrown error means the text is not JSON.
public struct JSONReader {
    // Not private: cross-module optimisation can then inline the reader's steps into its callers.
    var skimmer: JSONSkimmer

    /// A reader at the text's first value.
    public init(_ bytes: UnsafeBufferPointer<UInt8>) {
        skimmer = JSONSkimmer(bytes)
        skimmer.skipWhitespace()
    }

    /// A reader inside the top-level object of `bytes` at `member`, the opening quote of a
    /// member's key, as a reader is after the members before it: for a caller that read the same
    /// bytes `bytes[..<member]` before, up to that key and without an error (a stream's chunks
    /// begin alike), so that they need not be read again. Nothing before `member` is checked: the
    /// caller vouches for it, the reader for the rest.
    public static func resumingObject(
        _ bytes: UnsafeBufferPointer<UInt8>, atMember member: Int
    ) -> (reader: JSONReader, object: Container) {
        var reader = JSONReader(bytes)
        reader.skimmer.index = member
        return (reader, Container(depth: 1, close: UInt8(ascii: "}"), state: .fresh))
    }

    public var bytes: UnsafeBufferPointer<UInt8> { skimmer.bytes }
    /// Where the reader is: the first byte of the next value, or past the last one read.
    public var index: Int { skimmer.index }
    /// The first byte of the value at the reader (nil at the end of the text).
    public var next: UInt8? { skimmer.index < skimmer.bytes.count ? skimmer.bytes[skimmer.index] : nil }

    /// An object or array being read.
    public struct Container {
        /// How deep it is: 1 for the top-level value (the depth `parse` limits).
        public let depth: Int
        let close: UInt8
        var state: State

        enum State { case fresh, open, closed }
    }

    /// Opens the object or array at the reader (`next` is `{` or `[`); `depth` is its container's
    /// depth plus one (1 at the top level).
    public mutating func open(depth: Int) throws(JSONParseError) -> Container {
        let close = skimmer.bytes[skimmer.index] == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
        let empty = try skimmer.open(depth: depth, close: close)
        return Container(depth: depth, close: close, state: empty ? .closed : .fresh)
    }

    /// The next member's key of `object`, the reader then at its value (which must be read or
    /// skipped before the next call); nil after the last member.
    public mutating func nextKey(_ object: inout Container) throws(JSONParseError) -> JSONKey? {
        guard try step(&object) else { return nil }
        skimmer.skipWhitespace()
        guard skimmer.index < skimmer.bytes.count, skimmer.bytes[skimmer.index] == UInt8(ascii: "\"") else {
            throw skimmer.error("expected object key")
        }
        let start = skimmer.index + 1
        let escaped = try skimmer.skipString()
        let key = JSONKey(text: start..<(skimmer.index - 1), escaped: escaped)
        try skimmer.expectColon()
        return key
    }

    /// Whether `array` has another element, the reader then at it (to be read or skipped).
    public mutating func nextElement(_ array: inout Container) throws(JSONParseError) -> Bool {
        guard try step(&array) else { return false }
        skimmer.skipWhitespace()
        return true
    }

    /// Inlined into `nextKey` and `nextElement`: as a call of its own it was 6% of
    /// `switchyard-bench stream-decode`.
    @inline(__always)
    mutating func step(_ c: inout Container) throws(JSONParseError) -> Bool {
        switch c.state {
        case .closed: return false
        case .fresh: c.state = .open
        case .open:
            if !(try skimmer.another(close: c.close)) {
                c.state = .closed
                return false
            }
        }
        return true
    }

    /// Skips (checking it) the value at the reader, a member or element of a container `depth`
    /// deep (0 for the top-level value).
    public mutating func skipValue(depth: Int) throws(JSONParseError) {
        try skimmer.skipValue(depth: depth)
    }

    /// After the top-level value: only whitespace may follow.
    public mutating func finish() throws(JSONParseError) {
        skimmer.skipWhitespace()
        if skimmer.index != skimmer.bytes.count { throw skimmer.error("unexpected trailing characters") }
    }
}

/// The grammar of `JSONParser` with every value skipped instead of built.
struct JSONSkimmer: JSONScanning {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    mutating func skipValue(depth: Int) throws(JSONParseError) {
        guard index < bytes.count else { throw error("unexpected end of input") }
        switch bytes[index] {
        case UInt8(ascii: "{"): _ = try skipObject(depth: depth + 1, collecting: false)
        case UInt8(ascii: "["): try skipArray(depth: depth + 1)
        case UInt8(ascii: "\""): _ = try skipString()
        case UInt8(ascii: "t"): try expectLiteral("true")
        case UInt8(ascii: "f"): try expectLiteral("false")
        case UInt8(ascii: "n"): try expectLiteral("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try scanNumber()
        default: throw error("unexpected character")
        }
    }

    mutating func skipObject(depth: Int, collecting: Bool) throws(JSONParseError) -> [JSONMember]? {
        guard collecting else {
            try skipObject(depth: depth) { _ in }
            return nil
        }
        var members: [JSONMember] = []
        members.reserveCapacity(16)
        try skipObject(depth: depth) { members.append($0) }
        return members
    }

    /// Checks one object and hands each member to `visit` (`skipObject(depth:collecting:)` collects them).
    @inline(__always)
    mutating func skipObject(depth: Int, visiting visit: (JSONMember) -> Void) throws(JSONParseError) {
        if try open(depth: depth, close: UInt8(ascii: "}")) { return }
        repeat {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected object key") }
            let keyStart = index + 1
            let escaped = try skipString()
            let key = keyStart..<(index - 1)
            try expectColon()
            let valueStart = index
            try skipValue(depth: depth)
            visit(JSONMember(key: key, keyEscaped: escaped, value: valueStart..<index))
        } while try another(close: UInt8(ascii: "}"))
    }

    mutating func skipArray(depth: Int) throws(JSONParseError) {
        if try open(depth: depth, close: UInt8(ascii: "]")) { return }
        repeat {
            skipWhitespace()
            try skipValue(depth: depth)
        } while try another(close: UInt8(ascii: "]"))
    }

    /// Skips a string from its opening quote; returns whether it had escapes.
    mutating func skipString() throws(JSONParseError) -> Bool {
        var sink = EscapeWitness()
        try scanString(into: &sink)
        return sink.escaped
    }
}

/// Keeps of a string only whether it had an escape.
private struct EscapeWitness: JSONStringSink {
    var escaped = false

    @inline(__always) mutating func run(_ range: Range<Int>) {}
    @inline(__always) mutating func escape(_ byte: UInt8) { escaped = true }
    @inline(__always) mutating func escape(_ scalar: Unicode.Scalar) { escaped = true }
}
