import Foundation
import SwitchyardCore
import SwitchyardProviders
import Testing

/// Loading and comparing the golden files under `Fixtures/anthropic/`.
enum AnthropicFixtures {
    static let model = "claude-sonnet-4-20250514"

    static func bytes(_ path: String) throws -> [UInt8] { try ProviderFixtures.bytes("anthropic/" + path) }

    static func json(_ path: String) throws -> JSON { try JSON.parse(try bytes(path)) }

    static func target(
        clampTemperature: Bool = false, structuredOutputs: Bool = false, defaultMaxTokens: Int = 4096
    ) -> TargetContext {
        TargetContext(
            providerName: "anthropic", upstreamModel: model, defaultMaxTokens: defaultMaxTokens,
            clampTemperature: clampTemperature, structuredOutputs: structuredOutputs)
    }

    static func request(_ text: String) throws -> ChatRequest { try ChatRequest.parse(body: Array(text.utf8)) }

    static func canonical(_ value: JSON) -> JSON { ProviderFixtures.canonical(value) }

    /// Events as the client would see them: chunks through ``ChunkEncoder``, then a comment line
    /// with the decoder's verdict, so one text file holds the whole expected outcome.
    static func render(_ events: [StreamEvent], complete: Bool, malformed: Int) -> String {
        let encoder = ChunkEncoder(id: "chatcmpl-test", created: 1_700_000_000, model: model)
        var out: [UInt8] = []
        for e in events {
            switch e {
            case .choices(let deltas, _): out += encoder.encode(deltas)
            case .usage(let u, _): out += encoder.encodeUsage(u)
            case .done: out += SSE.done
            case .error(let err):
                out += Array(
                    ": error kind=\(err.kind.rawValue) status=\(err.status) type=\(err.providerType ?? "-")\n".utf8)
                out += SSE.error(err.apiError)
            }
        }
        out += Array(": complete=\(complete) malformed=\(malformed)\n".utf8)
        return String(decoding: out, as: UTF8.self)
    }
}
