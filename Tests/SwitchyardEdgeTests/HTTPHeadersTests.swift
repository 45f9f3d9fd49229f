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
