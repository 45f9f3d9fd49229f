import SwitchyardCore
import Testing

/// An upstream head keeps its header lines as received and parses them when read (a forwarded
/// answer's headers usually never are); both ways must give the fields the transport used to build.
@Suite struct UpstreamHeadTests {
    static let lines =
        Array(
            "Content-Type: application/json\r\nX-Long-Value:   padded value with spaces \t\r\nRetry-After: 7\r\n"
                .utf8) + Array("X-Folded: first\r\n  second part\r\nbare-lf:  yes\nNo-Colon-Line\r\nEmpty:\r\n".utf8)

    @Test func rawLinesParseIntoTheFieldsInOrder() {
        let head = UpstreamHead(status: 200, rawLines: Self.lines)
        #expect(
            head.headers == [
                HeaderField("Content-Type", "application/json"),
                HeaderField("X-Long-Value", "padded value with spaces"),
                HeaderField("Retry-After", "7"), HeaderField("X-Folded", "first second part"),
                HeaderField("bare-lf", "yes"), HeaderField("Empty", ""),
            ])
    }

    @Test func oneValueIsReadWithoutParsingTheRestAndAgreesWithTheFields() {
        let unfolded = Array("Content-Type: application/json\r\nContent-Length : 42\r\nX-A: 1\r\nx-a: 2\r\n".utf8)
        for raw in [Self.lines, unfolded] {
            let head = UpstreamHead(status: 200, rawLines: raw)
            for name in ["content-type", "RETRY-AFTER", "x-folded", "Content-Length", "x-a", "missing", "empty"] {
                #expect(head.value(for: name) == head.headers.value(for: name), "\(name)")
            }
        }
        #expect(UpstreamHead(status: 200, rawLines: unfolded).value(for: "content-length") == "42")
        #expect(UpstreamHead(status: 200, rawLines: unfolded).value(for: "X-A") == "1")
    }

    @Test func settingTheFieldsReplacesTheLines() {
        var head = UpstreamHead(status: 503, rawLines: Self.lines)
        head.headers = [HeaderField("Retry-After", "1")]
        #expect(head.value(for: "retry-after") == "1")
        #expect(head.headers.count == 1)
    }
}
