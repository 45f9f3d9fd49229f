import SwitchyardCore
import Testing

@testable import SwitchyardGateway

/// Plain YAML scalars resolve as Yams's core schema resolved them (this table passed against Yams
/// before libyaml's events replaced it; `YAMLScalar.resolved` keeps those rules).
@Suite struct ConfigScalarTests {
    static let cases: [(String, JSON)] = [
        ("x", "x"), ("lol", "lol"), ("inf", "inf"), ("nan", "nan"), ("y", "y"), ("n", "n"), ("tRUE", true),
        ("yEs", true), ("oFF", false),
        ("nULL", "nULL"), ("<<", "<<"), ("=", "="), ("gpt-4o-mini", "gpt-4o-mini"), ("http://h:1/v1", "http://h:1/v1"),
        ("", .null), ("~", .null), ("null", .null), ("Null", .null), ("NULL", .null),
        ("yes", true), ("Yes", true), ("YES", true), ("on", true), ("On", true), ("ON", true), ("true", true),
        ("True", true), ("TRUE", true), ("no", false), ("No", false), ("NO", false), ("off", false), ("Off", false),
        ("OFF", false), ("false", false), ("False", false), ("FALSE", false),
        ("0", 0), ("12", 12), ("-3", -3), ("+4", 4), ("1_000", 1000), ("0x1F", 31), ("0b101", 5), ("1:30", 90),
        (".5", 0.5), ("-1.5", -1.5), ("1e3", 1000.0), ("+.inf", "+.inf"), (".nan", ".nan"), ("-.inf", "-.inf"),
        ("2026-01-01", "2026-01-01"), ("127.0.0.1:4000", "127.0.0.1:4000"), ("-x", "-x"), (".x", ".x"),
    ]

    @Test(arguments: cases)
    func plainScalarResolvesLikeYams(_ text: String, _ expected: JSON) throws {
        let root = try ConfigLoader.json(yaml: "v: \(text)\n").get()
        #expect(root["v"] == expected, "\(text)")
    }
}
