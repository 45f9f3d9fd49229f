import Testing

@testable import SwitchyardCore

/// One percent-decoder for a model id in a path, a task listing's query and a PostgreSQL URL's
/// passwords (`StoreURL`): `%XX` with two hex digits is a byte, anything else is kept as written.
@Suite struct PercentDecodingTests {
    /// A sign is not a digit: "%+5" and "%-0" stay as they are (`UInt8(_:radix:)` read them as
    /// 0x05 and 0x00).
    @Test func escapesAreTwoHexDigits() {
        #expect(percentDecoded("openai%2Fgpt-4o") == "openai/gpt-4o")
        #expect(percentDecoded("a%3a%3Ab") == "a::b")
        #expect(percentDecoded("caf%C3%A9") == "café")
        #expect(percentDecoded("x%+5y") == "x%+5y")
        #expect(percentDecoded("x%-0y") == "x%-0y")
        #expect(percentDecoded("x% 5") == "x% 5")
        #expect(percentDecoded("100%") == "100%")
        #expect(percentDecoded("%4") == "%4")
        #expect(percentDecoded("%zz%41") == "%zzA")
    }

    /// A URL's password is redacted as written and as decoded; an escape that is not one is not
    /// decoded into a second, made-up password.
    @Test func storeURLPasswordsDecodeTheSameWay() {
        #expect(StoreURL.passwords(in: "postgres://u:p%40ss@h/db") == ["p%40ss", "p@ss"])
        #expect(StoreURL.passwords(in: "postgres://u:p%+5w@h/db") == ["p%+5w"])
    }
}
