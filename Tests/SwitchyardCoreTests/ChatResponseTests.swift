import Testing

@testable import SwitchyardCore

@Suite struct ChatResponseTests {
    static let responses: [ChatResponse] = [
        ChatResponse(
            id: "chatcmpl-1", created: 1_700_000_000, model: "claude-3-5-haiku-latest",
            choices: [ChatChoice(index: 0, content: "Hello", finishReason: .stop)],
            usage: Usage(promptTokens: 3, completionTokens: 1)),
        ChatResponse(
            id: "id \"quoted\"\n", created: 0, model: "gemini-2.0-flash",
            choices: [
                ChatChoice(
                    index: 0, content: nil,
                    toolCalls: [
                        ToolCall(id: "call_1", name: "get_weather", arguments: #"{"city":"Zürich","note":"a\"b\\c"}"#),
                        ToolCall(id: "call_2", name: "noop", arguments: ""),
                    ], finishReason: .toolCalls),
                ChatChoice(
                    index: 1, content: "tab\there \u{1}ctl \u{1F600}", refusal: "I can't", finishReason: nil,
                    logprobs: ["content": [["token": "a", "logprob": -0.5]]]),
            ],
            usage: Usage(
                promptTokens: 10, completionTokens: 5, totalTokens: 15, cachedTokens: 4, cacheWriteTokens: 2,
                reasoningTokens: 3),
            systemFingerprint: "fp_1"),
        ChatResponse(id: "empty", created: -1, model: "", choices: [], usage: nil),
        ChatResponse(
            id: "x", created: 5, model: "m",
            choices: [ChatChoice(index: 7, content: "", finishReason: .contentFilter)], usage: nil),
    ]

    @Test(arguments: responses)
    func directSerializationEqualsTheTreeSerialization(response: ChatResponse) throws {
        let direct = response.serialized()
        #expect(direct == response.json.serialized())
        // And it parses back to the same tree.
        #expect(try JSON.parse(direct) == response.json)
    }

    /// Numbers are written as digits straight into the answer: the text `String(n)` spells.
    @Test func writtenIntegersSpellWhatStringDoes() {
        var values = Array(-1000...1000) + [Int.min, Int.min + 1, Int.max, Int.max - 1]
        var power = 1
        while power <= Int.max / 10 {
            power *= 10
            values += [power - 1, power, power + 1, -power + 1, -power, -power - 1]
        }
        for n in values {
            var out: [UInt8] = [UInt8(ascii: "x")]
            JSON.writeInt(n, to: &out)
            #expect(out == [UInt8(ascii: "x")] + Array(String(n).utf8), "\(n)")
        }
        var out: [UInt8] = []
        JSON.writeLiteral(#"{"a":"é"}"#, to: &out)
        JSON.writeLiteral("x", to: &out)
        #expect(out == Array(#"{"a":"é"}x"#.utf8))
    }

    /// A translated answer's `usage` is written straight to bytes: the same bytes as its tree,
    /// for every combination of the optional details.
    @Test func usageWrittenDirectlyEqualsItsTree() {
        for cached in [nil, 0, 4] as [Int?] {
            for cacheWrite in [nil, 2] as [Int?] {
                for reasoning in [nil, 0, 3] as [Int?] {
                    let u = Usage(
                        promptTokens: 10, completionTokens: -5, totalTokens: 1 << 40, cachedTokens: cached,
                        cacheWriteTokens: cacheWrite, reasoningTokens: reasoning)
                    var out: [UInt8] = []
                    u.write(to: &out)
                    #expect(out == u.json.serialized())
                }
            }
        }
    }
}

/// A passthrough answer's `usage` is read from its bytes (no tree of the object) exactly as from
/// its parsed value.
@Suite struct UsageBytesTests {
    @Test(arguments: [
        #"{"prompt_tokens":14,"completion_tokens":9,"total_tokens":23}"#,
        #"{"prompt_tokens":3,"completion_tokens":1}"#,
        #"{"prompt_tokens":2.0,"completion_tokens":"x","total_tokens":null}"#,
        #"{"prompt_tokens":1,"prompt_tokens":7,"completion_tokens":2}"#,
        #"{"prompt_tokens":10,"completion_tokens":4,"prompt_tokens_details":{"cached_tokens":6,"cache_write_tokens":1},"completion_tokens_details":{"reasoning_tokens":3}}"#,
        #"{"prompt\u005ftokens":8,"completion_tokens":1, "x":[1,{"y":2}] }"#,
        #"{}"#, "[1]", "12", "null",
        // The counts' digits are read in place; every other number form as the parsed value reads it.
        #"{"prompt_tokens":0,"completion_tokens":-0,"total_tokens":-12}"#,
        #"{"prompt_tokens":123456789012345678,"completion_tokens":-123456789012345678,"total_tokens":1}"#,
        #"{"prompt_tokens":1234567890123456789,"completion_tokens":9223372036854775807,"total_tokens":-9223372036854775808}"#,
        #"{"prompt_tokens":99999999999999999999,"completion_tokens":1e3,"total_tokens":2E+1}"#,
        #"{"prompt_tokens":7.5,"completion_tokens":-1.0e1,"total_tokens":[3]}"#,
    ])
    func bytesReadAsTheParsedValue(_ text: String) throws {
        let bytes = Array(text.utf8)
        let fromValue = Usage(openAI: try JSON.parse(bytes))
        let fromBytes = bytes.withUnsafeBufferPointer { Usage(openAIBytes: $0) }
        #expect(fromBytes == fromValue)
    }
}
