/// The byte-level grammar `JSONParser` (which builds values) and `JSONSkimmer` (which only checks
/// them) share: whitespace, literals, the number grammar, a string's body with its escapes,
/// surrogate pairs and UTF-8, and the punctuation of objects and arrays. Written once so that the
/// two cannot drift apart: the skim must accept exactly what the parse accepts.
///
/// Both scanners are structs of this module, so the optimiser specialises these extension methods
/// for each and inlines them (the string scan is generic over its sink for the same reason). When
/// this was factored out of two copies, `switchyard-bench codec` (the per-request cost) and the
/// large-body rows of `bodies` measured the same as before within the machine's noise; only a
/// string of nothing but escapes parsed slower, by about 1.7 ns per escape.
protocol JSONScanning {
    var bytes: UnsafeBufferPointer<UInt8> { get }
    var index: Int { get set }
}

/// What a string scan hands on: the runs of bytes that stand for themselves (already checked to
/// be UTF-8 without control characters; never empty) and what each escape stands for, in order.
protocol JSONStringSink {
    mutating func run(_ range: Range<Int>)
    /// A one-character escape (`\n`, `\"` ...), as the byte it stands for.
    mutating func escape(_ byte: UInt8)
    /// A `\u` escape (a surrogate pair already joined).
    mutating func escape(_ scalar: Unicode.Scalar)
}

extension JSONScanning {
    func error(_ reason: String) -> JSONParseError { JSONParseError(offset: index, reason: reason) }

