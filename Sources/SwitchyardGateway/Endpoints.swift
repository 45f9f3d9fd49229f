import SwitchyardCore
import SwitchyardEdge
import SwitchyardInbound
import SwitchyardTasks

/// One request as an endpoint handler sees it: authenticated, routed, its path parameters read.
struct EndpointCall: Sendable {
    let request: HTTPRequest
    let responder: HTTPResponder
    let requestID: String
    /// The client key's configured NAME (`Owner.anonymous` without client keys).
    let keyName: String
    /// The configuration the request started with (a reload does not change it midway).
    let table: RouteTable
    /// The `{name}` and `{name...}` segments of the endpoint's pattern, as sent (not decoded).
    let parameters: [String: String]
    /// The shape of this endpoint's errors.
    let format: any InboundFormat

    subscript(_ name: String) -> String { parameters[name] ?? "" }
}

/// A request path pattern: literal segments, `{name}` (one non-empty segment) and a last
/// `{name...}` (the rest of the path, slashes included, possibly empty).
struct PathPattern: Sendable, CustomStringConvertible {
    enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
        case rest(String)
    }

    let segments: [Segment]
    let description: String
    /// The one path a pattern of literal segments only matches ("/" + the segments), else nil.
    let literalPath: String?

    init(_ text: String) {
        description = text
        segments = text.split(separator: "/").map { part in
            guard part.hasPrefix("{"), part.hasSuffix("}") else { return .literal(String(part)) }
            let name = part.dropFirst().dropLast()
            return name.hasSuffix("...") ? .rest(String(name.dropLast(3))) : .parameter(String(name))
        }
        let literals = segments.compactMap { segment -> String? in
            if case .literal(let text) = segment { text } else { nil }
        }
        literalPath =
            !literals.isEmpty && literals.count == segments.count ? "/" + literals.joined(separator: "/") : nil
    }

    /// The parameters when `path` matches.
    func match(_ path: String) -> [String: String]? {
        // Every request is looked up here: a literal pattern is one string comparison (whole
        // segments compare the same way), where splitting the path cost a few allocations per
        // pattern tried before the chat endpoint (4% of a plain request's CPU, perf at c=16).
        if let literalPath { return path == literalPath ? [:] : nil }
        guard path.hasPrefix("/") else { return nil }
        let parts = path.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        var parameters: [String: String] = [:]
        for (i, segment) in segments.enumerated() {
            switch segment {
            case .rest(let name):
                guard i < parts.count else { return nil }
                parameters[name] = parts[i...].joined(separator: "/")
                return parameters
            case .literal(let text):
                guard i < parts.count, parts[i] == text else { return nil }
            case .parameter(let name):
                guard i < parts.count, !parts[i].isEmpty else { return nil }
                parameters[name] = String(parts[i])
            }
        }
        return parts.count == segments.count ? parameters : nil
    }

    /// How many leading literal segments this pattern shares with `path`.
    func sharedPrefix(with path: String) -> Int {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        var n = 0
        for (segment, part) in zip(segments, parts) {
            guard case .literal(let text) = segment, text == part else { break }
            n += 1
        }
        return n
    }
}

/// One route: a pattern, a handler per method, and the API shape of its errors (its 401 and 405
/// as well as every error its handler writes). A class: every request's lookup hands one on, and a
/// copy of the struct retained and released each of its strings, arrays and closures.
final class Endpoint: Sendable {
    typealias Handler = nonisolated(nonsending) @Sendable (Gateway, EndpointCall) async -> Void

    /// A method and its handler. A struct rather than a tuple: a closure kept in an array of
    /// tuples is stored in the array's generic form, and reading it back made a thunk (a heap
    /// allocation) on every request.
    struct Method {
        let method: String
        let handler: Handler
    }

    let pattern: PathPattern
    let methods: [Method]
    let format: any InboundFormat

    init(_ pattern: String, format: any InboundFormat = ChatCompletionsFormat(), _ methods: [(String, Handler)]) {
        self.pattern = PathPattern(pattern)
        self.methods = methods.map { Method(method: $0.0, handler: $0.1) }
        self.format = format
    }

    /// The handler for `method`, nil for a method the route does not serve (405).
    func handler(for method: String) -> Handler? {
        for m in methods where m.method == method { return m.handler }
        return nil
    }

    /// The `Allow` header of a 405 (HEAD, where served, goes unmentioned).
    var allow: String { methods.map(\.method).filter { $0 != "HEAD" }.joined(separator: ", ") }
}

