import SwitchyardCore
import SwitchyardProviders
import Testing

extension GeminiTests {
    /// Gemini SSE streams → unified stream events (docs/translation.md §7.2), fed whole, byte by byte and
    /// in odd-sized pieces: every split must give the same events.
    @Suite struct GeminiStreamTests {
        struct Run: Equatable {
            var events: [StreamEvent]
            var isComplete: Bool
            var malformedEvents: Int
        }

        static func run(_ bytes: [UInt8], chunk: Int, seed: String = "seed-1") -> Run {
            let request = ChatRequest(model: "sy-gemini", messages: [])
            let target = TargetContext(providerName: "gemini", upstreamModel: "gemini-2.5-flash", idSeed: seed)
            var decoder = GeminiCodec().makeStreamDecoder(request: request, target: target)
            var events: [StreamEvent] = []
            var i = 0
            while i < bytes.count {
                let end = min(bytes.count, i + chunk)
                events += decoder.feed(Array(bytes[i..<end]))
                i = end
            }
            events += decoder.finish()
            return Run(events: events, isComplete: decoder.isComplete, malformedEvents: decoder.malformedEvents)
        }

        @Test(arguments: [
            ("text", "text"), ("text_crlf", "text"), ("function_call", "function_call"), ("native_id", "native_id"),
            ("safety_mid_stream", "safety_mid_stream"), ("safety_first", "safety_first"),
            ("error_payload", "error_payload"), ("truncated", "truncated"), ("prompt_blocked", "prompt_blocked"),
            ("multiple_candidates", "multiple_candidates"), ("one_candidate_unfinished", "one_candidate_unfinished"),
            ("thoughts_and_garbage", "thoughts_and_garbage"),
        ])
        func golden(_ stream: String, _ expectedName: String) throws {
            let bytes = try GeminiFixture.bytes("streams/\(stream).sse")
            let whole = Self.run(bytes, chunk: max(bytes.count, 1))
            let expected = try GeminiFixture.json("streams/\(expectedName).expected.json")
            expectJSON(GeminiFixture.eventsJSON(whole.events), try #require(expected["events"]))
            #expect(whole.isComplete == expected["isComplete"]?.boolValue)
            #expect(whole.malformedEvents == expected["malformedEvents"]?.intValue)
            for chunk in [1, 2, 7, 64] {
                #expect(Self.run(bytes, chunk: chunk) == whole, "chunk size \(chunk)")
            }
        }

        /// The same seed gives the same ids however the stream is split, and the same ids as the
        /// buffered decode of the same answer (docs/translation.md §5).
        @Test func stableIDs() throws {
            let bytes = try GeminiFixture.bytes("streams/function_call.sse")
            func ids(_ run: Run) -> [String] {
                run.events.flatMap { e -> [String] in
                    guard case .choices(let deltas, _) = e else { return [] }
                    return deltas.flatMap { $0.toolCalls.compactMap(\.id) }
                }
            }
            let a = ids(Self.run(bytes, chunk: bytes.count))
            let b = ids(Self.run(bytes, chunk: 3))
            let c = ids(Self.run(bytes, chunk: 3, seed: "seed-2"))
            #expect(a.count == 2)
            #expect(a == b)
            #expect(a != c)
            #expect(Set(a).count == 2)

            let body =
                #"{"candidates":[{"content":{"parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"CiUBcsjafB"},{"functionCall":{"name":"get_time","args":{}}}]},"finishReason":"STOP"}]}"#
            let buffered = try GeminiCodec().decodeResponse(
                Array(body.utf8), request: ChatRequest(model: "m", messages: []), target: GeminiFixture.target, id: "x",
                created: 0)
            #expect(buffered.response.choices[0].toolCalls.map(\.id) == a)
        }

        @Test func incompleteUntilAFinishReasonArrives() {
            var decoder = GeminiStreamDecoder(idSeed: "s")
            #expect(!decoder.isComplete)
            _ = decoder.feed(Array("data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]}}]}\n\n".utf8))
            #expect(!decoder.isComplete)
            _ = decoder.feed(Array("data: {\"candidates\":[{\"finishReason\":\"MAX_TOKENS\"}]}\n\n".utf8))
            #expect(decoder.isComplete)
            #expect(decoder.finish().isEmpty)
        }

        /// An event is parsed from its bytes, but one that is not valid UTF-8 still reads as its
        /// repaired text (U+FFFD for the bad byte), as when every event went through a `String`.
        @Test func invalidUTF8ReadsAsRepairedText() {
            var decoder = GeminiStreamDecoder(idSeed: "s")
            let event =
                Array(#"data: {"candidates":[{"content":{"parts":[{"text":"a"#.utf8) + [0xFF]
                + Array(#"b"}]}}]}"#.utf8) + [10, 10]
            let events = decoder.feed(event)
            #expect(decoder.malformedEvents == 0)
            guard case .choices(let deltas, _)? = events.first else {
                Issue.record("expected a delta, got \(events)")
                return
            }
            #expect(deltas.map(\.content) == ["a\u{FFFD}b"])
            let message = SSEMessage(bytes: Array(#"{"t":"x"#.utf8) + [0xC3] + Array(#""}"#.utf8))
            #expect(message.jsonObject?["t"]?.stringValue == "x\u{FFFD}")
            #expect(SSEMessage(data: #"{"t":"x"}"#).json == ["t": "x"])
            #expect(SSEMessage(data: #"{"t":"x""#).json == nil)
        }

        @Test func rateLimitErrorInStream() {
            var decoder = GeminiStreamDecoder(idSeed: "s")
            let payload =
                #"data: {"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"20s"}]}}"#
            let events = decoder.feed(Array((payload + "\n\n").utf8))
            guard case .error(let e)? = events.first else {
                Issue.record("expected an error event, got \(events)")
                return
            }
            #expect(e.kind == .rateLimited)
            #expect(e.status == 200)
            #expect(e.retryAfterSeconds == 20)
            #expect(e.apiError.status == 429)
        }
    }
}
