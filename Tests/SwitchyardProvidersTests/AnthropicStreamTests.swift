import SwitchyardCore
import SwitchyardProviders
import Testing

extension AnthropicTests {
    /// Anthropic SSE → unified stream events (docs/translation.md §7.1), against golden files
    /// `streams/<case>.sse` → `streams/<case>.expected` (the chunks as the client would read them,
    /// then the decoder's verdict). Every stream is fed whole and byte by byte (docs/architecture.md, "Decisions and effects").
    @Suite struct StreamTests {
        static let plainRequest = #"{"model":"sy-claude","stream":true,"messages":[{"role":"user","content":"Hi"}]}"#
        static let jsonRequest =
            #"{"model":"sy-claude","stream":true,"messages":[{"role":"user","content":"Hi"}],"response_format":{"type":"json_object"}}"#

        static let cases: [(name: String, request: String)] = [
            ("text", plainRequest),
            ("tool_use", plainRequest),
            ("tool_only", plainRequest),
            ("forced_json", jsonRequest),
            ("thinking", plainRequest),
            ("error", plainRequest),
            ("truncated", plainRequest),
            ("no_message_stop", plainRequest),
            ("empty", plainRequest),
            ("malformed", plainRequest),
        ]

        struct Outcome: Equatable {
            var events: [StreamEvent]
            var complete: Bool
            var malformed: Int
        }

        static func decode(_ chunks: [[UInt8]], request: ChatRequest) -> Outcome {
            var decoder = AnthropicCodec().makeStreamDecoder(request: request, target: AnthropicFixtures.target())
            var events: [StreamEvent] = []
            for c in chunks { events += decoder.feed(c) }
            events += decoder.finish()
            return Outcome(events: events, complete: decoder.isComplete, malformed: decoder.malformedEvents)
        }

        @Test(arguments: cases)
        func decodesGoldenStream(_ name: String, _ requestBody: String) throws {
            let request = try AnthropicFixtures.request(requestBody)
            let sse = try AnthropicFixtures.bytes("streams/\(name).sse")
            let whole = Self.decode([sse], request: request)
            let byteByByte = Self.decode(sse.map { [$0] }, request: request)
            #expect(whole == byteByByte)

            let rendered = AnthropicFixtures.render(whole.events, complete: whole.complete, malformed: whole.malformed)
            let expected = String(decoding: try AnthropicFixtures.bytes("streams/\(name).expected"), as: UTF8.self)
            #expect(rendered == expected, "\(name):\n--- got\n\(rendered)--- want\n\(expected)")
        }

        /// A tool-only stream accumulates the way the OpenAI SDK does to `content: null` and the
        /// same tool call a non-streaming answer carries.
        @Test func toolOnlyStreamAccumulatesLikeOpenAI() throws {
            let request = try AnthropicFixtures.request(Self.plainRequest)
            let outcome = Self.decode([try AnthropicFixtures.bytes("streams/tool_only.sse")], request: request)
            var content: String?
            var contentSeen = false
            var calls: [Int: (id: String, name: String, arguments: String)] = [:]
            for case .choices(let deltas, _) in outcome.events {
                for d in deltas {
                    if d.content != nil || d.contentNull { contentSeen = true }
                    if let c = d.content { content = (content ?? "") + c }
                    for t in d.toolCalls {
                        var call = calls[t.index] ?? ("", "", "")
                        if let id = t.id { call.id = id }
                        if let n = t.name { call.name = n }
                        call.arguments += t.arguments ?? ""
                        calls[t.index] = call
                    }
                }
            }
            #expect(contentSeen && content == nil)
            #expect(calls[0]?.id == "toolu_A" && calls[0]?.arguments == #"{"city": "Paris"}"#)
            #expect(calls[1]?.name == "get_time" && calls[1]?.arguments == "{}")
        }

        @Test func usageIsAlwaysEmittedEvenWithoutIncludeUsage() throws {
            let request = try AnthropicFixtures.request(Self.plainRequest)
            #expect(!request.includeUsage)
            let outcome = Self.decode([try AnthropicFixtures.bytes("streams/text.sse")], request: request)
            let usages = outcome.events.filter { if case .usage = $0 { true } else { false } }
            #expect(usages.count == 1)
            #expect(outcome.events.last == .done)
        }

        @Test func nothingBeforeTheFirstEvent() throws {
            var decoder = AnthropicCodec().makeStreamDecoder(
                request: try AnthropicFixtures.request(Self.plainRequest), target: AnthropicFixtures.target())
            #expect(decoder.finish().isEmpty)
            #expect(!decoder.isComplete)
            #expect(decoder.malformedEvents == 0)
        }
    }
}
