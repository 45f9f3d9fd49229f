import Foundation
import SwitchyardCore
import SwitchyardProviders
import Testing

/// The umbrella suite, so `swift test --filter GeminiTests` selects every Gemini suite.
@Suite struct GeminiTests {}

/// Fixture loading and comparison helpers for the Gemini codec tests.
enum GeminiFixture {
    static func bytes(_ path: String) throws -> [UInt8] { try ProviderFixtures.bytes("gemini/" + path) }

    static func json(_ path: String) throws -> JSON { try JSON.parse(try bytes(path)) }

    static func request(_ path: String) throws -> ChatRequest { try ChatRequest.parse(body: try bytes(path)) }

    static let target = TargetContext(providerName: "gemini", upstreamModel: "gemini-2.5-flash", idSeed: "seed-1")

    static func canonical(_ value: JSON) -> JSON { ProviderFixtures.canonical(value) }

    /// The events a stream decoder produced, as JSON for golden comparison.
    static func eventsJSON(_ events: [StreamEvent]) -> JSON {
        .array(
            events.map { event in
                switch event {
                case .choices(let deltas, _): return .object(["choices": .array(deltas.map(\.json))])
                case .usage(let usage, _): return .object(["usage": usage.json])
                case .error(let e):
                    return .object([
                        "error": .object([
                            "kind": .string(e.kind.rawValue), "status": .int(e.status), "message": .string(e.message),
                        ])
                    ])
                case .done: return "done"
                }
            })
    }
}

/// `#expect` on two JSON values, ignoring key order, printing both on mismatch.
func expectJSON(_ actual: JSON, _ expected: JSON, sourceLocation: SourceLocation = #_sourceLocation) {
    let a = GeminiFixture.canonical(actual)
    let e = GeminiFixture.canonical(expected)
    #expect(a == e, "\nactual:   \(a)\nexpected: \(e)", sourceLocation: sourceLocation)
}