    @inline(__always)
    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    /// Inlined, so each literal's bytes are constants where it is expected.
    @inline(__always)
    mutating func expectLiteral(_ literal: StaticString) throws(JSONParseError) {
        let count = literal.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw error("unexpected end of input") }
        let p = literal.utf8Start
        for i in 0..<count where bytes[index + i] != p[i] { throw error("invalid literal") }
        index += count
    }

    /// Opens an object or array (at its `{` or `[`) `depth` levels deep; true when it closes
    /// right away with `close`.
    @inline(__always)
    mutating func open(depth: Int, close: UInt8) throws(JSONParseError) -> Bool {
        guard depth <= JSON.maximumDepth else { throw error("nesting too deep") }
        index += 1
        skipWhitespace()
        if index < bytes.count, bytes[index] == close {
            index += 1
            return true
        }
        return false
    }

    /// From after an object's key to its value: the `:` with the whitespace around it.
    @inline(__always)
    mutating func expectColon() throws(JSONParseError) {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':'") }
        index += 1
        skipWhitespace()
    }

    /// After a member or element: true at a `,` (another follows), false at `close` (the
    /// container ends); both are consumed.
    @inline(__always)
    mutating func another(close: UInt8) throws(JSONParseError) -> Bool {
        skipWhitespace()
        guard index < bytes.count else { throw error("unexpected end of input") }
        if bytes[index] == UInt8(ascii: ",") {
            index += 1
            return true
        }
        if bytes[index] == close {
            index += 1
            return false
        }
        throw error(close == UInt8(ascii: "}") ? "expected ',' or '}'" : "expected ',' or ']'")
    }

    /// Passes over a number (RFC 8259's grammar: no leading zeros, digits after `.` and after
    /// an exponent).
    @inline(__always)
    mutating func scanNumber() throws(JSONParseError) {
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count else { throw error("invalid number") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else if isDigit(bytes[index]) {
            skipDigits()
        } else {
            throw error("invalid number")
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard index < bytes.count, isDigit(bytes[index]) else { throw error("invalid number") }
            skipDigits()
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                index += 1
            }
            guard index < bytes.count, isDigit(bytes[index]) else { throw error("invalid number") }
            skipDigits()
        }
    }

    @inline(__always)
    private mutating func skipDigits() {
        while index < bytes.count, isDigit(bytes[index]) { index += 1 }
    }

    @inline(__always)
    private func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

    /// Scans a string from its opening quote to past its closing one, rejecting control
    /// characters, unknown escapes, lone surrogates and invalid UTF-8, and hands `sink` its runs
    /// and escapes.
    @inline(__always)
    mutating func scanString<Sink: JSONStringSink>(into sink: inout Sink) throws(JSONParseError) {
        index += 1
        var runStart = index
        while index < bytes.count {
            // A run of printable ASCII, the bulk of most strings, is passed over in locals: the
            // loop below keeps `index` in `self`, stored and the buffer reloaded at every byte
            // (that loop was a fifth of a streamed chunk's decoding).
            let text = bytes
            var i = index
            // Eight bytes at a time to the first special one (`SWAR.stringStops`), where the
            // bytewise loop below stops at once; it finishes a tail shorter than a word.
            if let base = text.baseAddress {
                while i &+ 8 <= text.count {
                    let word = UInt64(littleEndian: UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self))
                    let stops = SWAR.stringStops(word)
                    if stops != 0 {
                        i &+= stops.trailingZeroBitCount &>> 3
                        break
                    }
                    i &+= 8
                }
            }
            while i < text.count {
                let c = text[i]
                guard c >= 0x20, c < 0x80, c != UInt8(ascii: "\""), c != UInt8(ascii: "\\") else { break }
                i += 1
            }
            index = i
            guard index < bytes.count else { break }
            let b = bytes[index]
            switch b {
            case UInt8(ascii: "\""):
                if runStart < index { sink.run(runStart..<index) }
                index += 1
                return
            case UInt8(ascii: "\\"):
                if runStart < index { sink.run(runStart..<index) }
                index += 1
                guard index < bytes.count else { throw error("unexpected end of input") }
                let e = bytes[index]
                index += 1
                switch e {
                case UInt8(ascii: "\""): sink.escape(0x22)
                case UInt8(ascii: "\\"): sink.escape(0x5C)
                case UInt8(ascii: "/"): sink.escape(0x2F)
                case UInt8(ascii: "b"): sink.escape(0x08)
                case UInt8(ascii: "f"): sink.escape(0x0C)
                case UInt8(ascii: "n"): sink.escape(0x0A)
                case UInt8(ascii: "r"): sink.escape(0x0D)
                case UInt8(ascii: "t"): sink.escape(0x09)
                case UInt8(ascii: "u"): sink.escape(try unicodeEscape())
                default: throw error("invalid escape")
                }
                runStart = index
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

    /// The scalar of a `\u` escape (after the `u`), joining a surrogate pair.
    @inline(__always)
    private mutating func unicodeEscape() throws(JSONParseError) -> Unicode.Scalar {
        var scalar = try hex4()
        if (0xD800...0xDBFF).contains(scalar) {
            guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u")
            else { throw error("lone surrogate") }
            index += 2
            let low = try hex4()
            guard (0xDC00...0xDFFF).contains(low) else { throw error("lone surrogate") }
            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
        } else if (0xDC00...0xDFFF).contains(scalar) {
            throw error("lone surrogate")
        }
        guard let u = Unicode.Scalar(scalar) else { throw error("invalid escape") }
        return u
    }

    @inline(__always)
    private mutating func hex4() throws(JSONParseError) -> UInt32 {
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

    /// One multi-byte UTF-8 sequence (RFC 3629: no overlongs, no surrogates, at most U+10FFFF),
    /// the sequences `String(validating:)` accepts.
    private mutating func skipUTF8Sequence() throws(JSONParseError) {
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
}

/// Word-at-a-time byte tests (eight bytes in a `UInt64`, no SIMD types, no lookup tables).
enum SWAR {
    /// The high bit of each byte that is zero, and possibly of bytes above a zero one (borrows):
    /// non-zero exactly when `word` has a zero byte.
    @inline(__always)
    static func zeroBytes(_ word: UInt64) -> UInt64 {
        (word &- 0x0101_0101_0101_0101) & ~word & 0x8080_8080_8080_8080
    }

    /// The high bit of the first byte of `word` (in memory order, little-endian) that ends a
    /// string's plain run, set exactly, and perhaps of later bytes: a control character, a byte
    /// outside ASCII, `"` or `\` (the bytes the bytewise scan stops at); zero when there is none.
    /// The string scan passes over words without one eight bytes at a time: its bytewise loop was
    /// 4.3% of a plain request's CPU in process (perf of `switchyard-bench gateway`,
    /// `JSONSkimmer.skipString`). Each term below is exact up to its own first hit (a borrow only
    /// runs upwards from a hit), so the lowest bit of their union is the first stop.
    @inline(__always)
    static func stringStops(_ word: UInt64) -> UInt64 {
        // A byte below 0x20: `(x - 0x2020..) & ~x` has its high bit set where one is (as
        // `zeroBytes`); a byte from 0x80 up has its own high bit set.
        let control = (word &- 0x2020_2020_2020_2020) & ~word
        let quote = zeroBytes(word ^ 0x2222_2222_2222_2222)
        let backslash = zeroBytes(word ^ 0x5C5C_5C5C_5C5C_5C5C)
        return (control | word | quote | backslash) & 0x8080_8080_8080_8080
    }
}
