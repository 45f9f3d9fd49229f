import Glibc
import SwitchyardCore
import Testing

@testable import SwitchyardGateway

/// The YAML reader over libyaml's events: what Yams's `compose` did for the loader (anchors,
/// aliases, duplicate keys, one document, positions in errors), and the inputs that ended or hung
/// the process with Yams.
@Suite struct YAMLComposerTests {
    func problem(_ yaml: String) -> String? {
        switch ConfigLoader.json(yaml: yaml) {
        case .success: nil
        case .failure(let e): e.problem
        }
    }

    @Test func aliasesRepeatTheAnchoredNodeAndMergeKeysAreOrdinaryKeys() throws {
        let root = try ConfigLoader.json(yaml: "a: &x {k: 1, l: [true, '2']}\nb: *x\nc: {<<: *x}\nd: &x 3\ne: *x\n")
            .get()
        let anchored: JSON = ["k": 1, "l": [true, "2"]]
        #expect(root["a"] == anchored)
        #expect(root["b"] == anchored)
        #expect(root["c"] == ["<<": anchored])
        // A later anchor of the same name replaces the earlier one from there on.
        #expect(root["e"] == 3)
    }

    @Test func anUndefinedAliasIsAnErrorAtItsPosition() {
        let p = problem("a: 1\nb: *nowhere\n")
        #expect(p?.hasPrefix("invalid YAML: 2:4: error: composer: found undefined alias") == true, "\(p ?? "")")
    }

    @Test func aRepeatedKeyIsRefusedNamingBothPositions() {
        let p = problem("a: 1\nb:\n  c: 2\na: 3\n")
        let expected = "4:1: error: composer: found duplicate key 'a' (first in line 1, column 1)"
        #expect(p?.contains(expected) == true, "\(p ?? "")")
        // Same text, different types: two keys, as Yams read them.
        #expect(problem("\"1\": a\n1: b\n") == nil)
        #expect(problem("\"x\": a\nx: b\n")?.contains("duplicate key 'x'") == true)
    }

    @Test func syntaxErrorsCarryLineColumnAndTheLine() {
        let p = problem("providers:\n  - {name: a, kind: openai\nmodels: []\n")
        #expect(p?.hasPrefix("invalid YAML: 3:") == true, "\(p ?? "")")
        #expect(p?.contains("error: parser: ") == true && p?.contains("\nmodels: []\n") == true, "\(p ?? "")")
        #expect(p?.hasSuffix("^") == true, "\(p ?? "")")
    }

    @Test func oneDocumentOnlyAndAnEmptyTextIsNull() throws {
        #expect(problem("a: 1\n---\nb: 2\n")?.contains("but found another document") == true)
        #expect(try ConfigLoader.json(yaml: "").get() == .null)
        #expect(try ConfigLoader.json(yaml: "# only a comment\n").get() == .null)
        #expect(try ConfigLoader.json(yaml: "---\n").get() == .null)
    }

    @Test func anExplicitStrTagKeepsABooleanWordText() throws {
        #expect(try ConfigLoader.json(yaml: "v: !!str yes\n").get()["v"] == "yes")
    }

    /// Yams multiplied base-60 parts without an overflow check: this line ended the process
    /// (SIGILL) in `check-config` and at start-up. Past `Int`, it reads as a number.
    @Test func aBase60IntegerPastIntsRangeIsANumber() throws {
        #expect(try ConfigLoader.json(yaml: "v: 999999999999999999:0\n").get()["v"] == .double(6e19))
        #expect(try ConfigLoader.json(yaml: "v: -0:-9223372036854775808\n").get()["v"] != nil)
        #expect(try ConfigLoader.json(yaml: "v: -1:30\n").get()["v"] == -90)
    }

    /// The composer recurses; Debian's libyaml has no nesting limit of its own.
    @Test func deepNestingIsRefusedNotAStackOverflow() {
        let depth = 200_000
        let p = problem("v: " + String(repeating: "[", count: depth) + String(repeating: "]", count: depth))
        #expect(p?.contains("nested deeper than \(YAMLComposer.maximumDepth) levels") == true)
        let fine = 100
        #expect(problem("v: " + String(repeating: "[", count: fine) + String(repeating: "]", count: fine)) == nil)
    }

    /// A path that never ends (a device) is refused at the size bound instead of read into memory.
    @Test func aFileThatNeverEndsIsRefusedAtTheSizeBound() {
        let (config, errors) = ConfigLoader.loadReportingAll(path: "/dev/zero")
        #expect(config == nil)
        #expect(errors.map(\.problem) == ["/dev/zero is larger than \(ConfigLoader.maximumFileBytes >> 20) MiB"])
    }

    @Test func aFileThatIsNotUTF8IsRefused() throws {
        let path = temporaryStorePath("config") + ".yaml"
        defer { unlink(path) }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        try #require(fd >= 0)
        let bytes: [UInt8] = Array("listen: ".utf8) + [0xff, 0xfe, 0x0a]
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        #expect(ConfigLoader.loadReportingAll(path: path).1.map(\.problem) == ["\(path) is not UTF-8 text"])
        #expect(
            ConfigLoader.loadReportingAll(path: path + ".missing").1.map(\.problem) == [
                "cannot read configuration file \(path).missing"
            ])
    }
}
