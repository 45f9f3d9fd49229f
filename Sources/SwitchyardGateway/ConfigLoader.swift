import Foundation
public import SwitchyardCore
import Yams

/// Reads a YAML configuration file into `SwitchyardConfig` (Yams composes the node tree; our
/// own decoder walks it so that every error carries its key path).
public enum ConfigLoader {
    /// Loads, decodes and validates `path`. Errors are `ConfigErrors` with key paths.
    public static func load(path: String) throws(ConfigErrors) -> SwitchyardConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigErrors([ConfigError(path: "", problem: "cannot read configuration file \(path)")])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigErrors([ConfigError(path: "", problem: "\(path) is not UTF-8 text")])
        }
        return try parse(yaml: text)
    }

    public static func parse(yaml: String) throws(ConfigErrors) -> SwitchyardConfig {
        let node: Node?
        do {
            node = try Yams.compose(yaml: yaml)
        } catch {
            throw ConfigErrors([ConfigError(path: "", problem: "invalid YAML: \(error)")])
        }
        return try SwitchyardConfig.decode(node.map(json(from:)) ?? .null)
    }

    /// YAML node → JSON value, with YAML 1.1 core-schema scalar resolution (ints, floats,
    /// booleans, null); quoted scalars stay strings.
    static func json(from node: Node) -> JSON {
        switch node {
        case .scalar(let s):
            if s.style == .singleQuoted || s.style == .doubleQuoted || s.style == .literal || s.style == .folded {
                return .string(s.string)
            }
            if node.null != nil { return .null }
            if let b = node.bool { return .bool(b) }
            if let i = node.int { return .int(i) }
            if let d = node.float { return .double(d) }
            return .string(s.string)
        case .mapping(let m):
            var o = JSONObject()
            for (k, v) in m { o[k.string ?? ""] = json(from: v) }
            return .object(o)
        case .sequence(let seq):
            return .array(seq.map(json(from:)))
        case .alias:
            return .null
        }
    }
}
