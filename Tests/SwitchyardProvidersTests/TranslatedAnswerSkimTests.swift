import SwitchyardCore
import SwitchyardTestSupport
import Testing

@testable import SwitchyardProviders

/// A translated plain-text answer is read from its bytes in one pass (`skimmed`) instead of a
/// parsed tree: over generated answers of every shape, whatever the skim reads equals what the
/// tree gives, byte for byte once written, and it leaves every other shape (and every error) to
/// the tree.
@Suite struct TranslatedAnswerSkimTests {

    static let strings = [
        #""benchmark reply""#, #""""#, #"" ""#, #""line\nbreak \"quoted\" \\ \/""#, #""caf\u00e9 \ud83d\ude00""#,
        #""Zürich 😀""#, "12", "null", "true", #"{"a":1}"#, #"["x"]"#, #""\t""#,
    ]
    static let counts = ["0", "7", "-3", "2.0", "1e2", #""5""#, "null", "123456789012345678901", "[1]", "-0"]

    static func members(_ r: inout SplitMix, _ pool: [(String, [String])], extra: Bool = true) -> String {
        var out: [String] = []
        for (key, values) in pool where r.chance(80) {
            out.append(#""\#(key)":\#(r.pick(values))"#)
            if r.chance(8) { out.append(#""\#(key)":\#(r.pick(values))"#) }  // a repeated key: the last counts
        }
        if extra, r.chance(30) { out.append(#""x_unknown":{"nested":[1,{"y":"z"}],"e":"\u0041"}"#) }
        // Shuffled, so every key comes first, last and in between.
        for i in out.indices.reversed() where i > 0 { out.swapAt(i, Int(r.next() % UInt64(i + 1))) }
        return "{" + out.joined(separator: r.chance(20) ? " , " : ",") + "}"
    }

    // MARK: Anthropic

    static func anthropicBlock(_ r: inout SplitMix) -> String {
        switch r.next() % 10 {
        case 0: return #"{"type":"thinking","thinking":"hmm","signature":"s"}"#
        case 1: return r.pick(["1", #""text""#, "null", "[]"])
        case 2: return #"{"type":"t\u0065xt","text":\#(r.pick(strings))}"#
        case 3: return #"{"text":"first","type":"text","text":\#(r.pick(strings))}"#
        case 4: return #"{"type":\#(r.pick(["null", "3", #""redacted_thinking""#, #""server_tool_use""#]))}"#
        case 5: return #"{"type":"text"}"#
        default: return #"{"type":"text","text":\#(r.pick(strings))}"#
        }
    }

    static func anthropicAnswer(_ r: inout SplitMix) -> String {
        let blocks = (0..<Int(r.next() % 4)).map { _ in anthropicBlock(&r) }
        let usage = members(
            &r,
            [
                ("input_tokens", counts), ("output_tokens", counts), ("cache_creation_input_tokens", counts),
                ("cache_read_input_tokens", counts),
            ], extra: false)
        return members(
            &r,
            [
                ("id", [#""msg_1""#]), ("type", [#""message""#]), ("role", [#""assistant""#]),
                ("model", [#""claude-3-5-haiku-latest""#, #""cl\u0061ude""#, "null", "4"]),
                ("content", ["[" + blocks.joined(separator: ",") + "]"]),
                ("stop_reason", [#""end_turn""#, #""max_tokens""#, #""refusal""#, #""tool_use""#, "null", #""new""#]),
                ("stop_sequence", ["null", #""END""#]),
                ("usage", [usage, "null", "[]", #"{"input_tokens":1,"input_tokens":9}"#]),
            ])
    }

    static func anthropicTree(_ body: [UInt8]) -> ChatResponse? {
        try? AnthropicResponseDecoder(forcedJSON: false).decodeTree(
            body, target: AnthropicFixtures.target(), id: "chatcmpl-x", created: 7)
    }

    @Test func anthropicSkimEqualsTheTree() {
        var r = SplitMix(seed: 17)
        var skimmed = 0
        for _ in 0..<4000 {
            let body = Array(Self.anthropicAnswer(&r).utf8)
            let tree = Self.anthropicTree(body)
            guard
                let skim = AnthropicResponseDecoder.skimmed(
                    body, target: AnthropicFixtures.target(), id: "chatcmpl-x", created: 7)
            else { continue }
            skimmed += 1
            #expect(skim == tree, "\(String(decoding: body, as: UTF8.self))")
            #expect(skim.serialized() == tree?.serialized())
        }
        // Most generated answers are plain text: the skim, not the tree, reads them.
        #expect(skimmed > 2000)
    }

    @Test(arguments: [
        #"{"id":"msg_mock","type":"message","role":"assistant","model":"claude-3-5-haiku-latest","content":[{"type":"text","text":"benchmark reply"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":32,"output_tokens":2}}"#,
        #" { "content" : [ ] , "model" : "m" } "#,
        #"{"content":[{"type":"thinking","thinking":"x"},{"type":"text","text":"a"},{"type":"text","text":"b"}]}"#,
    ])
    func anthropicPlainAnswersAreSkimmed(_ answer: String) {
        let body = Array(answer.utf8)
        let skim = AnthropicResponseDecoder.skimmed(
            body, target: AnthropicFixtures.target(), id: "chatcmpl-x", created: 7)
        #expect(skim != nil)
        #expect(skim == Self.anthropicTree(body))
    }

    /// Tool calls, the forced JSON tool and every malformed answer are the tree's.
    @Test(arguments: [
        #"{"content":[{"type":"text","text":"a"},{"type":"tool_use","id":"t","name":"f","input":{}}]}"#,
        #"{"content":{"type":"text","text":"a"}}"#, #"{"content":[],"content":{}}"#, #"{"model":"m"}"#,
        #"[{"content":[]}]"#, #"{"content":[]"#, #"{"content":[]} x"#, "", "null",
        #"{"content":[{"type":"text","text":"\ud800"}]}"#,
    ])
    func anthropicOtherShapesAreLeftToTheTree(_ answer: String) throws {
        let body = Array(answer.utf8)
        #expect(
            AnthropicResponseDecoder.skimmed(body, target: AnthropicFixtures.target(), id: "i", created: 1) == nil)
        let request = try AnthropicFixtures.request(#"{"model":"m","messages":[{"role":"user","content":"Hi"}]}"#)
        let viaCodec = try? AnthropicCodec().decodeResponse(
            body, request: request, target: AnthropicFixtures.target(), id: "i", created: 1
        ).response
        #expect(
            viaCodec
                == (try? AnthropicResponseDecoder(forcedJSON: false).decodeTree(
                    body, target: AnthropicFixtures.target(), id: "i", created: 1)))
    }

    // MARK: Gemini

    static func geminiPart(_ r: inout SplitMix) -> String {
        switch r.next() % 9 {
        case 0: return #"{"text":"thinking...","thought":\#(r.pick(["true", "false", "null", "1"]))}"#
        case 1: return #"{"text":\#(r.pick(strings)),"thoughtSignature":"c2ln"}"#
        case 2: return #"{"inlineData":{"mimeType":"image/png","data":"AA=="}}"#
        case 3: return #"{"te\u0078t":\#(r.pick(strings)),"text":\#(r.pick(strings))}"#
        default: return #"{"text":\#(r.pick(strings))}"#
        }
    }

    static func geminiCandidate(_ r: inout SplitMix) -> String {
        let parts = (0..<Int(r.next() % 4)).map { _ in geminiPart(&r) }
        return members(
            &r,
            [
                (
                    "content",
                    [
                        #"{"role":"model","parts":[\#(parts.joined(separator: ","))]}"#, #"{"role":"model"}"#,
                        #"{"parts":[],"parts":[\#(parts.joined(separator: ","))]}"#,
                    ]
                ),
                ("index", ["0", "1", "3", "null", #""2""#, "1.0"]),
                (
                    "finishReason",
                    [#""STOP""#, #""MAX_TOKENS""#, #""SAFETY""#, #""IMAGE_OTHER""#, #""OTHER""#, "null", "5"]
                ),
                ("safetyRatings", [#"[{"category":"HARM_CATEGORY_HARASSMENT","probability":"NEGLIGIBLE"}]"#]),
                ("avgLogprobs", ["-0.1"]),
            ])
    }

    static func geminiAnswer(_ r: inout SplitMix) -> String {
        let candidates = (0..<(1 + Int(r.next() % 2))).map { _ in geminiCandidate(&r) }
        let usage = members(
            &r,
            [
                ("promptTokenCount", counts), ("candidatesTokenCount", counts), ("totalTokenCount", counts),
                ("thoughtsTokenCount", counts), ("cachedContentTokenCount", counts),
                ("toolUsePromptTokenCount", counts),
            ], extra: false)
        return members(
            &r,
            [
                ("candidates", ["[" + candidates.joined(separator: ",") + "]"]),
                ("usageMetadata", [usage, "null", "7"]),
                ("modelVersion", [#""gemini-2.0-flash""#, #""gem\u0069ni""#, "null", "2"]),
                ("responseId", [#""r-1""#]),
            ])
    }

    static let geminiTarget = TargetContext(providerName: "gemini", upstreamModel: "gemini-2.0-flash", idSeed: "s")

    static func geminiTree(_ body: [UInt8]) -> ChatResponse? {
        try? GeminiCodec().decodeTree(body, target: geminiTarget, id: "chatcmpl-x", created: 7)
    }

    @Test func geminiSkimEqualsTheTree() {
        var r = SplitMix(seed: 29)
        var skimmed = 0
        for _ in 0..<4000 {
            let body = Array(Self.geminiAnswer(&r).utf8)
            let tree = Self.geminiTree(body)
            guard
                let skim = GeminiResponseDecoder.skimmed(body, target: Self.geminiTarget, id: "chatcmpl-x", created: 7)
            else { continue }
            skimmed += 1
            #expect(skim == tree, "\(String(decoding: body, as: UTF8.self))")
            #expect(skim.serialized() == tree?.serialized())
        }
        #expect(skimmed > 2000)
    }

    @Test(arguments: [
        #"{"candidates":[{"content":{"role":"model","parts":[{"text":"benchmark reply"}]},"index":0,"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":32,"candidatesTokenCount":2,"totalTokenCount":34},"modelVersion":"gemini-2.0-flash"}"#,
        #"{"candidates":[{"content":{"parts":[{"text":"a","thought":true},{"text":""}]},"finishReason":"SAFETY"}]}"#,
        #" {"candidates" : [ {"content":{"parts":[]}} , {"index":4} ] } "#,
    ])
    func geminiPlainAnswersAreSkimmed(_ answer: String) {
        let body = Array(answer.utf8)
        let skim = GeminiResponseDecoder.skimmed(body, target: Self.geminiTarget, id: "chatcmpl-x", created: 7)
        #expect(skim != nil)
        #expect(skim == Self.geminiTree(body))
    }

    /// Function calls, logprobs, errors, blocked prompts and every malformed answer are the tree's.
    @Test(arguments: [
        #"{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{}}}]}}]}"#,
        #"{"candidates":[{"content":{"parts":[{"text":"a"}]},"logprobsResult":{"chosenCandidates":[]}}]}"#,
        #"{"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED"}}"#,
        #"{"candidates":[{"content":{"parts":[{"text":"a"}]}}],"error":"x"}"#,
        #"{"candidates":[],"promptFeedback":{"blockReason":"SAFETY"}}"#, #"{"promptFeedback":{"blockReason":"X"}}"#,
        #"{"candidates":[1]}"#, #"{"candidates":[{"content":[]}]}"#, #"{"candidates":[{"content":{"parts":{}}}]}"#,
        #"{"candidates":[{"content":{"parts":[7]}}]}"#, #"[{"error":{"code":500}}]"#, #"{"candidates":[]"#, "", "{}",
    ])
    func geminiOtherShapesAreLeftToTheTree(_ answer: String) throws {
        let body = Array(answer.utf8)
        #expect(GeminiResponseDecoder.skimmed(body, target: Self.geminiTarget, id: "i", created: 1) == nil)
        let request = try ChatRequest.parse(
            body: Array(#"{"model":"m","messages":[{"role":"user","content":"Hi"}]}"#.utf8))
        let viaCodec = try? GeminiCodec().decodeResponse(
            body, request: request, target: Self.geminiTarget, id: "i", created: 1
        ).response
        #expect(viaCodec == (try? GeminiCodec().decodeTree(body, target: Self.geminiTarget, id: "i", created: 1)))
    }
}
