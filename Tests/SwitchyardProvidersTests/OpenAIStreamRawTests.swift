import SwitchyardCore
import SwitchyardProviders
import Testing

/// The OpenAI stream decoder hands each chunk on as it came (`raw`), for the passthrough to write
/// as `data: <raw>`. An event may carry its JSON over several `data:` lines, which the SSE rules
/// join with line feeds; forwarded as they were, those line feeds would end the `data:` line early
/// and the client would drop the chunk (found by the `stream-openai` fuzz target: an empty `data:`
/// line before a usage chunk). Such a chunk is forwarded on one line.
@Suite struct OpenAIStreamRawTests {
    static let usage =
        #"{"id":"c","object":"chat.completion.chunk","choices":[],"#
        + #""usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}"#
    static let delta =
        #"{"id":"c","object":"chat.completion.chunk","#
        + #""choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}"#

    /// `chunk` as one event of two `data:` lines, split after its first member.
    static func twoLines(_ chunk: String) -> String {
        let cut = chunk.firstIndex(of: ",")!
        return "data: \(chunk[..<cut])\ndata: \(chunk[cut...])\n\n"
    }

    static func raws(_ body: String) -> [[UInt8]] {
        var decoder = OpenAIStreamDecoder()
        return (decoder.feed(Array(body.utf8)) + decoder.finish()).compactMap { event in
            switch event {
            case .choices(_, let raw?), .usage(_, let raw?): Array(raw.bytes)
            default: nil
            }
        }
    }

    @Test(arguments: [
        ("data: \ndata: \(usage)\n\n", usage),  // the fuzz finding: an empty first line
        (twoLines(usage), usage),
        ("data: \ndata: \(delta)\n\n", delta),
        (twoLines(delta), delta),
    ])
    func aChunkOnSeveralDataLinesIsForwardedOnOne(body: String, chunk: String) throws {
        let raws = Self.raws(body)
        #expect(raws.count == 1)
        let raw = try #require(raws.first)
        #expect(!raw.contains(0x0A) && !raw.contains(0x0D))
        #expect(try JSON.parse(raw) == JSON.parse(Array(chunk.utf8)))
    }

    @Test func aChunkOnOneLineIsForwardedByteForByte() {
        #expect(Self.raws("data: \(Self.delta)\n\n") == [Array(Self.delta.utf8)])
        #expect(Self.raws("data: \(Self.usage)\n\n") == [Array(Self.usage.utf8)])
    }
}
