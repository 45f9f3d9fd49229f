import SwitchyardCore
import SwitchyardProviders
import SwitchyardRouting
import Testing

/// Gemini function calls without a native id get one synthesised from the call's seed: the router
/// gives every upstream call its own seed, so the ids never repeat across requests, while the
/// bytes of one answer still decode to one set of ids.
@Suite struct ToolCallIDTests {
    static let answer = bytes(
        #"{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}},{"functionCall":{"name":"get_time","args":{}}}]},"finishReason":"STOP","index":0}]}"#
    )

    static func gemini(_ name: String) -> RouteTarget {
        RouteTarget(
            provider: name, model: "gemini-2.0-flash", codec: GeminiCodec(), baseURL: "http://\(name)",
            headers: [HeaderField("x-goog-api-key", "k")])
    }

    static let request = try! ChatRequest.parse(
        body: bytes(#"{"model":"g","messages":[{"role":"user","content":"weather?"}]}"#))

    func ids(_ result: Result<RouteSuccess, RouteFailure>) -> [String] {
        result.success?.response.response.choices.first?.toolCalls.map(\.id) ?? []
    }

    @Test func everyCallGetsIdsOfItsOwn() async {
        let h = Harness(["g": Array(repeating: .http(200, [], Self.answer), count: 3)])
        let first = ids(await h.router.complete(Self.request, targets: [Self.gemini("g")], requestID: "same"))
        let second = ids(await h.router.complete(Self.request, targets: [Self.gemini("g")], requestID: "same"))
        let third = ids(await h.router.complete(Self.request, targets: [Self.gemini("g")], requestID: "other"))
        #expect(first.count == 2 && second.count == 2 && third.count == 2)
        #expect(Set(first + second + third).count == 6, "\(first) \(second) \(third)")
        #expect(first.allSatisfy { $0.hasPrefix("call_sy") })
    }

    /// Two routers (two processes) with the same request id do not collide either.
    @Test func processesDoNotShareSeeds() async {
        let a = Harness(["g": [.http(200, [], Self.answer)]])
        let b = Harness(["g": [.http(200, [], Self.answer)]])
        let fromA = ids(await a.router.complete(Self.request, targets: [Self.gemini("g")], requestID: "r1"))
        let fromB = ids(await b.router.complete(Self.request, targets: [Self.gemini("g")], requestID: "r1"))
        #expect(!fromA.isEmpty && Set(fromA).isDisjoint(with: fromB))
    }
}
