import SwitchyardCore
import SwitchyardProviders
import Testing

/// An OpenAI stream is complete once every choice it showed has a finish reason, whatever the
/// choices' indexes (the decoder keeps small ones as bits, others in sets).
@Suite struct OpenAIStreamCompletenessTests {
    static func chunk(_ index: Int, finish: Bool) -> [UInt8] {
        let reason = finish ? #""stop""# : "null"
        return Array(
            (#"data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":\#(index),"delta":{"content":"x"},"#
                + #""finish_reason":\#(reason)}]}"# + "\n\n").utf8)
    }

    /// Whether the decoder is complete after each chunk of `chunks` (index, with a finish reason).
    static func completeness(_ chunks: [(Int, Bool)]) -> [Bool] {
        var decoder = OpenAIStreamDecoder()
        return chunks.map { index, finish in
            _ = decoder.feed(chunk(index, finish: finish))
            return decoder.isComplete
        }
    }

    @Test(arguments: [
        ([(0, false), (0, true)], [false, true]),
        ([(0, false), (1, false), (0, true), (1, true)], [false, false, false, true]),
        ([(70, false), (0, true), (70, true)], [false, false, true]),
        ([(0, false), (70, true), (0, true)], [false, false, true]),
        ([(63, true), (64, false), (64, true)], [true, false, true]),
        ([(-1, true)], [true]),
        ([(-1, false), (0, true)], [false, false]),
        ([(2, false), (5, false)], [false, false]),
    ])
    func completeOnceEveryChoiceSeenHasFinished(chunks: [(Int, Bool)], expected: [Bool]) {
        #expect(Self.completeness(chunks) == expected)
    }
}
