import SwitchyardTestSupport
import Testing

@testable import SwitchyardCore

@Suite struct RedactorTests {
    static let key = "sk-proj-Q7v2LmN9xR4tW8yZ1aB3cD5eF6gH0jK"
    static let slashKey = "AIzaSyD/4mP+q9R7sT2uV5wX8yZ0aB1cD3eF"
    let redactor = Redactor(secrets: [key, slashKey, "short", "mid-key-42"])

    func redact(_ text: String) -> String { redactor.redact(text) }

    @Test func theKeyAsIsIsReplacedAndNothingElseChanges() {
        #expect(redact("Incorrect API key provided: \(Self.key).") == "Incorrect API key provided: [REDACTED].")
        #expect(redact("x-api-key: \(Self.key)\r\nnext") == "x-api-key: [REDACTED]\r\nnext")
        let clean = Array("nothing secret here, sk-proj- is just a prefix".utf8)
        #expect(redactor.redact(clean) == clean)
    }

    @Test func escapedAndPercentEncodedFormsAreReplaced() throws {
        let escaped = Self.slashKey.replacingOccurrences("/", #"\/"#)
        let json = #"{"error":{"message":"bad key \#(escaped)"}}"#
        let out = redact(json)
        #expect(out == #"{"error":{"message":"bad key [REDACTED]"}}"#)
        #expect(try JSON.parse(out)["error"]?["message"] == "bad key [REDACTED]")
        let url = "GET /v1/models?key=AIzaSyD%2F4mP%2Bq9R7sT2uV5wX8yZ0aB1cD3eF HTTP/1.1"
        #expect(redact(url) == "GET /v1/models?key=[REDACTED] HTTP/1.1")
    }

    /// Policy: 16+ bytes of a key are redacted; the 4-8 characters of a masked display are not.
    @Test func longFragmentsGoShortOnesStay() {
        let prefix = String(Self.key.prefix(20))
        let suffix = String(Self.key.suffix(17))
        #expect(redact("key starts \(prefix)…") == "key starts [REDACTED]…")
        #expect(redact("ends …\(suffix)") == "ends …[REDACTED]")
        let masked = "sk-proj-Q7v2****************gH0jK"
        #expect(redact(masked) == masked)
        #expect(redact(String(Self.key.prefix(15))) == String(Self.key.prefix(15)))
    }

    @Test func shortSecretsAreWholeOrNotAtAll() {
        #expect(Redactor.tooShort("short"))
        #expect(redact("a short text") == "a short text")
        #expect(redact("the mid-key-42 leaked") == "the [REDACTED] leaked")
        #expect(redact("mid-key-4") == "mid-key-4")
    }

    /// A cut that would leave `\` before the marker (a fragment starting inside `\/`) takes the
    /// whole escape, so the JSON stays valid.
    @Test func redactedJSONStaysValid() throws {
        let afterSlash = String(Self.slashKey.split(separator: "/")[1])
        let json = #"{"m":"x\/\#(afterSlash)","n":"\u0041\#(Self.key.dropFirst(2))\\"}"#
        let out = redact(json)
        let parsed = try JSON.parse(out)
        #expect(parsed["m"]?.stringValue?.contains("[REDACTED]") == true)
        #expect(parsed["n"]?.stringValue?.contains("[REDACTED]") == true)
        #expect(!out.contains(afterSlash))
    }

    @Test func everyOccurrenceAndAdjacentOnesGo() {
        let text = "\(Self.key)\(Self.key) and \(Self.slashKey),\(Self.key)"
        #expect(redact(text) == "[REDACTED] and [REDACTED],[REDACTED]")
    }

    @Test func anEmptyRedactorChangesNothing() {
        let none = Redactor(secrets: ["tiny"])
        #expect(none.isEmpty)
        var stream = StreamRedaction(none)
        #expect(stream.feed(Array("data: x\n\n".utf8)) == Array("data: x\n\n".utf8))
    }

    /// Random text with keys and fragments planted anywhere: no run of 16 bytes of a key remains.
    @Test func noLongFragmentSurvivesRandomText() {
        var rng = SplitMix(seed: 11)
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_ /\\\"{}:,\n".utf8)
        let keys = [Array(Self.key.utf8), Array(Self.slashKey.utf8)]
        for _ in 0..<300 {
            var text: [UInt8] = []
            for _ in 0..<Int(rng.next() % 20) {
                for _ in 0..<Int(rng.next() % 40) { text.append(alphabet[Int(rng.next() % UInt64(alphabet.count))]) }
                let k = keys[Int(rng.next() % 2)]
                let start = Int(rng.next() % UInt64(k.count / 2))
                let end = start + 16 + Int(rng.next() % UInt64(k.count - start - 15))
                text += k[start..<end]
            }
            let out = redactor.redact(text)
            for k in keys {
                for i in 0...(k.count - 16) where contains(out, Array(k[i..<(i + 16)])) {
                    Issue.record("a 16-byte run of a key survived in \(String(decoding: out, as: UTF8.self))")
                }
            }
        }
    }

