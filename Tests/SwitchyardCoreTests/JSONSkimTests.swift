import SwitchyardTestSupport
import Testing

@testable import SwitchyardCore

/// `JSON.members(of:)` is the passthrough's lazy scan: it must accept exactly what `JSON.parse`
/// accepts (anything else would forward what the full decode rejects, or reject what it
/// accepts) and point at the same values.
@Suite struct JSONSkimTests {
    @Test func membersPointAtKeysAndValuesInOrder() throws {
        let text = #" { "model" : "gpt" ,"n":[1, {"x":"}"}],"a\"b":null,"model":-1.5e3} "#
        let bytes = Array(text.utf8)
        let members = try #require(try JSON.members(of: bytes))
        let slice = { (r: Range<Int>) in String(decoding: bytes[r], as: UTF8.self) }
        #expect(members.map { slice($0.key) } == ["model", "n", #"a\"b"#, "model"])
        #expect(members.map { slice($0.value) } == [#""gpt""#, #"[1, {"x":"}"}]"#, "null", "-1.5e3"])
        #expect(members.map(\.keyEscaped) == [false, false, true, false])
        bytes.withUnsafeBufferPointer { b in
            #expect(members.count(named: "model", in: b) == 2)
            #expect(members.last(named: "model", in: b).map { slice($0.value) } == "-1.5e3")
            #expect(members.last(named: "nope", in: b) == nil)
        }
        let escapedKey = Array(#"{"\u006dodel":1}"#.utf8)
        let m = try #require(try JSON.members(of: escapedKey))
        escapedKey.withUnsafeBufferPointer { #expect(m[0].named("model", in: $0)) }
    }

    @Test func nonObjectsAreValidButHaveNoMembers() throws {
        for text in ["[]", "1", #""s""#, "null", " true "] {
            #expect(try JSON.members(of: Array(text.utf8)) == nil)
        }
    }

    static let corpus: [String] = [
        "", "{", "}", "[1,]", "{\"a\" 1}", "01", "1.", "-", "\"\\x\"", "\"\\ud800\"", "\"\\udc00\"",
        "\"\\ud800\\u0041\"",
        "tru", "{} x", "\"a\u{01}\"", "[1 2]", "{\"a\":}", "{,}", "[", "\"", "\"\\u12\"", "-0", "0.0e+1", "1E9",
        "{\"a\":[{\"b\":[{\"c\":\"d\"}]}]}", "\"\\ud83d\\ude00\"", "\"é😀\"", "[-]", "[.5]", "{\"a\":1,}", " ",
        "{\"a\":\"\\/\\b\\f\\n\\r\\t\\\"\\\\\"}", "nul", "[true,false,null]",
    ]

    @Test(arguments: corpus)
    func acceptsExactlyWhatParseAccepts(_ text: String) {
        Self.expectSameVerdict(Array(text.utf8))
    }

    @Test func invalidUTF8AndOverlongsAreRejectedAsByParse() {
        let cases: [[UInt8]] = [
            [0x22, 0xFF, 0x22], [0x22, 0xC0, 0xAF, 0x22], [0x22, 0xE0, 0x80, 0xAF, 0x22],
            [0x22, 0xED, 0xA0, 0x80, 0x22],
            [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], [0x22, 0xC3, 0x22], [0x22, 0xC3, 0xA9, 0x22],
            [0x22, 0xF0, 0x9F, 0x98, 0x80, 0x22], [0x22, 0xE2, 0x82, 0x22],
        ]
        for bytes in cases { Self.expectSameVerdict(bytes) }
    }

    @Test func depthLimitIsTheParsers() {
        for depth in [JSON.maximumDepth - 1, JSON.maximumDepth, JSON.maximumDepth + 1] {
            Self.expectSameVerdict(
                Array((String(repeating: "[", count: depth) + String(repeating: "]", count: depth)).utf8))
            let objects = String(repeating: "{\"a\":", count: depth) + "1" + String(repeating: "}", count: depth)
            Self.expectSameVerdict(Array(objects.utf8))
        }
    }

    /// Thousands of single-byte mutations of realistic bodies: same verdict as `parse`, and for
    /// objects every member's bytes parse to the value the tree holds (the last of duplicates).
    @Test func mutatedBodiesGetTheParsersVerdict() {
        let seeds = [
            #"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"caf\u00e9 \"hi\"\n"}],"stream":true,"#
                + #""stream_options":{"include_usage":false},"seed":12345678901234567890,"t":0.7}"#,
            #"{"id":"chatcmpl-1","choices":[{"index":0,"message":{"role":"assistant","content":"é😀"},"#
                + #""finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#,
        ]
        let alphabet = Array(#"{}[]":,\"0123456789.eE+-tfnul \ "#.utf8) + [0x00, 0x1F, 0x80, 0xC3, 0xFF]
        var rng = SplitMix(seed: 42)
        for seed in seeds {
            let base = Array(seed.utf8)
            Self.expectSameVerdict(base)
            for _ in 0..<1500 {
                var bytes = base
                let i = Int(rng.next() % UInt64(bytes.count))
                switch rng.next() % 3 {
                case 0: bytes[i] = alphabet[Int(rng.next() % UInt64(alphabet.count))]
                case 1: bytes.remove(at: i)
                default: bytes.insert(alphabet[Int(rng.next() % UInt64(alphabet.count))], at: i)
                }
                Self.expectSameVerdict(bytes)
            }
        }
    }

    /// The value at `reader` (in a container `depth` deep), its containers stepped through and
    /// their scalars skipped, then parsed from the bytes the reader passed over.
    static func read(_ reader: inout JSONReader, depth: Int) throws(JSONParseError) -> JSON {
        let b = reader.bytes
        switch reader.next {
        case UInt8(ascii: "{"):
            var object = try reader.open(depth: depth + 1)
            var members = JSONObject()
            while let key = try reader.nextKey(&object) {
                var quoted: [UInt8] = [0x22]
                quoted += b[key.text]
                quoted.append(0x22)
                let name = try JSON.parse(quoted).stringValue ?? ""
                #expect(key.named("model", in: b) == (name == "model"))
                members[name] = try read(&reader, depth: object.depth)
            }
            return .object(members)
        case UInt8(ascii: "["):
            var array = try reader.open(depth: depth + 1)
            var elements: [JSON] = []
            while try reader.nextElement(&array) { elements.append(try read(&reader, depth: array.depth)) }
            return .array(elements)
        default:
            let start = reader.index
            try reader.skipValue(depth: depth)
            return try JSON.parse(UnsafeBufferPointer(rebasing: b[start..<reader.index]))
        }
    }

    static func expectSameVerdict(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
        let tree = try? JSON.parse(bytes)
        let skim: [JSONMember]??
        do {
            skim = .some(try JSON.members(of: bytes))
        } catch {
            skim = .none
        }
        #expect(
            (tree != nil) == (skim != nil), "\(String(decoding: bytes, as: UTF8.self))", sourceLocation: sourceLocation)
        // The visiting form sees the same members and gives the same verdict, without the array.
        var visited: [JSONMember] = []
        let isObject = bytes.withUnsafeBufferPointer { b in
            try? JSON.forEachMember(of: b) { visited.append($0) }
        }
        #expect(isObject.map { $0 ? visited : nil } == skim, sourceLocation: sourceLocation)
        // A reader stepping into every object and array gives the same verdict and the same tree.
        let read: JSON? = bytes.withUnsafeBufferPointer { b in
            var reader = JSONReader(b)
            do throws(JSONParseError) {
                let value = try Self.read(&reader, depth: 0)
                try reader.finish()
                return value
            } catch {
                return nil
            }
        }
        #expect(read == tree, "\(String(decoding: bytes, as: UTF8.self))", sourceLocation: sourceLocation)
        guard case .object(let object)? = tree, case .some(let members?) = skim else {
            if case .object? = tree { Issue.record("an object without members", sourceLocation: sourceLocation) }
            return
        }
        var values: [String: JSON] = [:]
        for m in members {
            var quoted: [UInt8] = [0x22]
            quoted += bytes[m.key]
            quoted.append(0x22)
            guard let key = (try? JSON.parse(quoted))?.stringValue, let value = try? JSON.parse(Array(bytes[m.value]))
            else {
                Issue.record("member bytes do not parse", sourceLocation: sourceLocation)
                return
            }
            values[key] = value
        }
        #expect(values.count == object.count, sourceLocation: sourceLocation)
        for entry in object { #expect(values[entry.key] == entry.value, sourceLocation: sourceLocation) }
    }
}
