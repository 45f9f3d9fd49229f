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
        let node: Node?
        do {
            node = try Yams.compose(yaml: yaml)
        } catch {
            return (nil, [ConfigError(path: "", problem: "invalid YAML: \(error)")])
        }
        var root = JSON.null
        if let node {
            do throws(ConfigError) {
                root = try json(from: node)
            } catch {
                return (nil, [error])
            }
        }
        let (config, errors) = SwitchyardConfig.decodeReportingAll(root)
        return (config, errors)
    }

    /// YAML node → JSON value, with YAML 1.1 core-schema scalar resolution (ints, floats,
    /// booleans, null); quoted scalars stay strings. Throws once the tree passes `maximumValues`,
    /// naming the key path where it did.
    static func json(from node: Node) throws(ConfigError) -> JSON {
        var budget = maximumValues
        return try json(from: node, path: "", budget: &budget)
    }

    private static func json(from node: Node, path: String, budget: inout Int) throws(ConfigError) -> JSON {
        budget -= 1
        if budget < 0 {
            throw ConfigError(
                path: path,
                problem: "the configuration expands to more than \(maximumValues) values (YAML aliases repeating "
                    + "a large node?)")
        }
        switch node {
        case .scalar(let s):
            if s.style == .singleQuoted || s.style == .doubleQuoted || s.style == .literal || s.style == .folded {
                return .string(s.string)
            }
            if node.null != nil { return .null }
            if let b = node.bool { return .bool(b) }
            if let i = node.int { return .int(i) }
            // `.inf` and `.nan` stay text, so a number key names them in its error instead of
            // reading them as absent (JSON has no such numbers).
            if let d = node.float { return d.isFinite ? .double(d) : .string(s.string) }
            return .string(s.string)
        case .mapping(let m):
            var o = JSONObject()
            for (k, v) in m {
                let key = k.string ?? ""
                o[key] = try json(from: v, path: path.isEmpty ? key : "\(path).\(key)", budget: &budget)
            }
            return .object(o)
        case .sequence(let seq):
            var items: [JSON] = []
            for (i, v) in seq.enumerated() { items.append(try json(from: v, path: "\(path)[\(i)]", budget: &budget)) }
            return .array(items)
        case .alias:
            return .null
        }
    }
}
