import SwitchyardCore
import SwitchyardTestSupport
import Testing

@testable import SwitchyardProviders

/// A plain conversation is encoded for Anthropic and Gemini straight to bytes (`plainBody`)
/// instead of through a tree: over generated Chat Completions requests, whatever the direct
/// writer encodes is byte for byte the tree's serialisation, it rejects what the tree rejects with
/// the same error, and it leaves every other request to the tree.
@Suite struct TranslatedRequestDirectTests {

    static let texts = [
        #""Say something short about benchmarks.""#, #""""#, #""   ""#, #""\n\t ""#, #""trailing  \n""#,
        #""\u00a0\u2003""#, #""end\u2003""#, #""quote \" backslash \\ ctl \u0001 😀 Zürich""#, "null",
        #""a\r\n""#, #""é""#,
    ]

    static func message(_ r: inout SplitMix) -> String {
        let content = r.chance(10) ? #"[{"type":"text","text":"part"}]"# : r.pick(texts)
        switch r.next() % 12 {
        case 0, 1: return #"{"role":"system","content":\#(content)}"#
        case 2: return #"{"role":"developer","content":\#(content)}"#
        case 3, 4, 5:
            let refusal = r.chance(15) ? #","refusal":\#(r.pick([#""no""#, #""""#, #"" ""#]))"# : ""
            return #"{"role":"assistant","content":\#(content)\#(refusal)}"#
        case 6:
            return
                #"{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]}"#
        case 7: return #"{"role":"tool","tool_call_id":"c1","content":"42"}"#
        default: return #"{"role":"user","content":\#(content),"name":"n"}"#
        }
    }

