import Foundation
import SwitchyardCore
import SwitchyardInbound
import SwitchyardProviders
import Testing

/// The README's `/v1/messages` table against the code: each row with an example is run through
/// the real parser and the OpenAI and Gemini codecs, and the README holds the table exactly.
@Suite struct MessagesCompatibilityTests {
    static let openAI = TargetContext(providerName: "openai", upstreamModel: "gpt-4o-mini")
    static let gemini = TargetContext(providerName: "gemini", upstreamModel: "gemini-2.0-flash")

    static func request(_ members: String?) -> String {
        guard let members else { return #"{"model":"m","max_tokens":16,"messages":[{"role":"user","content":"x"}]}"# }
        if members.hasPrefix(#""messages""#) { return #"{"model":"m","max_tokens":16,"# + members + "}" }
        return #"{"model":"m","max_tokens":16,"messages":[{"role":"user","content":"x"}],"# + members + "}"
    }

    /// What `codec` does with the row's field: rejected (a 400), or the body compared with the baseline's.
    static func outcome(
        _ row: MessagesCompatibility.Row, _ codec: any ProviderCodec, _ context: TargetContext
    ) throws -> MessagesCompatibility.Outcome {
        let baseline = try codec.encode(MessagesRequest.parse(body: Array(request(row.baseline).utf8)), for: context)
        let parsed = try MessagesRequest.parse(body: Array(request(row.example).utf8))
        do {
            let encoded = try codec.encode(parsed, for: context)
            return encoded.body == baseline.body ? .dropped : .mapped
        } catch {
            #expect(error.status == 400 && error.param != nil, "\(row.field): \(error)")
            return .rejected
        }
    }

    @Test(arguments: MessagesCompatibility.rows.filter { $0.outcomes != nil }.map(\.field))
    func rowMatchesTheCodecs(_ field: String) throws {
        let row = try #require(MessagesCompatibility.rows.first { $0.field == field })
        let want = try #require(row.outcomes)
        #expect(try Self.outcome(row, OpenAICodec(), Self.openAI) == want.openAI, "OpenAI")
        #expect(try Self.outcome(row, GeminiCodec(), Self.gemini) == want.gemini, "Gemini")
    }

    /// `thinking` reaches only models that reason; the others would answer it with a 400.
    @Test func thinkingRowDependsOnTheModel() throws {
        let row = try #require(MessagesCompatibility.rows.first { $0.field.hasPrefix("`thinking` (") })
        #expect(try Self.outcome(row, OpenAICodec(), Self.openAI) == .dropped)
        #expect(try Self.outcome(row, GeminiCodec(), Self.gemini) == .dropped)
        #expect(
            try Self.outcome(row, OpenAICodec(), TargetContext(providerName: "o", upstreamModel: "o4-mini")) == .mapped)
        #expect(
            try Self.outcome(row, GeminiCodec(), TargetContext(providerName: "g", upstreamModel: "gemini-2.5-pro"))
                == .mapped)
        #expect(
            try Self.outcome(row, GeminiCodec(), TargetContext(providerName: "g", upstreamModel: "gemini-3-pro"))
                == .mapped)
    }

    @Test func readmeHoldsTheTable() throws {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        if !text.contains(MessagesCompatibility.markdownTable) {
            let out = "/tmp/switchyard-messages-table.md"
            try? MessagesCompatibility.markdownTable.write(toFile: out, atomically: true, encoding: .utf8)
            Issue.record("README.md lacks MessagesCompatibility.markdownTable; the table is in \(out)")
        }
    }
}
