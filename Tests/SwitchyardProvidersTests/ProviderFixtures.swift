import Foundation
import SwitchyardCore
import Testing

/// The golden files under `Fixtures/` (one folder per provider) and the comparison the codec
/// tests share; `AnthropicFixtures` and `GeminiFixture` add each provider's targets and renderings.
enum ProviderFixtures {
    /// The bytes of `Fixtures/<path>`.
    static func bytes(_ path: String) throws -> [UInt8] {
        let url = try #require(Bundle.module.resourceURL).appendingPathComponent("Fixtures/" + path)
        return Array(try Data(contentsOf: url))
    }

    /// Key order and number spelling do not matter to providers or OpenAI clients: objects sorted
    /// by key, numbers compared by value.
    static func canonical(_ value: JSON) -> JSON {
        switch value {
        case .object(let o):
            return .object(JSONObject(o.entries.sorted { $0.key < $1.key }.map { ($0.key, canonical($0.value)) }))
        case .array(let items): return .array(items.map(canonical))
        case .number(let text): return Double(text).map(JSON.double) ?? value
        default: return value
        }
    }
}
