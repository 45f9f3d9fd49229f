import Glibc
public import SwitchyardCore

/// Reads a YAML configuration file into `SwitchyardConfig` (`YAMLComposer` builds the node tree
/// from libyaml's events; our own decoder walks it so that every error carries its key path).
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
        let bytes: [UInt8]
        switch readFile(path) {
        case .success(let b): bytes = b
        case .failure(let error): return (nil, [error])
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            return (nil, [ConfigError(path: "", problem: "\(path) is not UTF-8 text")])
        }
        return parseReportingAll(yaml: text)
    }

    /// The file's bytes, refused past `maximumFileBytes` (read no further, so a device or a pipe
    /// that never ends is refused too).
    private static func readFile(_ path: String) -> Result<[UInt8], ConfigError> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            return .failure(ConfigError(path: "", problem: "cannot read configuration file \(path)"))
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else {
                return .failure(ConfigError(path: "", problem: "cannot read configuration file \(path)"))
            }
            if n == 0 { return .success(bytes) }
            bytes += chunk[..<n]
            if bytes.count > maximumFileBytes {
                return .failure(
                    ConfigError(path: "", problem: "\(path) is larger than \(maximumFileBytes >> 20) MiB"))
            }
        }
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
        let node: YAMLNode?
        do throws(YAMLError) {
            node = try YAMLComposer.compose(yaml)
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
    /// booleans, null; `YAMLScalar.resolved`); quoted scalars stay strings. Throws when the tree
    /// has more than `maximumValues` values, naming the key path where it passed them; the tree is
    /// counted before any scalar is resolved, so a bomb is refused at the cost of counting.
    static func json(from node: YAMLNode) throws(ConfigError) -> JSON {
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
    private static func pathPastBudget(_ node: YAMLNode, budget: inout Int) -> [String]? {
        budget -= 1
        if budget < 0 { return [] }
        switch node {
        case .mapping(let m):
            for (k, v) in m {
                if var path = pathPastBudget(v, budget: &budget) {
                    path.append(k.keyText)
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
        case .scalar:
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

    private static func value(of node: YAMLNode) -> JSON {
        switch node {
        case .scalar(let s):
            return s.resolved
        case .mapping(let m):
            var o = JSONObject()
            for (k, v) in m { o[k.keyText] = value(of: v) }
            return .object(o)
        case .sequence(let seq):
            return .array(seq.map { value(of: $0) })
        }
    }
}
