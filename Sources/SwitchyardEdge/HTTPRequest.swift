/// One HTTP request as received by the edge, with its whole body.
public struct HTTPRequest: Sendable {
    /// The request method as sent ("GET", "POST", or any other token).
    public var method: String
    /// The raw request target up to the first `?`, not percent-decoded.
    public var path: String
    /// The raw query string after the first `?`, without the `?`; "" if there is none.
    public var query: String
    /// Header fields in wire order; names lowercased.
    public var headers: HTTPHeaders
    /// The request body (de-chunked), at most `HTTPServerConfiguration.maxBodyBytes` bytes.
    public var body: [UInt8]

    public init(method: String, path: String, query: String = "", headers: HTTPHeaders = [:], body: [UInt8] = []) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
    }
}

/// Answers requests; the gateway's router implements it.
public protocol HTTPHandler: Sendable {
    /// Called once per request on a Swift Task (not on an MHD thread). Must call exactly one of
    /// `responder.respond(...)` or `responder.startStream(...)` before returning; if it calls
    /// neither, the edge sends a 500 when it returns. A stream still open when it returns is
    /// finished then. The task is cancelled when the client goes away.
    nonisolated(nonsending) func handle(_ request: HTTPRequest, responder: HTTPResponder) async
}
