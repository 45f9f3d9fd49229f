public import SwitchyardCore

/// One scripted answer of `MockHTTPServer`.
public struct MockResponse: Sendable {
    public var status: Int
    /// Sent as given; the server adds `Content-Length` or `Transfer-Encoding: chunked` itself.
    public var headers: [HeaderField]
    public var body: MockBody
    /// Steps run before the head is written: `.pause`/`.waitFor` hold the head back, `.stall`,
    /// `.reset` and `.close` end the connection without any response, and `.data` is written raw
    /// (e.g. an interim `HTTP/1.1 100 Continue\r\n\r\n`). Empty by default.
    public var beforeHead: [MockChunk]
    /// The server closes the connection once this answer is written, without announcing it
    /// (`Connection: close`): what an upstream does when a kept-alive connection's idle time runs
    /// out. The client finds out when the connection is idle in its cache.
    public var closeAfterwards: Bool

    public init(
        status: Int = 200, headers: [HeaderField] = [], body: MockBody = .bytes([]), beforeHead: [MockChunk] = [],
        closeAfterwards: Bool = false
    ) {
        self.status = status
        self.headers = headers
        self.body = body
        self.beforeHead = beforeHead
        self.closeAfterwards = closeAfterwards
    }
}

/// How a mock response body goes on the wire.
public enum MockBody: Sendable {
    /// A `Content-Length` body, written together with the head.
    case bytes([UInt8])
    /// `Transfer-Encoding: chunked`; each `.data` is one chunk, sent (flushed) on its own; the
    /// terminating zero chunk follows unless a step ends the connection first.
    case chunks([MockChunk])
}

/// One step of a chunked mock body.
public enum MockChunk: Sendable {
    /// One chunk of data (empty data is skipped: a zero-size chunk would end the body).
    case data([UInt8])
    /// A server-side delay: how tests script slow or stalling upstreams (not test synchronisation).
    case pause(Duration)
    /// Blocks this response until the test opens the gate (deterministic ordering).
    case waitFor(MockGate)
    /// Aborts the connection with a TCP RST (SO_LINGER 0, then close) right now.
    case reset
    /// Closes the socket without the terminating chunk (a truncated body).
    case close
    /// Writes nothing more and keeps the connection open until the client closes it or the
    /// server stops.
    case stall

    /// A chunk of UTF-8 text.
    public static func text(_ string: String) -> MockChunk { .data(Array(string.utf8)) }
}

extension MockResponse {
    /// A `Content-Length` JSON body with `Content-Type: application/json`.
    public static func json(status: Int = 200, _ value: JSON, headers: [HeaderField] = []) -> MockResponse {
        json(status: status, value.serialized(), headers: headers)
    }

    /// Already-encoded JSON bytes (or deliberately broken ones) with `Content-Type: application/json`.
    public static func json(status: Int = 200, _ bytes: [UInt8], headers: [HeaderField] = []) -> MockResponse {
        MockResponse(
            status: status, headers: [HeaderField("Content-Type", "application/json")] + headers, body: .bytes(bytes))
    }

    /// A plain-text `Content-Length` body.
    public static func text(status: Int = 200, _ text: String, headers: [HeaderField] = []) -> MockResponse {
        MockResponse(
            status: status, headers: [HeaderField("Content-Type", "text/plain")] + headers,
            body: .bytes(Array(text.utf8)))
    }

    /// A chunked body from the given steps.
    public static func chunked(status: Int = 200, _ steps: [MockChunk], headers: [HeaderField] = []) -> MockResponse {
        MockResponse(status: status, headers: headers, body: .chunks(steps))
    }

    /// A `text/event-stream` body, one chunk per event. Each string is one event's text, such as
    /// `"data: {...}"` or `"event: ping\ndata: 1"`; a blank line ("\n\n") is appended unless the
    /// string already ends with one. `pause` is inserted between events; `tail` follows the last
    /// event (e.g. `[.stall]` or `[.close]`); without a terminating step the body ends normally.
    public static func sse(
        status: Int = 200, events: [String], pause: Duration? = nil, then tail: [MockChunk] = [],
        headers: [HeaderField] = []
    ) -> MockResponse {
        var steps: [MockChunk] = []
        steps.reserveCapacity(events.count * 2 + tail.count)
        for (i, event) in events.enumerated() {
            if i > 0, let pause { steps.append(.pause(pause)) }
            steps.append(.text(event.hasSuffix("\n\n") ? event : event + "\n\n"))
        }
        steps += tail
        let base = [HeaderField("Content-Type", "text/event-stream"), HeaderField("Cache-Control", "no-cache")]
        return MockResponse(status: status, headers: base + headers, body: .chunks(steps))
    }

    /// The head of a chunked response, then nothing until the client gives up or the server stops.
    public static func headersThenSilence(status: Int = 200, headers: [HeaderField] = []) -> MockResponse {
        MockResponse(status: status, headers: headers, body: .chunks([.stall]))
    }
}
