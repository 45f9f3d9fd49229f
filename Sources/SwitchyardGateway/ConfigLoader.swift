import Foundation
public import SwitchyardCore
import Yams

/// Reads a YAML configuration file into `SwitchyardConfig` (Yams composes the node tree; our
/// own decoder walks it so that every error carries its key path).
public enum ConfigLoader {
    /// Larger files are refused before parsing: a configuration is a few KB.
    public static let maximumFileBytes = 4 << 20
    /// Values (scalars, lists and mappings) a configuration may expand to. YAML aliases repeat a
    /// node without repeating its text, so 3 KB of nested aliases can stand for 10⁸ values (a
    /// "billion laughs" file hung `check-config` for minutes); a real configuration has hundreds.
    public static let maximumValues = 100_000

    /// Loads, decodes and validates `path`. Errors are `ConfigErrors` with key paths.
    public static func load(path: String) throws(ConfigErrors) -> SwitchyardConfig {
        let (config, errors) = loadReportingAll(path: path)
        guard let config, errors.isEmpty else { throw ConfigErrors(errors) }
        return config
    }

    /// Every problem of the file at once; the configuration as far as it could be read (nil when
    /// the file could not be read or parsed at all), for `check-config`.
    public static func loadReportingAll(path: String) -> (SwitchyardConfig?, [ConfigError]) {
        if let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            let size = attributes[.size] as? Int, size > maximumFileBytes
        {
            return (nil, [ConfigError(path: "", problem: "\(path) is larger than \(maximumFileBytes >> 20) MiB")])
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            return (nil, [ConfigError(path: "", problem: "cannot read configuration file \(path)")])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            return (nil, [ConfigError(path: "", problem: "\(path) is not UTF-8 text")])
        }
        return parseReportingAll(yaml: text)
    }

    public static func parse(yaml: String) throws(ConfigErrors) -> SwitchyardConfig {
        let (config, errors) = parseReportingAll(yaml: yaml)
        guard let config, errors.isEmpty else { throw ConfigErrors(errors) }
        return config
    }

    public static func parseReportingAll(yaml: String) -> (SwitchyardConfig?, [ConfigError]) {
        switch json(yaml: yaml) {
        case .success(let root): SwitchyardConfig.decodeReportingAll(root)
        case .failure(let error): (nil, [error])
        }
    }

    /// The YAML text as a JSON value (null for an empty document).
    static func json(yaml: String) -> Result<JSON, ConfigError> {
        let node: Node?
        do {
            node = try Yams.compose(yaml: yaml)
        } catch {
            return .failure(ConfigError(path: "", problem: "invalid YAML: \(error)"))
        }
        guard let node else { return .success(.null) }
        do throws(ConfigError) {
            return .success(try json(from: node))
        } catch {
            return .failure(error)
        }
    }

    /// YAML node → JSON value, with YAML 1.1 core-schema scalar resolution (ints, floats,
    /// booleans, null); quoted scalars stay strings. Throws when the tree has more than
    /// `maximumValues` values, naming the key path where it passed them; the tree is counted
    /// before any scalar is resolved (resolution is the costly part: Yams matches regular
    /// expressions, about 10 µs a value, so a bomb of 10⁵ plain scalars took a second to refuse).
    static func json(from node: Node) throws(ConfigError) -> JSON {
        var budget = maximumValues
        if let reversedPath = pathPastBudget(node, budget: &budget) {
            throw ConfigError(
                path: joinPath(reversedPath.reversed()),
                problem: "the configuration expands to more than \(maximumValues) values (YAML aliases repeating "
                    + "a large node?)")
        }
        return value(of: node)
    }

    /// The path (innermost component first) of the value that takes the count past `budget`, if
    /// any. Components are mapping keys and `[index]`es.
    private static func pathPastBudget(_ node: Node, budget: inout Int) -> [String]? {
        budget -= 1
        if budget < 0 { return [] }
        switch node {
        case .mapping(let m):
            for (k, v) in m {
                if var path = pathPastBudget(v, budget: &budget) {
                    path.append(k.string ?? "")
                    return path
                }
            }
        case .sequence(let seq):
            for (i, v) in seq.enumerated() {
                if var path = pathPastBudget(v, budget: &budget) {
                    path.append("[\(i)]")
                    return path
                }
            }
        case .scalar, .alias:
            break
        }
        return nil
    }

    /// `a.b[2].c` from its components.
    private static func joinPath(_ components: some Sequence<String>) -> String {
        var path = ""
        for c in components {
            if c.hasPrefix("[") || path.isEmpty { path += c } else { path += "." + c }
        }
        return path
    }

    private static func value(of node: Node) -> JSON {
        switch node {
        case .scalar(let s):
            if s.style == .singleQuoted || s.style == .doubleQuoted || s.style == .literal || s.style == .folded {
                return .string(s.string)
            }
            guard mayResolve(s.string) else { return .string(s.string) }
            if node.null != nil { return .null }
            if let b = node.bool { return .bool(b) }
            if let i = node.int { return .int(i) }
            // `.inf` and `.nan` stay text, so a number key names them in its error instead of
            // reading them as absent (JSON has no such numbers).
            if let d = node.float { return d.isFinite ? .double(d) : .string(s.string) }
            return .string(s.string)
        case .mapping(let m):
            var o = JSONObject()
            for (k, v) in m { o[k.string ?? ""] = value(of: v) }
            return .object(o)
        case .sequence(let seq):
            return .array(seq.map { value(of: $0) })
        case .alias:
            return .null
        }
    }

    /// Whether a plain scalar can be anything but a string in the YAML 1.1 core schema: a null
    /// (empty, `~`, `null`), a boolean word (Yams reads `true`, `yes`, `on`, `false`, `no`,
    /// `off` in any case), or a number (which starts with a digit, a sign or a dot: `.5`, `.inf`,
    /// `.nan`). Everything else is a string without asking Yams's resolver.
    static func mayResolve(_ plain: String) -> Bool {
        guard let first = plain.utf8.first else { return true }
        switch first {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "~"):
            return true
        default:
            return plain.utf8.count <= 5 && keywords.contains(plain.lowercased())
        }
    }

    /// The null and boolean words, lowercased.
    private static let keywords: Set<String> = ["null", "true", "yes", "on", "false", "no", "off"]
}
