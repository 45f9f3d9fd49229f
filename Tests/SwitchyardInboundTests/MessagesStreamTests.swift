import Foundation
import SwitchyardCore
import SwitchyardInbound
import SwitchyardProviders
import Testing

/// Routed stream events → Anthropic's server-sent events (`MessagesStreamEncoder`), over golden
/// upstream streams: Chat Completions chunks a translating target sends (`responses/streams/
/// chat_*.sse` → `messages/streams/chat_*.expected`), and native Anthropic streams, forwarded byte
/// for byte and continued after a cut. Every upstream stream is decoded whole and byte by byte
/// before it is encoded.
@Suite struct MessagesStreamTests {
    static let context = AnswerContext(
        request: ChatRequest(model: "smart", messages: [], origin: .anthropicMessages), id: "msg_test",
        created: 1_700_000_001, model: "gpt-4o-mini")

    static func decode(_ bytes: [UInt8], _ make: () -> any StreamDecoder) -> [StreamEvent] {
        ResponsesStreamTests.decode(bytes, make)
    }

    /// The events of an SSE body: (`event:` name, data object).
    static func events(_ bytes: [UInt8]) -> [(String, JSONObject)] { ResponsesStreamTests.events(bytes) }

    /// What the SDK's accumulator relies on: `event:` names the data's type, one `message_start`
    /// first, blocks started in index order and only deltas for started blocks, one
    /// `message_delta`, `message_stop` last.
    static func checkProtocol(_ out: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
        let events = Self.events(out)
        #expect(events.allSatisfy { $0.0 == $0.1["type"]?.stringValue }, sourceLocation: sourceLocation)
        #expect(events.first?.0 == "message_start" && events.last?.0 == "message_stop", sourceLocation: sourceLocation)
        #expect(events.filter { $0.0 == "message_start" }.count == 1, sourceLocation: sourceLocation)
        #expect(events.filter { $0.0 == "message_delta" }.count == 1, sourceLocation: sourceLocation)
        var started = 0
        var open: Int?
        for (type, o) in events {
            let index = o["index"]?.intValue
            switch type {
            case "content_block_start":
                #expect(index == started && open == nil, "\(type) \(o)", sourceLocation: sourceLocation)
                started += 1
                open = index
            case "content_block_delta":
                #expect(index != nil && index == open, "\(type) \(o)", sourceLocation: sourceLocation)
            case "content_block_stop":
                #expect(index == open, "\(type) \(o)", sourceLocation: sourceLocation)
                open = nil
            default:
                break
            }
        }
    }

