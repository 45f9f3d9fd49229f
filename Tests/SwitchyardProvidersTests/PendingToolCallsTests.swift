import Testing

@testable import SwitchyardProviders

/// The open tool calls both translated codecs pair with tool messages (O(1) per call; the
/// time itself is `switchyard-bench bodies`' tool-call rows).
@Suite struct PendingToolCallsTests {
    @Test func answersInAnyOrderAndReportsTheFirstOpenCall() {
        var p = PendingToolCalls()
        for (i, id) in ["a", "b", "a", "c"].enumerated() { p.add(id: id, path: "m[\(i)]") }
        #expect(p.count == 4)
        #expect(p.answer("b") == true)
        #expect(p.first()?.path == "m[0]")
        #expect(p.answer("a") == true)  // the first "a"
        #expect(p.first()?.path == "m[2]")
        #expect(p.openIDs == ["a", "c"])
        #expect(p.answer("x") == false)
        #expect(p.answer("a") == true)
        #expect(p.answer("a") == false)  // both "a" calls are answered
        #expect(p.answer("c") == true)
        #expect(p.isEmpty)
        #expect(p.first() == nil)
        #expect(p.openIDs.isEmpty)
        p.add(id: "d", path: "m[9]")
        #expect(p.first()?.id == "d")
        p.removeAll()
        #expect(p.isEmpty)
    }
}
