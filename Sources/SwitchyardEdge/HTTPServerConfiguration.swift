/// Limits and behaviour of an `HTTPServer`. Defaults are the gateway's production defaults.
public struct HTTPServerConfiguration: Sendable {
    /// IPv4 or IPv6 literal to listen on; "0.0.0.0" or "::" for any address.
    public var host: String = "127.0.0.1"
    /// TCP port; 0 picks an ephemeral port, read it back from `HTTPServer.port`.
    public var port: UInt16 = 0
    /// Open connections at most (MHD_OPTION_CONNECTION_LIMIT); further clients are closed on accept.
    public var maxConnections: Int = 1024
    /// Seconds a connection may stay idle or trickle bytes before MHD closes it
    /// (MHD_OPTION_CONNECTION_TIMEOUT). Suspended connections (a handler at work, an idle stream)
    /// do not time out; heartbeats cover idle streams.
    public var connectionTimeoutSeconds: Int = 60
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
    /// Builds headers and body for responses the edge produces itself (413, 500 when a handler
    /// does not answer, 503 while stopping) from (status, message). Default: the OpenAI error
    /// envelope `{"error":{"message":…,"type":…,"param":null,"code":…}}` as JSON.
    public var errorResponse: @Sendable (Int, String) -> (HTTPHeaders, [UInt8]) = HTTPServerConfiguration
        .openAIErrorResponse

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
