import Testing

@testable import SwitchyardCore

@Suite struct JSONTests {
    @Test func roundTripKeepsKeyOrderAndNumberText() throws {
        let text = #"{"z":1,"a":[true,false,null],"big":12345678901234567890,"f":1.50e3,"s":"é\n\"q\"\u0001"}"#
        let v = try JSON.parse(text)
        #expect(
            v.serializedString()
                == #"{"z":1,"a":[true,false,null],"big":12345678901234567890,"f":1.50e3,"s":"é\n\"q\"\u0001"}"#)
        #expect(v["z"]?.intValue == 1)
        #expect(v["f"]?.doubleValue == 1500)
    }

    @Test func surrogatePairsDecode() throws {
        #expect(try JSON.parse(#""\ud83d\ude00""#).stringValue == "😀")
    }

    @Test(arguments: [
        "", "{", "[1,]", "{\"a\" 1}", "01", "1.", "-", "\"\\x\"", "\"\\ud800\"", "tru", "{} x", "\"a\u{01}\"", "[1 2]",
    ])
    func rejectsInvalid(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSON.parse(text) }
    }

    @Test func rejectsDeepNesting() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: JSONParseError.self) { try JSON.parse(deep) }
        let ok = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect((try? JSON.parse(ok)) != nil)
    }

    @Test func duplicateKeysKeepLastValue() throws {
        let v = try JSON.parse(#"{"a":1,"a":2}"#)
        #expect(v.serializedString() == #"{"a":2}"#)
    }

    @Test func invalidUTF8IsRejected() {
        #expect(throws: JSONParseError.self) { try JSON.parse([0x22, 0xFF, 0x22]) }
    }
}
