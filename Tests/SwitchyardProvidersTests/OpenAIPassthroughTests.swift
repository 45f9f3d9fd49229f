import SwitchyardCore
import Testing

@testable import SwitchyardProviders

/// A Chat Completions passthrough forwards the client's bytes with only `model` replaced, and
/// reads an answer without building it: profiling found the tree round trip of every body a
/// leading cost of a proxied request (README, "Hot path").
@Suite struct OpenAIPassthroughTests {
    static let target = TargetContext(providerName: "openai", upstreamModel: "gpt-4o-mini-2024-07-18")

    static func encode(_ body: String) throws -> String {
        let request = try ChatRequest.parse(body: Array(body.utf8))
        return String(decoding: try OpenAICodec().encode(request, for: Self.target).body, as: UTF8.self)
    }

    @Test func everyByteButTheModelValueIsForwardedAsSent() throws {
        let body =
            #"{ "messages" : [{"role":"user","content":"caf\u00e9 \/ \"q\""}], "model": "smart" ,"seed":7, "x_id":12345678901234567890, "t":1.50 }"#
        #expect(try Self.encode(body) == body.replacing(#""smart""#, with: #""gpt-4o-mini-2024-07-18""#))
    }

    @Test func aStreamGetsTheUsageOptionAppendedOnlyWhenItSentNone() throws {
        let plain = #"{"model":"smart","stream":true,"messages":[{"role":"user","content":"hi"}]}"#
        #expect(
            try Self.encode(plain)
                == #"{"model":"gpt-4o-mini-2024-07-18","stream":true,"messages":[{"role":"user","content":"hi"}],"stream_options":{"include_usage":true}}"#
        )
        let asking =
            #"{"model":"smart","stream":true,"stream_options":{ "include_usage":true },"messages":[{"role":"user","content":"hi"}]}"#
        #expect(try Self.encode(asking) == asking.replacing(#""smart""#, with: #""gpt-4o-mini-2024-07-18""#))
        // Anything else about stream_options is rewritten through the parsed body, as before.
        let declining =
            #"{"model":"smart","stream":true,"stream_options":{"include_usage":false},"messages":[{"role":"user","content":"hi"}]}"#
        let sent = try JSON.parse(Array(try Self.encode(declining).utf8))
        #expect(sent["stream_options"] == ["include_usage": true])
        #expect(sent["model"] == "gpt-4o-mini-2024-07-18")
    }

    @Test func aDuplicateModelIsNotForwardedForTheUpstreamToReadDifferently() throws {
        let body = #"{"model":"decoy","messages":[{"role":"user","content":"hi"}],"model":"smart"}"#
        #expect(
            try Self.encode(body) == #"{"model":"gpt-4o-mini-2024-07-18","messages":[{"role":"user","content":"hi"}]}"#)
    }

    @Test func anEditedRequestIsSerialisedFromItsTree() throws {
        var request = try ChatRequest.parse(
            body: Array(#"{ "model":"smart", "messages":[{"role":"user","content":"hi"}]}"#.utf8))
        request.raw["metadata"] = ["k": "v"]
        let sent = String(decoding: try OpenAICodec().encode(request, for: Self.target).body, as: UTF8.self)
        #expect(
            sent
                == #"{"model":"gpt-4o-mini-2024-07-18","messages":[{"role":"user","content":"hi"}],"metadata":{"k":"v"}}"#
        )
    }

    /// The parse notes where `model` and `stream_options` lie (`ChatRequest.rawLayout`) and the
    /// splice reads them from there instead of scanning the body again: it must splice exactly as
    /// the scan does, for every shape the scan refuses or rewrites too.
    @Test func theParsedLayoutSplicesAsTheScanDoes() throws {
        let bodies = [
            #"{ "messages" : [{"role":"user","content":"hi"}], "model": "smart" ,"t":1.50 }"#,
            #"{"model":"decoy","messages":[{"role":"user","content":"hi"}],"model":"smart"}"#,
            #"{"mod\u0065l":"smart","messages":[{"role":"user","content":"hi"}]}"#,
            #"{"model":"smart","stream":true,"messages":[{"role":"user","content":"hi"}]}"#,
            #"{"model":"smart","stream":true,"stream_options":{ "include_usage":true },"messages":[]}"#,
            #"{"model":"smart","stream":true,"stream_options":{"include_usage":false},"messages":[]}"#,
            #"{"model":"smart","stream_options":{"include_usage":true},"stream_options":{"include_usage":true}}"#,
            #"{"model":"smart","nested":{"model":"inner","stream_options":{}},"messages":[]}"#,
        ]
        for body in bodies {
            let bytes = Array(body.utf8)
            var layout: RequestBodyLayout? = RequestBodyLayout()
            _ = try JSON.parse(bytes, layout: &layout)
            let scanned = bytes.withUnsafeBufferPointer { OpenAICodec.layout(of: $0) }
            #expect(layout == scanned, "\(body)")
            for stream in [false, true] {
                let fromLayout = OpenAICodec.splicedPassthroughBody(bytes, layout: layout, model: "up", stream: stream)
                let fromScan = OpenAICodec.splicedPassthroughBody(bytes, model: "up", stream: stream)
                #expect(fromLayout == fromScan, "\(body)")
            }
        }
        let nested = Array(#"{"model":"smart","nested":{"model":"inner"}}"#.utf8)
        let spliced = OpenAICodec.splicedPassthroughBody(nested, layout: nil, model: "up", stream: false)
        #expect(spliced.map { String(decoding: $0, as: UTF8.self) } == #"{"model":"up","nested":{"model":"inner"}}"#)
    }

    /// A layout belongs to the bytes it was noted in: new bytes (or an edited tree, which drops
    /// the bytes) leave none for the splice to misread.
    @Test func aLayoutIsDroppedWithItsBytes() throws {
        var request = try ChatRequest.parse(
            body: Array(#"{"model":"smart","messages":[{"role":"user","content":"hi"}]}"#.utf8))
        #expect(request.rawLayout?.model == 9..<16 && request.rawLayout?.modelCount == 1)
        request.rawBytes = Array(#"{"messages":[],"model":"other"}"#.utf8)
        #expect(request.rawLayout == nil)
        let sent = String(decoding: try OpenAICodec().encode(request, for: Self.target).body, as: UTF8.self)
        #expect(sent == #"{"messages":[],"model":"gpt-4o-mini-2024-07-18"}"#)
        var edited = try ChatRequest.parse(
            body: Array(#"{"model":"smart","messages":[{"role":"user","content":"hi"}]}"#.utf8))
        edited.raw["seed"] = 1
        #expect(edited.rawBytes == nil && edited.rawLayout == nil)
        // Only an object has members to note.
        var layout: RequestBodyLayout? = RequestBodyLayout()
        #expect(try JSON.parse(Array(#"[1,{"model":"x"}]"#.utf8), layout: &layout) == [1, ["model": "x"]])
        #expect(layout == nil)
    }

    /// Only `parse(body:)` keeps the bytes a passthrough splices: a request parsed from a JSON
    /// value (a task's stored request) has none and is written from its tree.
    @Test func aRequestParsedFromAValueIsSerialisedFromItsTree() throws {
        let body = #"{ "model":"smart", "messages":[{"role":"user","content":"hi"}]}"#
        let fromBytes = try ChatRequest.parse(body: Array(body.utf8))
        let fromValue = try ChatRequest.parse(try JSON.parse(Array(body.utf8)))
        #expect(fromBytes.rawBytes == Array(body.utf8))
        #expect(fromValue.rawBytes == nil)
        let sent = String(decoding: try OpenAICodec().encode(fromValue, for: Self.target).body, as: UTF8.self)
        #expect(sent == #"{"model":"gpt-4o-mini-2024-07-18","messages":[{"role":"user","content":"hi"}]}"#)
    }

    @Test func anAnswerIsCheckedAndItsUsageReadWithoutDecodingIt() throws {
        let answer =
            #"{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#
        let request = try ChatRequest.parse(
            body: Array(#"{"model":"smart","messages":[{"role":"user","content":"hi"}]}"#.utf8))
        let decoded = try OpenAICodec().decodeResponse(
            Array(answer.utf8), request: request, target: Self.target, id: "chatcmpl-r", created: 7)
        #expect(decoded.passthroughBody == Array(answer.utf8))
        #expect(decoded.usage?.promptTokens == 3 && decoded.usage?.totalTokens == 4)
        #expect(decoded.response.choices.first?.content == "Hi")
        #expect(decoded.response.id == "x" && decoded.response.usage == decoded.usage)
        for bad in [#"{"choices":{}}"#, #"{"id":"x"}"#, "[]", #"{"choices":[]"#, "{\"choices\":[\"\u{1}\"]}"] {
            #expect(throws: ProviderError.self) {
                try OpenAICodec().decodeResponse(
                    Array(bad.utf8), request: request, target: Self.target, id: "i", created: 1)
            }
        }
    }

    /// A repeated member is read as the parser keeps it, the last one: the answer's `usage` and
    /// `choices`, and a stream's `stream_options` (given twice, the body is written from its tree).
    @Test func repeatedMembersAreReadAsTheParserKeepsThem() throws {
        let request = try ChatRequest.parse(
            body: Array(#"{"model":"smart","messages":[{"role":"user","content":"hi"}]}"#.utf8))
        func decode(_ answer: String) throws -> DecodedResponse {
            try OpenAICodec().decodeResponse(
                Array(answer.utf8), request: request, target: Self.target, id: "chatcmpl-r", created: 7)
        }
        let twice =
            #"{"usage":{"prompt_tokens":1,"completion_tokens":1},"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2}}"#
        #expect(try decode(twice).usage?.promptTokens == 5)
        #expect(throws: ProviderError.self) { try decode(#"{"choices":[],"choices":{}}"#) }
        #expect(try decode(#"{"choices":{},"choices":[]}"#).usage == nil)

        let options =
            #"{"model":"smart","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}],"stream_options":{"include_usage":true}}"#
        let sent = try Self.encode(options)
        #expect(sent != options.replacing(#""smart""#, with: #""gpt-4o-mini-2024-07-18""#))
        #expect(try JSON.parse(Array(sent.utf8))["stream_options"] == ["include_usage": true])
    }

    /// A streamed chunk is read for what the router needs and forwarded as its own bytes: spacing,
    /// escapes and unknown fields reach the client as the upstream wrote them.
    @Test func streamedChunksAreForwardedByteForByte() {
        let chunk =
            #"{ "id":"c1", "choices":[{"index":0,"delta":{"content":"caf\u00e9"},"finish_reason":null}], "x_new":1 }"#
        let usage = #"{"id":"c1","choices":[],"usage":{"prompt_tokens":2,"completion_tokens":3,"total_tokens":5}}"#
        var decoder = OpenAIStreamDecoder()
        let events = decoder.feed(Array("data: \(chunk)\r\n\r\ndata: \(usage)\n\ndata: [DONE]\n\n".utf8))
        guard events.count == 3, case .choices(let deltas, let raw?) = events[0],
            case .usage(let u, let uraw?) = events[1]
        else {
            Issue.record("unexpected events \(events)")
            return
        }
        #expect(deltas.first?.content == "café")
        #expect(SSE.data(raw) == Array("data: \(chunk)\n\n".utf8))
        #expect(raw["x_new"] == 1)
        #expect(u.totalTokens == 5 && Array(uraw.bytes) == Array(usage.utf8))
        #expect(events[2] == .done)
    }

    /// Chunk `choices` of every shape the skim reads, and of shapes it leaves to the parsed tree.
    static let choices: [(text: String, skimmed: Bool)] = [
        (
            #"[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]"#,
            true
        ),
        (#"[ {"index":0,"delta":{"content":"caf\u00e9 \ud83d\ude00 \"q\"\n"},"finish_reason":null} ]"#, true),
        (#"[{"index":2,"delta":{},"finish_reason":"stop"}]"#, true),
        (#"[{"index":1.0,"finish_reason":"weird"}]"#, true),
        (#"[{"index":-3,"delta":{"content":"a","content":"b","role":null}}]"#, true),
        (
            #"[{"\u0069ndex":4,"delta":{"con\u0074ent":"esc","refusal":"no"},"finish_reason":"length","x":[1,{"y":2}]}]"#,
            true
        ),
        (#"[{"index":"0","delta":{"content":7,"refusal":false},"finish_reason":1}]"#, true),
        (#"[{}]"#, true),
        (
            #"[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"t","function":{"name":"f","arguments":"{}"}}]}}]"#,
            false
        ),
        (#"[{"index":0,"delta":{"tool_calls":null,"content":"x"}}]"#, false),
        (#"[{"index":0,"delta":{"content":"a"}},{"index":1,"delta":{"content":"b"}}]"#, false),
        (#"[{"index":0,"delta":null,"finish_reason":"stop"}]"#, false),
        (#"[{"index":0,"delta":"text"}]"#, false),
        // The last `delta` counts, whatever an earlier one held.
        (#"[{"index":0,"delta":{"tool_calls":[{"index":0}]},"delta":{"content":"x"}}]"#, true),
        (#"[{"index":0,"delta":{"content":"x","role":"assistant"},"delta":{"refusal":"r"}}]"#, true),
        (#"[{"index":0,"delta":{"content":"x"},"delta":null,"finish_reason":"stop"}]"#, false),
        (#"[1]"#, false), (#"[]"#, false), (#"[ ]"#, false), (#"{"index":0}"#, false), (#""x""#, false),
    ]

    @Test func aSkimmedChoiceReadsAsTheParsedOne() throws {
        for (text, skimmed) in Self.choices {
            let bytes = Array(text.utf8)
            let skim = bytes.withUnsafeBufferPointer { OpenAIStreamDecoder.skimmedChoice($0) }
            #expect((skim != nil) == skimmed, "\(text)")
            guard let skim else { continue }
            let tree = try JSON.parse(bytes).arrayValue?.map(OpenAIStreamDecoder.delta(of:))
            #expect([skim] == tree, "\(text)")
        }
    }

    /// A chunk's members around its choice: the last `choices` counts, `usage` beside a choice
    /// is its own event, an `error` object wins, and a null `error` is no error.
    @Test func chunkMembersAroundTheChoiceAreReadAsTheParserKeepsThem() {
        func decode(_ chunk: String) -> [StreamEvent] {
            var decoder = OpenAIStreamDecoder()
            return decoder.feed(Array("data: \(chunk)\n\n".utf8))
        }
        let twice =
            #"{"choices":[{"index":0,"delta":{"content":"a"}}],"choices":[{"index":1,"delta":{"content":"b"}}]}"#
        #expect(
            decode(twice) == [.choices([ChoiceDelta(index: 1, content: "b")], raw: RawChunk(bytes: Array(twice.utf8)))])
        let withUsage =
            #"{"choices":[{"index":0,"delta":{"content":"a"}}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#
        #expect(
            decode(withUsage) == [
                .choices([ChoiceDelta(content: "a")], raw: RawChunk(bytes: Array(withUsage.utf8))),
                .usage(Usage(promptTokens: 1, completionTokens: 2, totalTokens: 3), raw: nil),
            ])
        let failed =
            #"{"error":{"type":"rate_limit_error","message":"slow"},"choices":[{"index":0,"delta":{"content":"a"}}]}"#
        guard case .error(let error)? = decode(failed).first, decode(failed).count == 1 else {
            Issue.record("unexpected events \(decode(failed))")
            return
        }
        #expect(error.kind == .rateLimited && error.message == "slow")
        let nullError = #"{"error":null,"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":"stop"}]}"#
        #expect(
            decode(nullError) == [
                .choices(
                    [ChoiceDelta(content: "a", finishReason: .stop)], raw: RawChunk(bytes: Array(nullError.utf8)))
            ])
    }

    @Test func chunksDecodeAsTheirParsedChoicesSay() throws {
        for (text, _) in Self.choices {
            let chunk = #"{"id":"c1","choices":"# + text + "}"
            var decoder = OpenAIStreamDecoder()
            let events = decoder.feed(Array("data: \(chunk)\n\n".utf8))
            let expected = try JSON.parse(Array(text.utf8)).arrayValue?.map(OpenAIStreamDecoder.delta(of:)) ?? []
            if expected.isEmpty {
                #expect(events.isEmpty, "\(text)")
            } else {
                guard case .choices(let deltas, let raw?) = events.first, events.count == 1 else {
                    Issue.record("unexpected events \(events) for \(text)")
                    continue
                }
                #expect(deltas == expected, "\(text)")
                #expect(Array(raw.bytes) == Array(chunk.utf8))
            }
            #expect(decoder.isComplete == expected.contains { $0.finishReason != nil }, "\(text)")
        }
        // A chunk that is not valid JSON inside its choice is still counted malformed, not read.
        var decoder = OpenAIStreamDecoder()
        let bad = [
            #"{"choices":[{"index":0,"delta":{"content":"a"}]}"#,
            #"{"choices":[{"index":0,"delta":{"content":"\x"}}]}"#,
            #"{"choices":[{"index":0,"delta":{"content":"a"}}],}"#,
            #"{"choices":[{"index":0,"delta":{"content":"a"} "x":1}]}"#,
        ]
        let events = decoder.feed(Array(bad.map { "data: \($0)\n\n" }.joined().utf8))
        #expect(events.isEmpty)
        #expect(decoder.malformedEvents == bad.count)
    }
}
