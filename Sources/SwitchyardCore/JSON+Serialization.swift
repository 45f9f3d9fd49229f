extension JSON {
    /// Compact UTF-8 serialisation (no insignificant whitespace), keys in stored order.
    public func serialized() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        write(to: &out)
        return out
    }

    /// The serialised text, for logs, tests and string-typed fields such as tool arguments.
    public func serializedString() -> String { String(decoding: serialized(), as: UTF8.self) }

    public func write(to out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let text): out.append(contentsOf: text.utf8)
        case .string(let s): JSON.writeString(s, to: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                item.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let object):
            object.write(to: &out)
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends a literal's UTF-8 bytes. `out.append(contentsOf: "…".utf8)` copied each literal
    /// through the generic path of a string's UTF-8 view (`_copyUTF8`): with the numbers' strings,
    /// half of writing a translated answer (perf of `switchyard-bench gateway --provider anthropic`).
    @inlinable
    public static func writeLiteral(_ literal: StaticString, to out: inout [UInt8]) {
        literal.withUTF8Buffer { out.append(contentsOf: $0) }
    }

    /// Appends `n` in decimal, the text `String(n)` spells, without making that string.
    public static func writeInt(_ n: Int, to out: inout [UInt8]) { writeInt(n, into: &out) }

    static func writeInt<Sink: JSONSink>(_ n: Int, into out: inout Sink) {
        if n >= 0, n < 10 {
            out.write(byte: UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: n))
            return
        }
        var m = n.magnitude
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var i = digits.count
            repeat {
                i -= 1
                digits[i] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: m % 10)
                m /= 10
            } while m > 0
            if n < 0 { out.write(byte: UInt8(ascii: "-")) }
            out.write(UnsafeBufferPointer(rebasing: digits[i...]))
        }
    }

    /// Writes `s` as a JSON string literal: quotes, backslashes and control characters escaped,
    /// everything else (non-ASCII included) as raw UTF-8.
    public static func writeString(_ s: String, to out: inout [UInt8]) { writeString(s, into: &out) }

    static func writeString<Sink: JSONSink>(_ s: String, into out: inout Sink) {
        out.write(byte: UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { buf in
            var runStart = 0
            for i in 0..<buf.count {
                let b = buf[i]
                guard b < 0x20 || b == 0x22 || b == 0x5C else { continue }
                if runStart < i { out.write(UnsafeBufferPointer(rebasing: buf[runStart..<i])) }
                runStart = i + 1
                out.write(byte: 0x5C)
                switch b {
                case 0x22: out.write(byte: 0x22)
                case 0x5C: out.write(byte: 0x5C)
                case 0x0A: out.write(byte: UInt8(ascii: "n"))
                case 0x0D: out.write(byte: UInt8(ascii: "r"))
                case 0x09: out.write(byte: UInt8(ascii: "t"))
                case 0x08: out.write(byte: UInt8(ascii: "b"))
                case 0x0C: out.write(byte: UInt8(ascii: "f"))
                default:
                    out.write("u00")
                    out.write(byte: hexDigits[Int(b >> 4)])
                    out.write(byte: hexDigits[Int(b & 0xF)])
                }
            }
            if runStart < buf.count { out.write(UnsafeBufferPointer(rebasing: buf[runStart...])) }
        }
        out.write(byte: UInt8(ascii: "\""))
    }
}

extension JSONObject {
    public func write(to out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        for (i, e) in entries.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            JSON.writeString(e.key, to: &out)
            out.append(UInt8(ascii: ":"))
            e.value.write(to: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    public func serialized() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        write(to: &out)
        return out
    }
}

extension JSON: CustomStringConvertible {
    public var description: String { serializedString() }
}
