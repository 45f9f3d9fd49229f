import Testing

@testable import SwitchyardCore

/// A forwarded chunk's members read from its text agree with its parsed object.
@Suite struct RawChunkTests {
    @Test func valuesReadFromTheTextAreTheObjectsValues() throws {
        let texts = [
            #"{"id":"a","object":"chat.completion.chunk","created":1,"choices":[{"index":0}]}"#,
            #"{"id":"a","id":{"n":[1,2]},"\u0063reated":-2.5e1,"type":null}"#,
            #"{}"#, #"[1]"#, #""s""#, #"{"id":"#, "",
        ]
        let keys: [StaticString] = ["type", "id", "object", "created", "choices"]
        for text in texts {
            let fromBytes = RawChunk(bytes: Array(text.utf8))
            let expected = keys.map { RawChunk(bytes: Array(text.utf8))["\($0)"] }
            #expect(fromBytes.values(keys) == expected, "\(text)")
            // Once the object is built (or when the chunk was made from one) it is read instead.
            _ = fromBytes.object
            #expect(fromBytes.values(keys) == expected, "\(text)")
            #expect(RawChunk(fromBytes.object).values(keys) == expected, "\(text)")
        }
    }
}
