/// Limits and behaviour of an `HTTPServer`. Defaults are the gateway's production defaults.
public struct HTTPServerConfiguration: Sendable {
    /// IPv4 or IPv6 literal to listen on; "0.0.0.0" or "::" for any address.
    public var host: String = "127.0.0.1"
    /// TCP port; 0 picks an ephemeral port, read it back from `HTTPServer.port`.
    public var port: UInt16 = 0
    /// Open connections. At the limit a new connection displaces the one that has waited longest
    /// for a request head (idle keep-alive or slow); if none is waiting, it uses a small reserve
    /// above the limit (1/16, at least 8), and past that MHD closes new clients on accept
    /// (MHD_OPTION_CONNECTION_LIMIT). See `ConnectionTable`.
    public var maxConnections: Int = 1024
    /// Open connections from one peer address; further ones are closed on accept. 0: no cap.
    public var maxConnectionsPerPeer: Int = 256
    /// The same for loopback peers (127.0.0.0/8, ::1): a sidecar's app connects from there and
    /// may need as many connections as it likes, so 0 (only `maxConnections`) by default.
    public var maxConnectionsPerLoopbackPeer: Int = 0
    /// Seconds a connection may stay idle between requests before MHD closes it
    /// (MHD_OPTION_CONNECTION_TIMEOUT; each byte received restarts it). Suspended connections (a
    /// handler at work, an idle stream) do not time out; heartbeats cover idle streams.
    public var connectionTimeoutSeconds: Int = 60
    /// A request head must be complete within this time of its first byte, however steadily it
    /// trickles in; else the connection is closed. Checked by the watcher thread every quarter of
    /// the shorter of this and `bodyTimeout` (50 ms ... 1 s).
    public var headerTimeout: Duration = .seconds(10)
    /// A request body must be complete within this time of the end of its head.
    public var bodyTimeout: Duration = .seconds(60)
    /// Per-connection memory, bytes (MHD_OPTION_CONNECTION_MEMORY_LIMIT); it bounds the request
    /// line plus headers, larger ones get 431 (or 414) from MHD.
    public var maxHeaderBytes: Int = 32 * 1024
    /// Largest accepted request body, bytes. A larger Content-Length gets 413 before the body is
    /// read; a chunked body is cut off with 413 once it passes the limit. The handler is not called.
    public var maxBodyBytes: Int = 8 << 20
    /// An open stream with no write for this long gets `heartbeatBytes` written, so a vanished
    /// client is noticed (MHD only sees a disconnect when it writes). nil disables heartbeats.
    public var heartbeatInterval: Duration? = .seconds(15)
    /// What a heartbeat writes; the default is an SSE comment.
    public var heartbeatBytes: [UInt8] = Array(": keep-alive\n\n".utf8)
    /// Executor for requests whose body is at least `largeBodyBytes`: work that grows with the
    /// request (parsing, translation) then runs there instead of on the connection's event loop,
    /// which also drives other requests' I/O. nil: every request runs on its loop.
    public var largeBodyExecutor: (any TaskExecutor)? = nil
    /// See `largeBodyExecutor`.
    public var largeBodyBytes: Int = 32 * 1024
    /// Told when an event loop has been stuck for `loopStallThreshold` (not waiting for I/O, no
    /// new turn): a job holding it, or a thread starved of CPU (`LoopStall.cpu` tells them
    /// apart); once per stuck turn, on the watcher's thread, so it must be quick. Checked on the
    /// watcher's sweeps (every quarter of the shorter deadline, 50 ms ... 1 s) while connections
    /// are open.
    public var onLoopStall: (@Sendable (LoopStall) -> Void)? = nil
    /// See `onLoopStall`.
    public var loopStallThreshold: Duration = .seconds(1)
    /// Told when accepting a new connection fails for want of a resource (`errno`: EMFILE, ENFILE,
    /// ENOBUFS, ENOMEM), once per spell of failures (failures less than 5 s apart, whatever was
    /// accepted between them: while descriptors run short, accepts fail and succeed by turns).
    /// Meanwhile each loop that failed tries again every 100 ms, and waiting clients stay queued
    /// in the kernel's backlog. Called on an event loop.
    public var onAcceptError: (@Sendable (AcceptError) -> Void)? = nil
    /// Told each time the edge closes a connection on its own (deadline, displacement, peer cap);
    /// called on an event loop's or the watcher's thread, so it must be quick and must not block.
    public var onConnectionDropped: (@Sendable (ConnectionDrop) -> Void)? = nil
    /// Builds headers and body for responses the edge produces itself (400, 413, 431, 500 when a
    /// handler does not answer, 503 while stopping, and every error page of libmicrohttpd's own)
    /// from (status, message). Default: the OpenAI error envelope
    /// `{"error":{"message":…,"type":…,"param":null,"code":…}}` as JSON.
    public var errorResponse: @Sendable (Int, String) -> (HTTPHeaders, [UInt8]) = HTTPServerConfiguration
        .openAIErrorResponse
    /// Asked first, with the request's path (without the query), for an error page of a request
    /// whose target the edge has read, so each route can answer in its own API's shape; nil (the
    /// default, or the closure's answer) falls back to `errorResponse`.
    public var errorResponseForPath: (@Sendable (Int, String, String) -> (HTTPHeaders, [UInt8])?)? = nil

    public init() {}

    /// The default `errorResponse`: an OpenAI-style JSON error envelope.
    public static func openAIErrorResponse(status: Int, message: String) -> (HTTPHeaders, [UInt8]) {
        let (type, code): (String, String) =
            switch status {
            case 413: ("invalid_request_error", "request_too_large")
            case 400..<500: ("invalid_request_error", "bad_request")
            case 503: ("server_error", "service_unavailable")
            default: ("server_error", "internal_error")
            }
        var json = #"{"error":{"message":"#
        appendJSONString(message, to: &json)
        json += #","type":""# + type + #"","param":null,"code":""# + code + #""}}"#
        return (["Content-Type": "application/json"], Array(json.utf8))
    }

    /// A JSON string literal for the default error page. The edge imports no Switchyard module
    /// (docs/architecture.md), so it cannot use Core's JSON writer; the server replaces this page
    /// with the gateway's own (`SwitchyardServer`), written by that writer.
    static func appendJSONString(_ string: String, to out: inout String) {
        out.append("\"")
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out.append("\\\"")
            case "\\": out.append("\\\\")
            case "\n": out.append("\\n")
            case "\r": out.append("\\r")
            case "\t": out.append("\\t")
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out.append("\\u" + String(repeating: "0", count: 4 - hex.count) + hex)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out.append("\"")
    }
}

/// Why an `HTTPServer` could not be created or started.
public struct HTTPServerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A stable, payload-free category, fit for a metric label.
    public enum Kind: String, Sendable {
        case invalidConfiguration
        case addressInUse
        case bindFailed
        case startFailed
        case alreadyStarted
    }

    public var kind: Kind
    /// A sentence for humans, e.g. "address already in use: 127.0.0.1:4000".
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
