/// Lower-case hexadecimal digits, for ids built from random or counted bits.
public enum Hex {
    /// `value` in lower-case hex, zero-padded to at least `width` digits.
    public static func digits(_ value: UInt64, _ width: Int) -> String {
        let s = String(value, radix: 16)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }
}