    @Test(arguments: ["chat_text", "chat_tools", "chat_length", "chat_refusal"])
    func translatedStreamBecomesAnthropicEvents(_ name: String) throws {
        let upstream = Self.decode(try InboundFixtures.bytes("streams/\(name).sse")) {
            OpenAIStreamDecoder(keepRaw: false)
        }
        var encoder = MessagesStreamEncoder(context: Self.context)
        let out = encoder.encode(upstream, model: "gpt-4o-mini")
        InboundFixtures.expectGolden(String(decoding: out, as: UTF8.self), "streams/\(name).expected", root: "messages")
        Self.checkProtocol(out)
        #expect(encoder.failure == nil)
        // The final body is the message the SDK accumulates from these events.
        let final = try JSON.parse(try #require(encoder.finalBody))
        #expect(canonical(final) == canonical(Self.accumulate(out)))
    }

    /// A native stream goes out as Anthropic sent it, and its final body is the whole message
    /// (thinking with its signature, text, tool input, stop reason, usage).
    @Test func nativeStreamIsForwardedByteForByte() throws {
        let sse = try InboundFixtures.bytes("streams/native_text.sse", root: "messages")
        let upstream = Self.decode(sse) { AnthropicStreamDecoder(keepRaw: true) }
        #expect(upstream.last == .done)
        var encoder = MessagesStreamEncoder(context: Self.context)
        let out = encoder.encode(upstream, model: "claude-sonnet-4-5")
        #expect(out == sse.normalisedPing)
        Self.checkProtocol(out)
        let final = try JSON.parse(try #require(encoder.finalBody))
        #expect(canonical(final) == canonical(Self.accumulate(out)))
        #expect(final["content"]?.arrayValue?[0]["signature"] == "EqQBCgIYAhIM")
        #expect(final["content"]?.arrayValue?[2]["input"] == ["city": "Paris"])
        #expect(final["usage"]?["output_tokens"] == 65 && final["usage"]?["cache_read_input_tokens"] == 100)
        #expect(encoder.usage == Usage(promptTokens: 477, completionTokens: 65, cachedTokens: 100, cacheWriteTokens: 0))
    }

    /// A native stream cut mid-text and finished by a continuation (unified deltas, the router's
    /// summed usage): one message — the upstream's `message_start`, the same text block carried on,
    /// one `message_delta` with the summed usage.
    @Test func continuationAfterANativeStreamContinuesItsBlock() throws {
        let cut = try InboundFixtures.bytes("streams/native_cut.sse", root: "messages")
        var decoder = AnthropicStreamDecoder(keepRaw: true)
        var encoder = MessagesStreamEncoder(context: Self.context)
        var out = encoder.encode(decoder.feed(cut), model: "claude-sonnet-4-5")
        #expect(out == cut.normalisedPing)
        out += encoder.encode(
            [
                .choices([ChoiceDelta(content: " is mild.")], raw: nil),
                .choices([ChoiceDelta(finishReason: .stop)], raw: nil),
                .usage(Usage(promptTokens: 45, completionTokens: 9), raw: nil), .done,
            ], model: "claude-sonnet-4-5")
        InboundFixtures.expectGolden(
            String(decoding: out, as: UTF8.self), "streams/native_continued.expected", root: "messages")
        Self.checkProtocol(out)
        let final = try JSON.parse(try #require(encoder.finalBody))
        #expect(
            final["id"] == "msg_01Cut" && final["content"]?.arrayValue?[0]["text"] == "The weather in Paris is mild.")
        #expect(final["usage"] == ["input_tokens": 45, "output_tokens": 9] && final["stop_reason"] == "end_turn")
        #expect(canonical(final) == canonical(Self.accumulate(out)))
    }

    /// `message_start` and pings are held until the first content event, so an error right after
    /// them still fails over before anything reached the client; the end of the body drops them.
    @Test func nativeDecoderHoldsTheEnvelopeUntilContent() throws {
        let start =
            #"event: message_start\#ndata: {"type":"message_start","message":{"id":"m","type":"message","role":"assistant","model":"c","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":1}}}\#n\#nevent: ping\#ndata: {"type": "ping"}\#n\#n"#
        var decoder = AnthropicStreamDecoder(keepRaw: true)
        #expect(decoder.feed(Array(start.utf8)).isEmpty)
        let error =
            #"event: error\#ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\#n\#n"#
        let events = decoder.feed(Array(error.utf8))
        #expect(events.count == 1)
        guard case .error(let e)? = events.first else {
            Issue.record("no error event: \(events)")
            return
        }
        #expect(e.kind == .overloaded)
        var ended = AnthropicStreamDecoder(keepRaw: true)
        _ = ended.feed(Array(start.utf8))
        #expect(ended.finish().allSatisfy { if case .choices = $0 { false } else { true } })
    }

    @Test func failureIsAnAnthropicErrorEvent() throws {
        var encoder = MessagesStreamEncoder(context: Self.context)
        _ = encoder.encode([.choices([ChoiceDelta(role: true, content: "Hi")], raw: nil)], model: "m")
        let out = encoder.fail(
            APIError(
                status: 503, type: "server_error", code: "upstream_overloaded",
                message: "The upstream provider is overloaded."))
        let event = try #require(Self.events(out).first)
        #expect(event.0 == "error")
        #expect(
            JSON.object(event.1)
                == [
                    "type": "error",
                    "error": ["type": "overloaded_error", "message": "The upstream provider is overloaded."],
                ])
        #expect(encoder.finalBody == nil)
    }

    /// A stored message replayed as events accumulates to the same message (idempotent replays).
    @Test func replayAccumulatesToTheStoredMessage() throws {
        let sse = try InboundFixtures.bytes("streams/native_text.sse", root: "messages")
        var encoder = MessagesStreamEncoder(context: Self.context)
        _ = encoder.encode(Self.decode(sse) { AnthropicStreamDecoder(keepRaw: true) }, model: "claude-sonnet-4-5")
        let stored = try #require(encoder.finalBody)
        let replay = MessagesFormat().replayStream(stored, request: Self.context.request)
        Self.checkProtocol(replay)
        #expect(canonical(Self.accumulate(replay)) == canonical(try JSON.parse(stored)))
    }

    /// The SDK's `accumulate_event`, transcribed: the message of `message_start`, blocks appended
    /// by `content_block_start`, text / thinking / signature / tool JSON applied by index, stop
    /// reason and usage overwritten by `message_delta`.
    static func accumulate(_ out: [UInt8]) -> JSON {
        var message = JSONObject()
        var blocks: [JSONObject] = []
        var json: [Int: String] = [:]
        for (type, o) in events(out) {
            switch type {
            case "message_start":
                message = o["message"]?.objectValue ?? JSONObject()
            case "content_block_start":
                blocks.append(o["content_block"]?.objectValue ?? JSONObject())
            case "content_block_delta":
                guard let i = o["index"]?.intValue, blocks.indices.contains(i), let d = o["delta"] else { continue }
                switch d["type"]?.stringValue {
                case "text_delta":
                    blocks[i]["text"] = .string((blocks[i]["text"]?.stringValue ?? "") + (d["text"]?.stringValue ?? ""))
                case "thinking_delta":
                    blocks[i]["thinking"] = .string(
                        (blocks[i]["thinking"]?.stringValue ?? "") + (d["thinking"]?.stringValue ?? ""))
                case "signature_delta": blocks[i]["signature"] = d["signature"]
                case "input_json_delta":
                    json[i, default: ""] += d["partial_json"]?.stringValue ?? ""
                    if let parsed = try? JSON.parse(Array(json[i, default: ""].utf8)) { blocks[i]["input"] = parsed }
                default: break
                }
            case "message_delta":
                message["stop_reason"] = o["delta"]?["stop_reason"] ?? .null
                message["stop_sequence"] = o["delta"]?["stop_sequence"] ?? .null
                var usage = message["usage"]?.objectValue ?? JSONObject()
                for e in o["usage"]?.objectValue ?? JSONObject() { usage[e.key] = e.value }
                message["usage"] = .object(usage)
            default:
                break
            }
        }
        message["content"] = .array(blocks.map(JSON.object))
        return .object(message)
    }
}

extension [UInt8] {
    /// Anthropic writes its pings as `{"type": "ping"}`; forwarded, they come out in the gateway's
    /// compact form (every other event is compact already).
    var normalisedPing: [UInt8] {
        Array(
            String(decoding: self, as: UTF8.self).replacingOccurrences(
                of: #"{"type": "ping"}"#, with: #"{"type":"ping"}"#
            ).utf8)
    }
}

/// `value` with every object's keys sorted: the SDK builds pydantic models, for which key order
/// does not matter.
func canonical(_ value: JSON) -> JSON {
    switch value {
    case .object(let o): .object(JSONObject(o.keys.sorted().map { ($0, canonical(o[$0] ?? .null)) }))
    case .array(let a): .array(a.map(canonical))
    default: value
    }
}
