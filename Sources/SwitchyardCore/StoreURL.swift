/// A PostgreSQL connection URL (`postgres://user:password@host:port/dbname?param=value`), as
/// `store.url_env` names it. The URL is a secret: only the store's connection code reads `value`;
/// everything else (logs, errors, `/metrics`, `check-config`) sees `location`, the URL without its
/// password.
public struct StoreURL: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The URL as given, password included.
    public let value: String
    /// The URL with the password (in the authority and in `password=`/`sslpassword=` parameters)
    /// removed: fit for logs and error messages.
    public let location: String

    /// Nil with a reason when `text` is not a `postgres://` or `postgresql://` URL with a host or
    /// a socket directory. The reason never contains the password.
    public static func parse(_ text: String) -> Result<StoreURL, URLProblem> {
        guard let scheme = ["postgres://", "postgresql://"].first(where: { text.hasPrefix($0) }) else {
            return .failure(URLProblem(reason: "must start with postgres:// or postgresql://"))
        }
        let rest = text.dropFirst(scheme.count)
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        if let at = authority.lastIndex(of: "@") {
            let hosts = authority[authority.index(after: at)...]
            if hosts.isEmpty && !text.contains("host=") {
                return .failure(URLProblem(reason: "names no host (give one, or host= a socket directory)"))
            }
        } else if authority.isEmpty && !text.contains("host=") {
            return .failure(URLProblem(reason: "names no host (give one, or host= a socket directory)"))
        }
        if text.contains(where: { $0.isWhitespace || $0.isNewline }) {
            return .failure(URLProblem(reason: "contains whitespace (percent-encode it)"))
        }
        return .success(StoreURL(value: text, location: redactLocation(text, scheme: scheme)))
    }

    /// Why `parse` refused a URL (never quoting it).
    public struct URLProblem: Error, Sendable, Equatable {
        public var reason: String
    }

    public var description: String { location }
    public var debugDescription: String { location }

    /// `text` with every password of `url` in it (raw and percent-decoded) replaced by `***`: for
    /// messages from libraries that might quote the connection string.
    public static func redact(_ text: String, url: String) -> String {
        var result = text
        for secret in passwords(in: url) where !secret.isEmpty {
            result = result.replacingAll(secret, with: "***")
        }
        return result
    }

    /// The passwords a URL carries: the authority's, and `password=` / `sslpassword=` parameters,
    /// each as written and percent-decoded.
    static func passwords(in url: String) -> [String] {
        var found: [String] = []
        if let scheme = url.firstRange(of: "://") {
            let rest = url[scheme.upperBound...]
            let authority = rest[..<(rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex)]
            if let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") {
                found.append(String(authority[authority.index(after: colon)..<at]))
            }
        }
        if let query = url.firstIndex(of: "?") {
            for pair in url[url.index(after: query)...].split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                if parts.count == 2, ["password", "sslpassword"].contains(parts[0]) { found.append(String(parts[1])) }
            }
        }
        return found + found.map { percentDecoded($0) }.filter { !found.contains($0) }
    }

    private static func redactLocation(_ text: String, scheme: String) -> String {
        let rest = text.dropFirst(scheme.count)
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        var authority = String(rest[..<authorityEnd])
        if let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") {
            authority.removeSubrange(colon..<at)
        }
        var tail = String(rest[authorityEnd...])
        if let query = tail.firstIndex(of: "?") {
            let kept = tail[tail.index(after: query)...].split(separator: "&").filter { pair in
                let name = pair.split(separator: "=", maxSplits: 1).first ?? ""
                return name != "password" && name != "sslpassword"
            }
            tail = String(tail[..<query]) + (kept.isEmpty ? "" : "?" + kept.joined(separator: "&"))
        }
        return scheme + authority + tail
    }
}

extension String {
    /// Every occurrence of `target` replaced (no Foundation in Core).
    fileprivate func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = ""
        var rest = Substring(self)
        while let range = rest.firstRange(of: target) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}

extension StoreConfig {
    /// The PostgreSQL URL `url_env` names, read from `environment`; nil for an SQLite store. A
    /// missing, empty or malformed value is a `ConfigError` at `store.url_env` naming the variable,
    /// never quoting its value (it carries the password).
    public func resolvedURL(environment: [String: String]) -> Result<StoreURL, ConfigError>? {
        guard kind == .postgres, let env = urlEnv else { return nil }
        guard let text = environment[env], !text.isEmpty else {
            return .failure(
                ConfigError(
                    path: "store.url_env",
                    problem: "\(env) is not set (it must hold the postgres:// URL of the shared store)"))
        }
        switch StoreURL.parse(text) {
        case .success(let url): return .success(url)
        case .failure(let problem):
            return .failure(ConfigError(path: "store.url_env", problem: "\(env) \(problem.reason)"))
        }
    }
}