    static func request(_ r: inout SplitMix) -> String {
        let messages = (0..<(1 + Int(r.next() % 5))).map { _ in message(&r) }
        var members = [#""model":"bench""#, #""messages":[\#(messages.joined(separator: ","))]"#]
        let options: [[String]] = [
            [#""max_tokens":64"#, #""max_completion_tokens":7"#, #""max_tokens":1,"max_completion_tokens":2"#],
            [#""temperature":0.70"#, #""temperature":1"#, #""temperature":1.5"#, #""temperature":0"#],
            [#""top_p":0.9"#, #""top_p":1"#],
            [#""stop":"END""#, #""stop":[" ","\n","STOP"]"#, #""stop":["\t"]"#, #""stop":[]"#],
            [#""user":"user-123""#, #""user":"a@b.c""#, #""safety_identifier":"sid""#],
            [#""stream":true"#, #""stream":false"#],
            [#""n":1"#, #""n":2"#, #""logprobs":true"#, #""logit_bias":{"1":2}"#, #""seed":12345678901234567890"#],
            [
                #""tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{}}}}]"#,
                #""tool_choice":"none""#,
            ],
            [
                #""response_format":{"type":"json_object"}"#, #""response_format":{"type":"text"}"#,
                #""response_format":{"type":"json_schema","json_schema":{"name":"s","schema":{"type":"object"}}}"#,
            ],
            [#""presence_penalty":0.5"#, #""frequency_penalty":-1"#, #""top_k":3"#, #""functions":[]"#],
        ]
        for choices in options where r.chance(35) { members.append(r.pick(choices)) }
        return "{" + members.joined(separator: ",") + "}"
    }

    /// The bytes (or the error) of an encoding; nil when the direct writer left the request to the tree.
    /// As text, so a mismatch reads.
    static func outcome(_ encode: () throws(APIError) -> [UInt8]?) -> Result<String, APIError>? {
        do throws(APIError) {
            return try encode().map { .success(String(decoding: $0, as: UTF8.self)) }
        } catch {
            return .failure(error)
        }
    }

    @Test func anthropicDirectBodyEqualsTheTree() throws {
        var r = SplitMix(seed: 41)
        var direct = 0
        var parsed = 0
        for _ in 0..<6000 {
            let text = Self.request(&r)
            guard let request = try? ChatRequest.parse(body: Array(text.utf8)) else { continue }
            parsed += 1
            var target = AnthropicFixtures.target(clampTemperature: r.chance(50), defaultMaxTokens: 1000)
            if r.chance(20) { target.upstreamModel = #"claude "x"\ 3"# }
            let encoder = AnthropicRequestEncoder(request: request, target: target)
            let tree = Self.outcome { () throws(APIError) in try encoder.body().serialized() }
            guard let fast = Self.outcome({ () throws(APIError) in try encoder.plainBody() }) else { continue }
            direct += 1
            #expect(fast == tree, "\(text)")
            // Through the codec, the same bytes.
            if case .success(let text) = fast {
                #expect(try AnthropicCodec().encode(request, for: target).body == Array(text.utf8))
            }
        }
        #expect(parsed > 4000)
        #expect(direct > 1500)
    }

    @Test func geminiDirectBodyEqualsTheTree() throws {
        var r = SplitMix(seed: 43)
        var direct = 0
        var parsed = 0
        for _ in 0..<6000 {
            let text = Self.request(&r)
            guard let request = try? ChatRequest.parse(body: Array(text.utf8)) else { continue }
            parsed += 1
            let model = r.pick(["gemini-2.0-flash", "models/gemini-2.5-pro", "gemini-3-pro"])
            let encoder = GeminiRequestEncoder(request: request, model: model)
            let tree = Self.outcome { () throws(APIError) in try encoder.body().serialized() }
            guard let fast = Self.outcome({ () throws(APIError) in try encoder.plainBody() }) else { continue }
            direct += 1
            #expect(fast == tree, "\(text)")
            if case .success(let text) = fast {
                let target = TargetContext(providerName: "gemini", upstreamModel: model)
                #expect(try GeminiCodec().encode(request, for: target).body == Array(text.utf8))
            }
        }
        #expect(parsed > 4000)
        #expect(direct > 1500)
    }

    /// The Anthropic encoder's whitespace check reads ASCII bytes and hands anything else to
    /// `Character.isWhitespace`: over ASCII and Unicode whitespace (NBSP, NEL, line and paragraph
    /// separators, ideographic space), characters that are not (zero-width space, BOM), combining
    /// marks on a space or a letter, CR LF, and prepended marks, alone and joined, it answers as
    /// `allSatisfy(\.isWhitespace)` does.
    @Test func anthropicWhitespaceCheckIsCharacterSemantics() {
        let pieces = [
            "", " ", "\t", "\n", "\r", "\r\n", "\u{B}", "\u{C}", "\u{1F}", "\u{7F}", "a", "Z", "0", ".", "\u{0}",
            "\u{85}", "\u{A0}", "\u{1680}", "\u{2003}", "\u{2028}", "\u{2029}", "\u{202F}", "\u{3000}", "\u{200B}",
            "\u{FEFF}", "\u{180E}", "\u{301}", " \u{301}", "a\u{301}", "\u{600}", "\u{600} ", "\u{600}a", "é", "😀",
            "\u{1F1E6}", "\u{200D}",
        ]
        var cases = pieces
        var r = SplitMix(seed: 29)
        for _ in 0..<4000 {
            cases.append((0..<(r.next() % 6)).map { _ in r.pick(pieces) }.joined())
        }
        for s in cases {
            #expect(
                AnthropicRequestEncoder.isAllWhitespace(s) == s.allSatisfy(\.isWhitespace),
                "\(s.unicodeScalars.map { String($0.value, radix: 16) })")
        }
    }

    /// Whether an Anthropic answer arrives through the forced JSON tool is read without making
    /// the mode when the request has no JSON response format: the same answer as the mode's for
    /// every response format, with and without tools and structured outputs.
    @Test func anthropicForcedToolShortcutAgreesWithTheMode() throws {
        let formats = [
            "", #","response_format":{"type":"text"}"#, #","response_format":{"type":"json_object"}"#,
            #","response_format":{"type":"json_schema","json_schema":{"name":"o","schema":{"type":"object"}}}"#,
            #","response_format":{"type":"json_schema","json_schema":{"name":"a","schema":{"type":"array"}}}"#,
        ]
        let tools = #","tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]"#
        var forced = 0
        for format in formats {
            for withTools in [false, true] {
                let request = try ChatRequest.parse(
                    body: Array(
                        #"{"model":"m","messages":[{"role":"user","content":"Hi"}]\#(format)\#(withTools ? tools : "")}"#
                            .utf8))
                for structured in [false, true] {
                    let target = AnthropicFixtures.target(structuredOutputs: structured)
                    let mode = (try? AnthropicJSONMode(request: request, target: target))?.isForcedTool ?? false
                    #expect(AnthropicJSONMode.usesForcedTool(request: request, target: target) == mode)
                    if mode { forced += 1 }
                }
            }
        }
        #expect(forced == 3)
    }

    /// bench/run's request takes the direct writers.
    @Test func benchRequestIsWrittenDirectly() throws {
        let request = try ChatRequest.parse(
            body: Array(
                #"{"model":"bench","messages":[{"role":"user","content":"Say something short about benchmarks."}],"max_tokens":64}"#
                    .utf8))
        let anthropic = AnthropicRequestEncoder(
            request: request, target: TargetContext(providerName: "anthropic", upstreamModel: "claude-3-5-haiku-latest")
        )
        #expect(
            try anthropic.plainBody()
                == Array(
                    #"{"model":"claude-3-5-haiku-latest","max_tokens":64,"messages":[{"role":"user","content":[{"type":"text","text":"Say something short about benchmarks."}]}]}"#
                        .utf8))
        let gemini = GeminiRequestEncoder(request: request, model: "gemini-2.0-flash")
        #expect(
            try gemini.plainBody()
                == Array(
                    #"{"contents":[{"role":"user","parts":[{"text":"Say something short about benchmarks."}]}],"generationConfig":{"maxOutputTokens":64}}"#
                        .utf8))
    }

    /// The codec's usual request is what a translated Anthropic request carries, plain or
    /// streamed, so a target reuses its URL and merged headers (`RouteTarget.usual`).
    @Test func anthropicTranslatedRequestIsTheUsualOne() throws {
        for stream in [false, true] {
            let request = try ChatRequest.parse(
                body: Array(#"{"model":"m","stream":\#(stream),"messages":[{"role":"user","content":"Hi"}]}"#.utf8))
            let encoded = try AnthropicCodec().encode(request, for: AnthropicFixtures.target())
            let usual = try #require(AnthropicCodec().usualRequest(model: "claude-x", stream: stream))
            #expect(encoded.path == usual.path)
            #expect(encoded.headers == usual.headers)
            #expect(encoded.query.isEmpty && usual.query.isEmpty)
        }
    }

    /// Gemini's model is in its path, so its usual request depends on the model and the stream
    /// flag: for every model spelling (a `models/` prefix, a tuned model's slash, characters a
    /// URL would escape, which Gemini's path has always carried as they are), plain and streamed,
    /// a chat request (direct writer or tree) carries exactly the usual path, query and headers.
    @Test func geminiChatRequestIsTheUsualOneForItsModelAndStreamFlag() throws {
        let models = [
            "gemini-2.0-flash", "models/gemini-2.5-pro", "tunedModels/my-model-7", "gemini exp+1?x=ü", "models/",
            "",
        ]
        let bodies = [
            #"{"model":"m","messages":[{"role":"user","content":"Hi"}]}"#,
            #"{"model":"m","messages":[{"role":"user","content":"Hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]}"#,
        ]
        for model in models {
            for stream in [false, true] {
                let usual = try #require(GeminiCodec().usualRequest(model: model, stream: stream))
                for body in bodies {
                    var request = try ChatRequest.parse(body: Array(body.utf8))
                    request.stream = stream
                    let encoded = try GeminiCodec().encode(
                        request, for: TargetContext(providerName: "gemini", upstreamModel: model))
                    #expect(encoded.path == usual.path, "\(model) \(stream)")
                    #expect(encoded.query == usual.query, "\(model) \(stream)")
                    #expect(encoded.headers == usual.headers, "\(model) \(stream)")
                }
            }
        }
        // The path is written straight into a string: what the interpolation wrote.
        let names = [
            "", "models", "models/", "Models/x", "models/gemini-2.5-pro", "models/\u{301}x", "models/ü", "ü/models/",
            "e\u{301}", "tunedModels/t-1", String(repeating: "gemini-long-", count: 20), "models/models/x",
        ]
        for name in names {
            for stream in [false, true] {
                let model = name.hasPrefix("models/") ? name.dropFirst("models/".count) : Substring(name)
                let interpolated = "/v1beta/models/\(model):\(stream ? "streamGenerateContent" : "generateContent")"
                #expect(GeminiCodec.chatPath(model: name, stream: stream) == interpolated)
                #expect(Array(GeminiCodec.chatPath(model: name, stream: stream).utf8) == Array(interpolated.utf8))
            }
        }
        #expect(
            GeminiCodec().usualRequest(model: "models/gemini-2.5-pro", stream: false)
                == UsualRequest(
                    path: "/v1beta/models/gemini-2.5-pro:generateContent",
                    headers: [HeaderField("Content-Type", "application/json")]))
        #expect(
            GeminiCodec().usualRequest(model: "gemini-2.0-flash", stream: true)
                == UsualRequest(
                    path: "/v1beta/models/gemini-2.0-flash:streamGenerateContent", query: "alt=sse",
                    headers: [HeaderField("Content-Type", "application/json")]))
    }
}
