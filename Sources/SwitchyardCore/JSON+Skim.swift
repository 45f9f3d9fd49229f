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
    public func named(_ name: StaticString, in bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        let length = name.utf8CodeUnitCount
        if keyEscaped {
            // Rare: decode the key as `parse` would and compare the text.
            var quoted = [UInt8(ascii: "\"")]
            quoted.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[key]))
            quoted.append(UInt8(ascii: "\""))
            guard case .string(let s)? = try? JSON.parse(quoted) else { return false }
            return s.utf8.elementsEqual(UnsafeBufferPointer(start: name.utf8Start, count: length))
        }
        guard key.count == length else { return false }
        let p = name.utf8Start
        var i = 0
        while i < length {
            if bytes[key.lowerBound + i] != p[i] { return false }
            i += 1
        }
        return true
    }
}

/// The grammar of `JSONParser` with every value skipped instead of built.
private struct JSONSkimmer {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    func error(_ reason: String) -> JSONParseError { JSONParseError(offset: index, reason: reason) }

    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    mutating func skipValue(depth: Int) throws(JSONParseError) {
        guard index < bytes.count else { throw error("unexpected end of input") }
        switch bytes[index] {
        case UInt8(ascii: "{"): _ = try skipObject(depth: depth + 1, collecting: false)
        case UInt8(ascii: "["): try skipArray(depth: depth + 1)
        case UInt8(ascii: "\""): _ = try skipString()
        case UInt8(ascii: "t"): try expectLiteral("true")
        case UInt8(ascii: "f"): try expectLiteral("false")
        case UInt8(ascii: "n"): try expectLiteral("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try skipNumber()
        default: throw error("unexpected character")
        }
    }

    mutating func expectLiteral(_ literal: StaticString) throws(JSONParseError) {
        let count = literal.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw error("unexpected end of input") }
        let p = literal.utf8Start
        for i in 0..<count where bytes[index + i] != p[i] { throw error("invalid literal") }
        index += count
    }

    mutating func skipObject(depth: Int, collecting: Bool) throws(JSONParseError) -> [JSONMember]? {
        guard depth <= JSON.maximumDepth else { throw error("nesting too deep") }
        index += 1
        var members: [JSONMember]? = nil
        if collecting {
            members = []
            members?.reserveCapacity(16)
        }
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            return members
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected object key") }
            let keyStart = index + 1
            let escaped = try skipString()
            let key = keyStart..<(index - 1)
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':'") }
            index += 1
            skipWhitespace()
            let valueStart = index
            try skipValue(depth: depth)
            members?.append(JSONMember(key: key, keyEscaped: escaped, value: valueStart..<index))
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of input") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            if bytes[index] == UInt8(ascii: "}") {
                index += 1
                return members
            }
            throw error("expected ',' or '}'")
        }
    }

    mutating func skipArray(depth: Int) throws(JSONParseError) {
        guard depth <= JSON.maximumDepth else { throw error("nesting too deep") }
        index += 1
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            return
        }
        while true {
            skipWhitespace()
            try skipValue(depth: depth)
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of input") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            if bytes[index] == UInt8(ascii: "]") {
                index += 1
                return
            }
            throw error("expected ',' or ']'")
        }
    }

    mutating func skipNumber() throws(JSONParseError) {
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count else { throw error("invalid number") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else if isDigit(bytes[index]) {
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        } else {
            throw error("invalid number")
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard index < bytes.count, isDigit(bytes[index]) else { throw error("invalid number") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                index += 1
            }
            guard index < bytes.count, isDigit(bytes[index]) else { throw error("invalid number") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
    }

    func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

    /// Skips a string from its opening quote; returns whether it had escapes. Checks what
    /// `JSONParser.parseString` checks: control characters, escapes, surrogate pairs, UTF-8.
    mutating func skipString() throws(JSONParseError) -> Bool {
        index += 1
        var escaped = false
        while index < bytes.count {
            let b = bytes[index]
            switch b {
            case UInt8(ascii: "\""):
                index += 1
                return escaped
            case UInt8(ascii: "\\"):
                escaped = true
                index += 1
                guard index < bytes.count else { throw error("unexpected end of input") }
                let e = bytes[index]
                index += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                    UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    break
                case UInt8(ascii: "u"):
                    let scalar = try hex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"),
                            bytes[index + 1] == UInt8(ascii: "u")
                        else { throw error("lone surrogate") }
                        index += 2
                        let low = try hex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw error("lone surrogate") }
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw error("lone surrogate")
                    }
                default:
                    throw error("invalid escape")
                }
            case 0x00..<0x20:
                throw error("control character in string")
            case 0x20..<0x80:
                index += 1
            default:
                try skipUTF8Sequence()
            }
        }
        throw error("unterminated string")
    }

    /// One multi-byte UTF-8 sequence (RFC 3629: no overlongs, no surrogates, at most U+10FFFF),
    /// the sequences `String(validating:)` accepts.
    mutating func skipUTF8Sequence() throws(JSONParseError) {
        let b0 = bytes[index]
        let count: Int
        var low: UInt8 = 0x80
        var high: UInt8 = 0xBF
        switch b0 {
        case 0xC2...0xDF: count = 2
        case 0xE0:
            count = 3
            low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: count = 3
        case 0xED:
            count = 3
            high = 0x9F
        case 0xF0:
            count = 4
            low = 0x90
        case 0xF1...0xF3: count = 4
        case 0xF4:
            count = 4
            high = 0x8F
        default: throw error("invalid UTF-8 in string")
        }
        guard index + count <= bytes.count else { throw error("invalid UTF-8 in string") }
        let b1 = bytes[index + 1]
        guard b1 >= low, b1 <= high else { throw error("invalid UTF-8 in string") }
        for i in 2..<max(2, count) where bytes[index + i] & 0xC0 != 0x80 { throw error("invalid UTF-8 in string") }
        index += count
    }

    mutating func hex4() throws(JSONParseError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw error("invalid unicode escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[index]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw error("invalid unicode escape")
            }
            v = v << 4 | d
            index += 1
        }
        return v
    }
}
