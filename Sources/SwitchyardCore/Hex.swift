/// Lower-case hexadecimal digits, for ids built from random or counted bits.
public enum Hex {
    /// `value` in lower-case hex, zero-padded to at least `width` digits.
    public static func digits(_ value: UInt64, _ width: Int) -> String {
        let s = String(value, radix: 16)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }
}

extension Hex {
    /// The value of one hexadecimal digit (either case), or nil.
    public static func value(of digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// Decodes `%XX` escapes (two hex digits, as RFC 3986 and libpq read them); any other `%` is kept
/// as written. Digit by digit: `UInt8(_:radix:)` also takes a sign, so "%+5" decoded to 0x05.
public func percentDecoded(_ s: String) -> String {
    guard s.contains("%") else { return s }
    var out: [UInt8] = []
    let b = Array(s.utf8)
    var i = 0
    while i < b.count {
        if b[i] == UInt8(ascii: "%"), i + 2 < b.count, let high = Hex.value(of: b[i + 1]),
            let low = Hex.value(of: b[i + 2])
        {
            out.append(high << 4 | low)
            i += 3
        } else {
            out.append(b[i])
            i += 1
        }
    }
    return String(decoding: out, as: UTF8.self)
}
