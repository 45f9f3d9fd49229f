import SwitchyardTestSupport
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

    /// An array, a slice of one, a buffer and a collection without contiguous storage parse alike
    /// (the first three in place, the last through a copy); a slice's indices need not start at 0.
    @Test func everyKindOfByteCollectionParsesAlike() throws {
        let text = Array(#"xx{"a":[1,"b"],"c":{"d":null}}yy"#.utf8)
        let inner = text[2..<(text.count - 2)]
        let expected = try JSON.parse(Array(inner))
        #expect(try JSON.parse(inner) == expected)
        #expect(
            try text.withUnsafeBufferPointer { try JSON.parse(UnsafeBufferPointer(rebasing: $0[2..<($0.count - 2)])) }
                == expected)
        #expect(try JSON.parse(inner.lazy.map { $0 }) == expected)
        #expect(throws: JSONParseError.self) { try JSON.parse(text[1..<(text.count - 2)]) }
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

/// Objects past `JSONObject.indexThreshold` members keep a key table; these check that it agrees
/// with the plain ordered-list semantics everywhere (the speed itself is `switchyard-bench bodies`).
@Suite struct JSONObjectTableTests {
    @Test func duplicateKeysKeepTheFirstPositionAndTheLastValueInLongObjects() throws {
        let members = (0..<40).map { #""k\#($0)":\#($0)"# } + [#""k0":"last""#, #""k20":"again""#]
        let v = try JSON.parse("{" + members.joined(separator: ",") + "}")
        let o = try #require(v.objectValue)
        #expect(o.count == 40)
        #expect(o.keys == (0..<40).map { "k\($0)" })
        #expect(o["k0"] == "last")
        #expect(o["k20"] == "again")
        #expect(o["k39"] == 39)
        #expect(o["k40"] == nil)
    }

    @Test func shortAndLongObjectsReadDuplicatesAlike() throws {
        let short = try JSON.parse(#"{"a":1,"b":2,"a":3}"#)
        #expect(short.serializedString() == #"{"a":3,"b":2}"#)
        let filler = (0..<30).map { #""f\#($0)":0"# }.joined(separator: ",")
        let long = try JSON.parse(#"{"a":1,"b":2,\#(filler),"a":3}"#)
        #expect(long.serializedString().hasPrefix(#"{"a":3,"b":2,"f0":0"#))
        #expect(long.objectValue?.count == 32)
    }

    /// Random sets, overwrites and removals across the threshold, checked against an ordered list.
    @Test func agreesWithAnOrderedListUnderRandomEdits() {
        var rng = SplitMix(seed: 7)
        var object = JSONObject()
        var model: [(String, JSON)] = []
        for step in 0..<4_000 {
            let key = "k\(rng.next() % 60)"
            let roll = rng.next() % 10
            if roll < 2 {
                object[key] = nil
                model.removeAll { $0.0 == key }
            } else if roll < 3 {
                // appendUnique is only for new keys; use it the way builders do.
                if !model.contains(where: { $0.0 == key }) {
                    object.appendUnique(key, .int(step))
                    model.append((key, .int(step)))
                }
            } else {
                object[key] = .int(step)
                if let i = model.firstIndex(where: { $0.0 == key }) {
                    model[i].1 = .int(step)
                } else {
                    model.append((key, .int(step)))
                }
            }
            #expect(object.keys == model.map(\.0))
            for (k, v) in model where object[k] != v {
                Issue.record("step \(step): \(k) reads \(String(describing: object[k])), expected \(v)")
            }
            #expect(object["absent"] == nil)
        }
        #expect(object == JSONObject(model))
    }

    @Test func copiesDoNotShareEdits() {
        var a = JSONObject((0..<30).map { ("k\($0)", JSON.int($0)) })
        let b = a
        a["k3"] = "changed"
        a["new"] = true
        #expect(b["k3"] == 3)
        #expect(b["new"] == nil)
        #expect(a["k3"] == "changed")
    }
}
