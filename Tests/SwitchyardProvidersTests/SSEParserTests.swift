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

    @Test func finalEventWithoutBlankLineIsDispatchedAtEnd() {
        var p = SSEParser()
        #expect(p.feed(Array("data: last".utf8)).isEmpty)
        #expect(p.finish() == [SSEMessage(data: "last")])
    }
}
