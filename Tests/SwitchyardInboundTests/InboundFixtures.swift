import Foundation
import SwitchyardCore
import Testing

/// Loading and comparing the golden files under `Fixtures/responses/`.
enum InboundFixtures {
    static func bytes(_ path: String) throws -> [UInt8] {
        let base = try #require(Bundle.module.resourceURL)
        return Array(try Data(contentsOf: base.appendingPathComponent("Fixtures/responses/" + path)))
    }

    static func text(_ path: String) throws -> String { String(decoding: try bytes(path), as: UTF8.self) }

    static func json(_ path: String) throws -> JSON { try JSON.parse(try bytes(path)) }

    /// Compares `got` with the golden file; on a difference (or a missing file) the new text is
    /// left under /tmp for review, so a changed rule is looked at before its golden file changes.
    static func expectGolden(_ got: String, _ path: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let want = try? text(path)
        if got != want {
            let out = "/tmp/switchyard-golden-" + path.replacingOccurrences(of: "/", with: "_")
            try? got.write(toFile: out, atomically: true, encoding: .utf8)
            Issue.record(
                "\(path) differs from the golden file; the new output is in \(out)", sourceLocation: sourceLocation)
        }
    }

    /// A JSON value pretty-printed with sorted keys is not needed: our serialiser keeps key order,
    /// so golden JSON files are compared as one line per value.
    static func line(_ value: JSON) -> String { value.serializedString() + "\n" }
}
