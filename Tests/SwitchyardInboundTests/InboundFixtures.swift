import Foundation
import SwitchyardCore
import Testing

/// Loading and comparing the golden files under `Fixtures/<root>/` (`responses` unless named).
enum InboundFixtures {
    static func bytes(_ path: String, root: String = "responses") throws -> [UInt8] {
        let base = try #require(Bundle.module.resourceURL)
        return Array(try Data(contentsOf: base.appendingPathComponent("Fixtures/\(root)/" + path)))
    }

    static func text(_ path: String, root: String = "responses") throws -> String {
        String(decoding: try bytes(path, root: root), as: UTF8.self)
    }

    static func json(_ path: String, root: String = "responses") throws -> JSON {
        try JSON.parse(try bytes(path, root: root))
    }

    /// Compares `got` with the golden file; on a difference (or a missing file) the new text is
    /// left under /tmp for review, so a changed rule is looked at before its golden file changes.
    static func expectGolden(
        _ got: String, _ path: String, root: String = "responses", sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let want = try? text(path, root: root)
        if got != want {
            let out = "/tmp/switchyard-golden-\(root)_" + path.replacingOccurrences(of: "/", with: "_")
            try? got.write(toFile: out, atomically: true, encoding: .utf8)
            Issue.record(
                "\(path) differs from the golden file; the new output is in \(out)", sourceLocation: sourceLocation)
        }
    }

    /// A JSON value pretty-printed with sorted keys is not needed: our serialiser keeps key order,
    /// so golden JSON files are compared as one line per value.
    static func line(_ value: JSON) -> String { value.serializedString() + "\n" }
}