/// The HTTP surface as data: every (method, path) the gateway serves, with its handler and the
/// API shape of its errors. `Gateway.handle` looks a request up here and answers 401, 404 and 405
/// in one place, counted and logged as rejections; a new API is one more entry.
enum Endpoints {
    static let all: [Endpoint] =
        [
            Endpoint("/healthz", [("GET", { g, c in g.healthz(c) }), ("HEAD", { g, c in g.healthz(c) })]),
            Endpoint("/readyz", [("GET", { g, c in g.readyz(c) }), ("HEAD", { g, c in g.readyz(c) })]),
            Endpoint("/metrics", [("GET", { g, c in await g.metricsExposition(c) })]),
            Endpoint(
                "/v1/chat/completions", format: ChatCompletionsFormat(), [("POST", { g, c in await g.inbound(c) })]),
            Endpoint("/v1/responses", format: ResponsesFormat(), [("POST", { g, c in await g.inbound(c) })]),
            Endpoint("/v1/messages", format: MessagesFormat(), [("POST", { g, c in await g.inbound(c) })]),
            Endpoint(
                "/v1/messages/count_tokens", format: MessagesFormat(),
                [
                    (
                        "POST",
                        { g, c in
                            await g.countTokens(
                                c.request, responder: c.responder, table: c.table, requestID: c.requestID,
                                keyName: c.keyName)
                        }
                    )
                ]),
            Endpoint(
                "/v1/responses/{id}", format: ResponsesFormat(),
                [
                    ("GET", { g, c in await g.storedResponse(c, listing: false) }),
                    ("DELETE", { g, c in await g.deleteStoredResponse(c) }),
                ]),
            Endpoint(
                "/v1/responses/{id}/input_items", format: ResponsesFormat(),
                [("GET", { g, c in await g.storedResponse(c, listing: true) })]),
            Endpoint(
                "/v1/tasks",
                [
                    (
                        "GET",
                        { g, c in await g.taskEndpoint(c) { s throws(StoreError) in try await g.listTasks(c, s) } }
                    ),
                    (
                        "POST",
                        { g, c in await g.taskEndpoint(c) { s throws(StoreError) in try await g.createTask(c, s) } }
                    ),
                ]),
            Endpoint(
                "/v1/tasks/{id}",
                [("GET", { g, c in await g.taskEndpoint(c) { s throws(StoreError) in try await g.showTask(c, s) } })]),
            Endpoint(
                "/v1/tasks/{id}/events",
                [
                    (
                        "GET",
                        { g, c in await g.taskEndpoint(c) { s throws(StoreError) in try await g.streamTaskEvents(c, s) }
                        }
                    )
                ]),
        ]
        + TaskControl.allCases.map { action in
            Endpoint(
                "/v1/tasks/{id}/\(action.rawValue)",
                [
                    (
                        "POST",
                        { g, c in
                            await g.taskEndpoint(c) { s throws(StoreError) in try await g.controlTask(c, s, action) }
                        }
                    )
                ])
        }
        + [
            Endpoint("/v1/models", [("GET", { g, c in g.listModels(c) })]),
            Endpoint("/v1/models/{id...}", [("GET", { g, c in g.showModel(c) })]),
        ]

    /// What a request path leads to.
    enum Match {
        case endpoint(Endpoint, parameters: [String: String])
        /// No endpoint has this path: 404 in the shape of the closest API (see `format(near:)`).
        case unknown(format: any InboundFormat)

        /// The shape of the path's errors: its endpoint's, else the closest API's.
        var format: any InboundFormat {
            switch self {
            case .endpoint(let endpoint, _): endpoint.format
            case .unknown(let format): format
            }
        }
    }

    static func match(_ path: String) -> Match {
        for endpoint in all {
            if let parameters = endpoint.pattern.match(path) { return .endpoint(endpoint, parameters: parameters) }
        }
        return .unknown(format: format(near: path))
    }

    /// The error shape for a path no endpoint serves: that of the first endpoint sharing its
    /// first two literal segments or more (`/v1/responses/x/y` answers like `/v1/responses`), else
    /// OpenAI's.
    static func format(near path: String) -> any InboundFormat {
        var best: (shared: Int, format: any InboundFormat)? = nil
        for endpoint in all {
            let shared = endpoint.pattern.sharedPrefix(with: path)
            if shared >= 2, shared > (best?.shared ?? 0) { best = (shared, endpoint.format) }
        }
        return best?.format ?? ChatCompletionsFormat()
    }

    /// Paths below this need a client key when keys are configured, served or not: a caller
    /// without one learns nothing about which exist.
    static let authenticatedPrefix = "/v1/"
}
