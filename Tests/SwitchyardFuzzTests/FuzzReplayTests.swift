import Foundation
import SwitchyardFuzz
import Testing

/// Replays every input kept for the fuzz targets through the same entry points libFuzzer runs
/// (`scripts/fuzz`): the regression inputs of past findings, which failed before their fixes,
/// and the hand-written seeds, which must keep every invariant too.
@Suite struct FuzzReplayTests {
    struct Input: CustomTestStringConvertible, Sendable {
        var target: FuzzTarget
        var path: String
        var testDescription: String { path }
    }

    /// `Fixtures/<kind>/<target>/<file>` for every kept input.
    static func inputs(_ kind: String) -> [Input] {
        guard let base = Bundle.module.resourceURL?.appendingPathComponent("Fixtures/\(kind)") else { return [] }
        var out: [Input] = []
        for target in FuzzTarget.allCases {
            let dir = base.appendingPathComponent(target.rawValue)
            let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
            for name in names.sorted() where !name.hasPrefix(".") {
                out.append(Input(target: target, path: "\(kind)/\(target.rawValue)/\(name)"))
            }
        }
        return out
    }

    static func bytes(_ input: Input) throws -> [UInt8] {
        let base = try #require(Bundle.module.resourceURL)
        return Array(try Data(contentsOf: base.appendingPathComponent("Fixtures/" + input.path)))
    }

    @Test(arguments: inputs("regressions"))
    func regression(_ input: Input) async throws {
        let bytes = try Self.bytes(input)
        await #expect(throws: Never.self) { try await input.target.run(bytes) }
    }

    @Test(arguments: inputs("seeds"))
    func seed(_ input: Input) async throws {
        let bytes = try Self.bytes(input)
        await #expect(throws: Never.self) { try await input.target.run(bytes) }
    }

    @Test func everyTargetHasSeeds() {
        let seeded = Set(Self.inputs("seeds").map(\.target))
        #expect(Set(FuzzTarget.allCases).subtracting(seeded).isEmpty)
    }
}
