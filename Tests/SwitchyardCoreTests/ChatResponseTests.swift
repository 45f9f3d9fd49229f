import SwitchyardTestSupport
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

    /// Strings for generated answers: escapes at every offset of an 8-byte word, non-ASCII text,
    /// and long ones (over `BoundedWriter.bound`'s 64 bytes, whose escapes are counted) made of
    /// nothing but six-byte escapes.
    static let strings: [String] = {
        var out = [
            "", "a", "Hello! How can I help you today?", "benchmark reply", "chatcmpl-bench0001", "gpt-4o-mini",
            "Zürich 😀 e\u{301} \u{2028}\u{2029} \u{7F}", #"{"city":"Zürich","note":"a\"b\\c"}"#,
            "tab\there\nnew\rline\u{8}\u{C}", "\u{0}\u{1}\u{1F}\u{20}", String(repeating: "\u{1}", count: 300),
            String(repeating: "é\"", count: 200), String(repeating: "plain text ", count: 100),
        ]
        for escape in ["\"", "\\", "\n", "\u{1}", "\u{1F}", "é"] {
            for offset in 0..<18 { out.append(String(repeating: "x", count: offset) + escape + "yz") }
        }
        return out
    }()

    static func generated(_ r: inout SplitMix) -> ChatResponse {
        func string() -> String { r.pick(strings) }
        func optional() -> String? { r.chance(30) ? nil : string() }
        func int() -> Int {
            r.pick([0, 7, -1, 42, 1_732_550_400, Int.max, Int.min, Int(truncatingIfNeeded: r.next())])
        }
        let reasons: [FinishReason?] = [nil, .stop, .length, .toolCalls, .contentFilter, .functionCall]
        var choices: [ChatChoice] = []
        for _ in 0..<(r.next() % 3) {
            var calls: [ToolCall] = []
            for _ in 0..<(r.chance(30) ? r.next() % 3 + 1 : 0) {
                calls.append(ToolCall(id: string(), name: string(), arguments: string()))
            }
            choices.append(
                ChatChoice(
                    index: int(), content: optional(), toolCalls: calls, refusal: r.chance(20) ? string() : nil,
                    finishReason: r.pick(reasons),
                    logprobs: r.chance(10) ? ["content": [["token": .string(string()), "logprob": -0.5]]] : nil))
        }
        let usage: Usage? =
            r.chance(20)
            ? nil
            : Usage(
                promptTokens: int(), completionTokens: int(), totalTokens: int(),
                cachedTokens: r.chance(50) ? int() : nil, cacheWriteTokens: r.chance(50) ? int() : nil,
                reasoningTokens: r.chance(50) ? int() : nil)
        return ChatResponse(
            id: string(), created: int(), model: string(), choices: choices, usage: usage,
            systemFingerprint: r.chance(50) ? string() : nil)
    }

    /// The answer is written by a `BoundedWriter` (into 1 KiB on the stack, or an array of
    /// `writtenBound` bytes for a longer one): over generated answers (tool calls, refusals, logprobs, every finish reason and usage
    /// detail, escapes, non-ASCII and long strings, extreme numbers) the bytes are the tree's,
    /// within the bound.
    @Test func boundedWriterEqualsTheTreeOverGeneratedAnswers() {
        var r = SplitMix(seed: 17)
        var short = 0
        for _ in 0..<3000 {
            let response = Self.generated(&r)
            if response.writtenBound <= 1024 { short += 1 }
            let direct = response.serialized()
            #expect(direct == response.json.serialized())
            #expect(direct.count <= response.writtenBound)
            var grown: [UInt8] = []
            response.write(into: &grown)
            #expect(grown == direct)
        }
        #expect(short > 300 && short < 2700)
    }

    /// `JSON.writeString` writes what a byte-by-byte escaper writes, into an array or a bounded
    /// writer (escapes near every offset of a word, runs of every length), within
    /// `BoundedWriter.bound`, which reads the string eight bytes at a time.
    @Test func writtenStringsEscapeAsByteByByte() {
        func reference(_ s: String) -> [UInt8] {
            var out: [UInt8] = [0x22]
            for b in s.utf8 {
                switch b {
                case 0x22: out += Array(#"\""#.utf8)
                case 0x5C: out += Array(#"\\"#.utf8)
                case 0x0A: out += Array(#"\n"#.utf8)
                case 0x0D: out += Array(#"\r"#.utf8)
                case 0x09: out += Array(#"\t"#.utf8)
                case 0x08: out += Array(#"\b"#.utf8)
                case 0x0C: out += Array(#"\f"#.utf8)
                case 0..<0x20:
                    let hex = Array("0123456789abcdef".utf8)
                    out += Array(#"\u00"#.utf8) + [hex[Int(b >> 4)], hex[Int(b & 0xF)]]
                default: out.append(b)
                }
            }
            return out + [0x22]
        }
        var strings = Self.strings
        var r = SplitMix(seed: 5)
        let bytes: [UInt8] = [0, 1, 0x1F, 0x20, 0x21, 0x22, 0x23, 0x5B, 0x5C, 0x5D, 0x7F, 0x41, 0x0A]
        for _ in 0..<2000 {
            let n = Int(r.next() % 100)
            let escapes = r.chance(50)
            strings.append(
                String(
                    decoding: (0..<n).map { _ in escapes ? r.pick(bytes) : r.pick([0x20, 0x41, 0x7E, 0xC3, 0xA9]) },
                    as: UTF8.self))
        }
        for s in strings {
            var out: [UInt8] = []
            JSON.writeString(s, to: &out)
            #expect(out == reference(s), "\(Array(s.utf8))")
            // The bound holds, and is the exact length for a string with nothing to escape (8
            // bytes or more) or a long one.
            let bound = BoundedWriter.bound(s)
            #expect(bound >= out.count)
            if s.utf8.count >= 8, out.count == s.utf8.count + 2 || s.utf8.count > 64 { #expect(bound == out.count) }
            let bounded = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: BoundedWriter.bound(s)) { buffer in
                var w = BoundedWriter(buffer)
                JSON.writeString(s, into: &w)
                return Array(UnsafeBufferPointer(rebasing: buffer[..<w.count]))
            }
            #expect(bounded == out)
        }
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
