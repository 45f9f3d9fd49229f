import SwitchyardCore

/// How a scalar reads as a JSON value: the YAML 1.1 rules Yams 6.2 applied (the loader used it
/// until libyaml replaced it), kept so that every configuration reads as it did.
///
/// A quoted or block scalar is a string. A plain one is, in this order: null (empty, `~`, `null`,
/// `Null`, `NULL`); a boolean (`true`, `yes`, `on`, `false`, `no`, `off` in any case, unless tagged
/// `!!str`); an integer (`_` ignored; `0x`, `0b`, `0o` and a leading `0` (octal) prefixes after an
/// optional sign; `1:30` is base 60); a finite number (`.5`, `1e3`, base 60 `1:30.5`); else a string.
/// `.inf` and `.nan` stay text, so a number key names them in its error instead of reading them as
/// absent (JSON has no such numbers). A base-60 value past `Int`'s range reads as a number (Yams
/// trapped on it, ending the process).
extension YAMLScalar {
    static let stringTag = "tag:yaml.org,2002:str"

    var resolved: JSON {
        guard isPlain, Self.mayResolve(text) else { return .string(text) }
        switch text {
        case "", "~", "null", "Null", "NULL": return .null
        default: break
        }
        if tag != Self.stringTag, let b = Self.keywordBools[text.lowercased()] { return .bool(b) }
        if let i = Self.integer(text) { return .int(i) }
        if let d = Self.number(text) { return d.isFinite ? .double(d) : .string(text) }
        return .string(text)
    }

    /// Whether a plain scalar can be anything but a string: a null, a boolean word, or a number
    /// (which starts with a digit, a sign or a dot: `.5`, `.inf`, `.nan`). A cheap test first, as
    /// a configuration is mostly names and URLs.
    static func mayResolve(_ plain: String) -> Bool {
        guard let first = plain.utf8.first else { return true }
        switch first {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "~"):
            return true
        default:
            return plain.utf8.count <= 5 && (plain.lowercased() == "null" || keywordBools[plain.lowercased()] != nil)
        }
    }

    private static let keywordBools: [String: Bool] = [
        "true": true, "yes": true, "on": true, "false": false, "no": false, "off": false,
    ]

    private static func integer(_ text: String) -> Int? {
        let s = text.filter { $0 != "_" }
        if s == "0" { return 0 }
        let negative = s.hasPrefix("-")
        let signed = negative || s.hasPrefix("+")
        let body = s.dropFirst(signed ? 1 : 0)
        for (prefix, radix) in [("0x", 16), ("0b", 2), ("0o", 8), ("0", 8)] where body.hasPrefix(prefix) {
            return Int((negative ? "-" : "") + body.dropFirst(prefix.count), radix: radix)
        }
        if body.contains(":") { return sexagesimal(s) as Int? }
        return Int(s)
    }

    private static func number(_ text: String) -> Double? {
        switch text.lowercased() {
        case ".inf", "+.inf": return .infinity
        case "-.inf": return -.infinity
        case ".nan": return .nan
        default: break
        }
        let s = text.filter { $0 != "_" }
        if s.contains(":") { return sexagesimal(s) as Double? }
        return Double(s)
    }

    /// `[-+]a:b:c` as a·60² + b·60 + c; nil when a part does not read or the value overflows.
    private static func sexagesimal(_ s: String) -> Int? {
        let (negative, parts) = sexagesimalParts(s)
        var value = 0
        for part in parts {
            guard let digit = Int(part) else { return nil }
            let (shifted, o1) = value.multipliedReportingOverflow(by: 60)
            let (sum, o2) = shifted.addingReportingOverflow(digit)
            guard !o1, !o2 else { return nil }
            value = sum
        }
        guard negative else { return value }
        let (negated, overflow) = 0.subtractingReportingOverflow(value)
        return overflow ? nil : negated
    }

    private static func sexagesimal(_ s: String) -> Double? {
        let (negative, parts) = sexagesimalParts(s)
        var value = 0.0
        for part in parts {
            guard let digit = Double(part) else { return nil }
            value = value * 60 + digit
        }
        return negative ? -value : value
    }

    private static func sexagesimalParts(_ s: String) -> (negative: Bool, [Substring]) {
        var body = Substring(s)
        let negative = body.hasPrefix("-")
        if negative || body.hasPrefix("+") { body = body.dropFirst() }
        return (negative, body.split(separator: ":", omittingEmptySubsequences: false))
    }
}
