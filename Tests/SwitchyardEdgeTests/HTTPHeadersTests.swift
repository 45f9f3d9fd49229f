import SwitchyardEdge
import Testing

@Suite struct HTTPHeadersTests {
    @Test func lookupIsCaseInsensitiveAndReturnsFirstMatch() {
        var headers: HTTPHeaders = ["Content-Type": "text/plain"]
        headers.add("X-Multi", "1")
        headers.add("x-multi", "2")
        #expect(headers["content-type"] == "text/plain")
        #expect(headers["X-MULTI"] == "1")
        #expect(headers.values(for: "x-Multi") == ["1", "2"])
        #expect(headers["missing"] == nil)
        #expect(headers.count == 3)
    }

    /// The byte comparison agrees with lowercasing ASCII letters and comparing, for names that
    /// differ in case, in one byte, in length, or in non-ASCII bytes (which never fold).
    @Test func caseInsensitiveEqualityMatchesLowercasingASCII() {
        func reference(_ a: String, _ b: String) -> Bool {
            func fold(_ s: String) -> [UInt8] { s.utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 } }
            return fold(a) == fold(b)
        }
        let names = [
            "", "a", "A", "content-length", "Content-Length", "CONTENT-LENGTH", "content-lengtH", "content-lengti",
            "content-type", "x-request-id", "X-Request-Id", "authorization", "Authorization", "héllo", "HÉLLO",
            "hÉllo", "@[`{", "`{@[", "a-very-long-header-name-past-the-small-string-limit",
            "A-VERY-LONG-HEADER-NAME-PAST-THE-SMALL-STRING-LIMIT",
            "a-very-long-header-name-past-the-small-string-limiT",
        ]
        for a in names {
            for b in names {
                #expect(HTTPHeaders.equalsIgnoringCase(a, b) == reference(a, b), "\(a) / \(b)")
            }
        }
        var headers = HTTPHeaders()
        headers.add("A-Very-Long-Header-Name-Past-The-Small-String-Limit", "1")
        #expect(headers["a-very-long-header-name-past-the-small-string-limit"] == "1")
    }

    @Test func replaceOrAddKeepsPositionAndDropsDuplicates() {
        var headers = HTTPHeaders([("A", "1"), ("B", "2"), ("a", "3")])
        headers.replaceOrAdd("a", "9")
        #expect(headers.map(\.name) == ["A", "B"])
        #expect(headers["a"] == "9")
        headers.replaceOrAdd("C", "4")
        #expect(headers.map(\.value) == ["9", "2", "4"])
    }

    @Test func defaultErrorResponseIsOpenAIEnvelope() {
        let (headers, body) = HTTPServerConfiguration.openAIErrorResponse(status: 413, message: "too \"big\"\n")
        #expect(headers["content-type"] == "application/json")
        let expected =
            #"{"error":{"message":"too \"big\"\n","type":"invalid_request_error","#
            + #""param":null,"code":"request_too_large"}}"#
        #expect(String(decoding: body, as: UTF8.self) == expected)
    }
}