    /// The scan reads blocks `stride` bytes apart, `stride` set by the shortest run a pattern
    /// requires: that run, planted at every offset (the end of the text included), is found,
    /// for the shortest secret, a mid-length one and a long key's 16-byte fragment.
    @Test func theShortestRedactableRunIsFoundAtEveryOffset() {
        let long = Array(Self.key.utf8)
        let cases: [(secrets: [String], run: [UInt8])] = [
            (["12345678", Self.key], Array("12345678".utf8)),
            (["mid-key-42", Self.key], Array("mid-key-42".utf8)),
            ([Self.key], Array(long[5..<21])),
            ([Self.key], Array(long[(long.count - 16)...])),
        ]
        let filler = Array("data: {\"choices\":[{\"delta\":{\"content\":\"".utf8)
        for (secrets, run) in cases {
            let redactor = Redactor(secrets: secrets)
            for offset in 0..<40 {
                for tail in [[UInt8](), Array("\"}}]}\n\n".utf8)] {
                    let text =
                        Array(filler.prefix(offset))
                        + Array(repeating: UInt8(ascii: "x"), count: max(0, offset - filler.count)) + run + tail
                    let out = redactor.redact(text)
                    if contains(out, run) || !contains(out, Redactor.marker) {
                        Issue.record(
                            "a \(run.count)-byte run at \(offset) survived: \(String(decoding: out, as: UTF8.self))")
                    }
                }
            }
        }
    }

    /// Fed in any split, a stream gives what the whole body gives, and a chunk ending in a line
    /// break is passed on whole at once.
    @Test func streamsGiveTheSameResultInAnySplit() {
        let body = Array(
            """
            data: {"error":{"message":"key \(Self.key) is invalid"}}

            data: {"m":"\(Self.slashKey.replacingOccurrences("/", #"\/"#))"}

            data: [DONE]

            """.utf8)
        let whole = redactor.redact(body)
        #expect(!contains(whole, Array(Self.key.utf8)))
        for split in 0...body.count {
            var s = StreamRedaction(redactor)
            let out = s.feed(Array(body[..<split])) + s.feed(Array(body[split...])) + s.finish()
            if out != whole { Issue.record("split at \(split) differs") }
        }
        var bytewise = StreamRedaction(redactor)
        var out: [UInt8] = []
        for b in body { out += bytewise.feed([b]) }
        out += bytewise.finish()
        #expect(out == whole)

        var s = StreamRedaction(redactor)
        let event = Array("data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n".utf8)
        #expect(s.feed(event) == event)
    }

    func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard needle.count <= haystack.count else { return false }
        for i in 0...(haystack.count - needle.count) where haystack[i..<(i + needle.count)].elementsEqual(needle) {
            return true
        }
        return false
    }
}

extension String {
    fileprivate func replacingOccurrences(_ target: String, _ replacement: String) -> String {
        split(separator: Character(target), omittingEmptySubsequences: false).joined(separator: replacement)
    }
}

/// `RedactingUpstream` in front of an upstream that echoes the key in every part of its answer.
@Suite struct RedactingUpstreamTests {
    static let key = RedactorTests.key

    struct Echo: Upstream {
        var chunks: [[UInt8]]
        var failure: UpstreamFailure?

        func perform(_ request: UpstreamRequest) async throws(UpstreamFailure) -> UpstreamResponse {
            if let failure { throw failure }
            return UpstreamResponse(
                head: UpstreamHead(status: 400, headers: [HeaderField("x-echo", "got \(RedactingUpstreamTests.key)")]),
                body: Array(chunks.joined()))
        }

        func stream(_ request: UpstreamRequest) async throws(UpstreamFailure) -> UpstreamStreamingResponse {
            let (stream, continuation) = AsyncThrowingStream<[UInt8], any Error>.makeStream()
            for c in chunks { continuation.yield(c) }
            if let failure { continuation.finish(throwing: failure) } else { continuation.finish() }
            return UpstreamStreamingResponse(
                head: UpstreamHead(status: 200, headers: [HeaderField("x-echo", RedactingUpstreamTests.key)]),
                body: UpstreamBodyStream(stream))
        }
    }

