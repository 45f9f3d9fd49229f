import Glibc

/// The proxy settings of the environment, read once when the transport starts and handed to
/// curl as options (CURLOPT_PROXY, CURLOPT_NOPROXY) whenever a handle's URL changes.
///
/// Left to itself, libcurl reads them for every transfer: `no_proxy`, `NO_PROXY`, then
/// `<scheme>_proxy` (and its upper case, except for `http_proxy`), `all_proxy` and `ALL_PROXY`,
/// each a `getenv` that walks the whole environment and a copy of what it finds. In a
/// Kubernetes pod, whose environment holds a few variables per service of the namespace, that
/// walk grows with the cluster, on every request. The rules are curl's (url.c,
/// `create_conn_helper_init_proxy` and `detect_proxy`), so a proxy set in the environment is
/// used exactly as before; what changes is that a variable set after start-up is not seen.
public struct ProxyEnvironment: Sendable, Equatable {
    /// The environment's non-empty variables whose name ends in `_proxy` in any case (curl
    /// treats an empty value as unset).
    private let variables: [String: String]

    /// From name-value pairs (tests; the transport reads the process environment, `current()`).
    public init(_ environment: [String: String]) {
        variables = environment.filter { name, value in !value.isEmpty && name.lowercased().hasSuffix("_proxy") }
    }

    /// The process environment's proxy variables, as they are now.
    public static func current() -> ProxyEnvironment {
        var found: [String: String] = [:]
        var entry = environ
        while let pointer = entry.pointee {
            let text = String(cString: pointer)
            if let equals = text.firstIndex(of: "=") {
                let name = String(text[..<equals])
                if name.lowercased().hasSuffix("_proxy") { found[name] = String(text[text.index(after: equals)...]) }
            }
            entry += 1
        }
        return ProxyEnvironment(found)
    }

    /// CURLOPT_NOPROXY: `no_proxy`, else `NO_PROXY`; "" when neither is set (no host is exempt).
    public var noProxy: String { variables["no_proxy"] ?? variables["NO_PROXY"] ?? "" }

    /// CURLOPT_PROXY for a URL of `scheme` (lower case): `<scheme>_proxy`, then (except for http,
    /// whose upper-case variable CGI programs can be made to set from a request header)
    /// `<SCHEME>_PROXY`, then `all_proxy`, then `ALL_PROXY`; "" (no proxy) when none is set.
    public func proxy(scheme: String) -> String {
        if let value = variables["\(scheme)_proxy"] { return value }
        if scheme != "http", let value = variables["\(scheme.uppercased())_PROXY"] { return value }
        return variables["all_proxy"] ?? variables["ALL_PROXY"] ?? ""
    }

    /// The scheme of `url` in lower case ("" when it has none).
    static func scheme(of url: String) -> String {
        guard let colon = url.utf8.firstIndex(of: UInt8(ascii: ":")) else { return "" }
        return String(url[..<colon]).lowercased()
    }
}
