import SwitchyardProviders
import Testing

@Suite struct SSEParserTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var input: String
        var expected: [SSEMessage]
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "one data line", input: "data: {\"a\":1}\n\n", expected: [SSEMessage(data: "{\"a\":1}")]),
        Case(
            name: "event name and data", input: "event: ping\ndata: {}\n\n",
            expected: [SSEMessage(event: "ping", data: "{}")]),
        Case(name: "multi-line data joined by LF", input: "data: a\ndata: b\n\n", expected: [SSEMessage(data: "a\nb")]),
        Case(
            name: "CRLF and CR line ends", input: "data: x\r\n\r\ndata: y\r\r",
            expected: [SSEMessage(data: "x"), SSEMessage(data: "y")]),
        Case(
            name: "comments and id/retry ignored", input: ": keep-alive\nid: 7\nretry: 10\ndata: z\n\n",
            expected: [SSEMessage(data: "z")]),
        Case(name: "no space after colon", input: "data:tight\n\n", expected: [SSEMessage(data: "tight")]),
        Case(
            name: "event without data is not dispatched", input: "event: lonely\n\ndata: next\n\n",
            expected: [SSEMessage(data: "next")]),
        Case(name: "empty data line dispatches empty data", input: "data:\n\n", expected: [SSEMessage(data: "")]),
        Case(name: "blank lines alone dispatch nothing", input: "\n\n\n", expected: []),
        Case(name: "UTF-8 split anywhere", input: "data: héllo 😀\n\n", expected: [SSEMessage(data: "héllo 😀")]),
    ]

    @Test(arguments: cases)
    func wholeAndByteByByteAgree(_ c: Case) {
        var whole = SSEParser()
        var all = whole.feed(Array(c.input.utf8))
        all += whole.finish()
        #expect(all == c.expected)

        var bytewise = SSEParser()
        var pieces: [SSEMessage] = []
        for b in c.input.utf8 { pieces += bytewise.feed([b]) }
        pieces += bytewise.finish()
        #expect(pieces == c.expected)
    }

    /// Reads with a CR take the byte loop, reads without one find line ends with `memchr`: a
    /// stream whose line ends change kind, cut at every point (so a read may hold only LFs, end
    /// on a CR, or start with the LF of a CRLF), gives the events of the whole stream.
    @Test func readsWithAndWithoutCRAgreeAtEverySplit() {
        let input = Array(
            "data: {\"a\":1}\n\nevent: e\r\ndata: b\r\n\r\n: c\ndata: x\ndata: y\n\ndata: z\r\rdata: é\n\n".utf8)
        let expected = [
            SSEMessage(data: "{\"a\":1}"), SSEMessage(event: "e", data: "b"), SSEMessage(data: "x\ny"),
            SSEMessage(data: "z"), SSEMessage(data: "é"),
        ]
        for cut in 0...input.count {
            var parser = SSEParser()
            var events = parser.feed(Array(input[..<cut]))
            events += parser.feed(Array(input[cut...]))
            events += parser.finish()
            #expect(events == expected, "cut at \(cut)")
        }
    }

    @Test func finalEventWithoutBlankLineIsDispatchedAtEnd() {
        var p = SSEParser()
        #expect(p.feed(Array("data: last".utf8)).isEmpty)
        #expect(p.finish() == [SSEMessage(data: "last")])
    }

    /// An upstream that never ends a line, or an event, cannot grow the parser's buffer past
    /// `maxEventBytes`: it is `overflowed`, holds nothing and reads nothing more.
    @Test(arguments: [
        ("an endless line", "data: " + String(repeating: "x", count: 3000)),
        ("an endless event", String(repeating: "data: " + String(repeating: "y", count: 100) + "\n", count: 30)),
    ])
    func anEventPastTheBoundOverflows(_ name: String, _ body: String) {
        var parser = SSEParser()
        parser.maxEventBytes = 2048
        #expect(parser.feed(Array("data: first\n\n".utf8)) == [SSEMessage(data: "first")])
        for chunk in Array(body.utf8).chunks(of: 500) { #expect(parser.feed(chunk).isEmpty, "\(name)") }
        #expect(parser.overflowed, "\(name)")
        #expect(parser.feed(Array("\n\ndata: later\n\n".utf8)).isEmpty)
        #expect(parser.finish().isEmpty)
    }

    @Test func eventsUnderTheBoundAreUntouched() {
        var parser = SSEParser()
        parser.maxEventBytes = 2048
        let data = String(repeating: "z", count: 2000)
        let events = Array("data: \(data)\n\n".utf8).chunks(of: 300).flatMap { parser.feed($0) }
        #expect(events == [SSEMessage(data: data)])
        #expect(!parser.overflowed)
    }

    /// A provider's usual event names are handed on as constants: each name comes through exactly,
    /// a known one, one of the same length that differs in a byte, a prefix of one and others.
    @Test func eventNamesComeThroughExactly() {
        let names = [
            "content_block_delta", "content_block_delte", "content_block_start", "message", "message_stop",
            "message_stopx", "ping", "pong", "response.completed", "response.completes", "", "é",
        ]
        var parser = SSEParser()
        let input = names.map { "event: \($0)\ndata: {}\n\n" }.joined()
        #expect(parser.feed(Array(input.utf8)).map(\.event) == names)
    }
}

extension Array {
    fileprivate func chunks(of size: Int) -> [[Element]] {
        stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}