    static let request = UpstreamRequest(url: "http://x", headers: [], body: [])
    let redactor = Redactor(secrets: [key])

    @Test func bufferedAnswersHeadersAndFailuresAreRedacted() async throws {
        let body = Array(#"{"error":{"message":"bad key \#(Self.key)"}}"#.utf8)
        let upstream = RedactingUpstream(Echo(chunks: [body]), redactor: redactor)
        let r = try await upstream.perform(Self.request)
        #expect(String(decoding: r.body, as: UTF8.self) == #"{"error":{"message":"bad key [REDACTED]"}}"#)
        #expect(r.head.headers.value(for: "x-echo") == "got [REDACTED]")
        let failing = RedactingUpstream(
            Echo(chunks: [], failure: .transport("reset while sending \(Self.key)")), redactor: redactor)
        await #expect(throws: UpstreamFailure.transport("reset while sending [REDACTED]")) {
            try await failing.perform(Self.request)
        }
    }

    /// The key split over chunks at every point, then a stream failure that names it.
    @Test func streamedChunksAreRedactedWhereverTheyAreSplit() async throws {
        let text = Array("data: {\"error\":{\"message\":\"key \(Self.key)\"}}\n\n".utf8)
        for split in stride(from: 1, to: text.count, by: 3) {
            let upstream = RedactingUpstream(
                Echo(chunks: [Array(text[..<split]), Array(text[split...])]), redactor: redactor)
            let r = try await upstream.stream(Self.request)
            #expect(r.head.headers.value(for: "x-echo") == "[REDACTED]")
            let body = String(decoding: try await r.body.collect(), as: UTF8.self)
            #expect(body == "data: {\"error\":{\"message\":\"key [REDACTED]\"}}\n\n", "split at \(split)")
        }
        let failing = RedactingUpstream(
            Echo(chunks: [Array("data: x\n\n".utf8)], failure: .transport("broke: \(Self.key)")), redactor: redactor)
        let r = try await failing.stream(Self.request)
        await #expect(throws: UpstreamFailure.transport("broke: [REDACTED]")) { _ = try await r.body.collect() }
    }

    /// The wrapper keeps the transport's first-event enforcement, so the router does not race
    /// every stream against a timer task of its own when the transport's loop already checks it.
    @Test func firstEventEnforcementIsTheTransports() {
        struct Enforcing: Upstream {
            func perform(_ request: UpstreamRequest) async throws(UpstreamFailure) -> UpstreamResponse {
                throw .cancelled
            }
            func stream(_ request: UpstreamRequest) async throws(UpstreamFailure) -> UpstreamStreamingResponse {
                throw .cancelled
            }
            var enforcesFirstEventTimeout: Bool { true }
        }
        #expect(RedactingUpstream(Enforcing(), redactor: redactor).enforcesFirstEventTimeout)
        #expect(!RedactingUpstream(Echo(chunks: []), redactor: redactor).enforcesFirstEventTimeout)
    }

    /// A head still held as received lines is redacted like a parsed one: plain, folded (the key
    /// on a continuation line) and without any key (then the fields read back unchanged).
    @Test func rawHeadsAreRedactedLikeParsedOnes() {
        let key = Self.key
        let plain = redactor.redact(
            UpstreamHead(status: 401, rawLines: Array("x-a: one\r\nx-echo: got \(key)\r\n".utf8)))
        #expect(plain.headers == [HeaderField("x-a", "one"), HeaderField("x-echo", "got [REDACTED]")])
        let folded = redactor.redact(UpstreamHead(status: 401, rawLines: Array("x-echo: got\r\n \(key)\r\n".utf8)))
        #expect(folded.headers == [HeaderField("x-echo", "got [REDACTED]")])
        let clean = redactor.redact(UpstreamHead(status: 200, rawLines: Array("x-a: one\r\nX-B:  two \r\n".utf8)))
        #expect(clean.headers == [HeaderField("x-a", "one"), HeaderField("X-B", "two")])
        #expect(clean.value(for: "x-b") == "two")
    }

    /// A reload's keys apply to calls from then on.
    @Test func updateSwapsTheSecrets() async throws {
        let upstream = RedactingUpstream(Echo(chunks: [Array("key \(Self.key)".utf8)]), redactor: Redactor())
        #expect(try await upstream.perform(Self.request).body == Array("key \(Self.key)".utf8))
        upstream.update(redactor)
        #expect(try await upstream.perform(Self.request).body == Array("key [REDACTED]".utf8))
    }
}
