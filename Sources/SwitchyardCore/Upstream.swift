/// One HTTP header field as sent or received; names keep their wire spelling.
public struct HeaderField: Sendable, Hashable {
    public var name: String
    public var value: String
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

extension Array where Element == HeaderField {
    /// The first value of a header, compared case-insensitively (RFC 9110 §5.1).
    public func value(for name: String) -> String? {
        for f in self where f.name.count == name.count && f.name.lowercased() == name.lowercased() { return f.value }
        return nil
    }
}

/// An outbound HTTP request as the router hands it to a transport.
///
/// Timeouts: `connectTimeout` bounds TCP+TLS set-up; `timeout` bounds the whole exchange
/// (non-streaming attempts); `firstByteTimeout` bounds the wait from sending the request to the
/// first byte of the response body (headers alone do not count); `idleTimeout` bounds the gap
/// between two body chunks. `nil` means no limit of that kind.
public struct UpstreamRequest: Sendable {
    public var method: String
    public var url: String
    /// Header fields, secrets included: the transport must never log them.
    public var headers: [HeaderField]
    public var body: [UInt8]
    public var connectTimeout: Duration
    public var timeout: Duration?
    public var firstByteTimeout: Duration?
    public var idleTimeout: Duration?

    public init(
        method: String = "POST", url: String, headers: [HeaderField], body: [UInt8],
        connectTimeout: Duration = .seconds(10), timeout: Duration? = nil,
        firstByteTimeout: Duration? = nil, idleTimeout: Duration? = nil
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.connectTimeout = connectTimeout
        self.timeout = timeout
        self.firstByteTimeout = firstByteTimeout
        self.idleTimeout = idleTimeout
    }
}

/// Status line and headers of an upstream response.
public struct UpstreamHead: Sendable {
    public var status: Int
    public var headers: [HeaderField]
    public init(status: Int, headers: [HeaderField]) {
        self.status = status
        self.headers = headers
    }
}

/// A complete (buffered) upstream response.
public struct UpstreamResponse: Sendable {
    public var head: UpstreamHead
    public var body: [UInt8]
    public init(head: UpstreamHead, body: [UInt8]) {
        self.head = head
        self.body = body
    }
}

/// Why an upstream exchange produced no (complete) HTTP response. Payload-free `kind` for metrics.
public enum UpstreamFailure: Error, Sendable, Equatable {
    /// DNS, refused or unreachable: nothing was sent.
    case connect(String)
    /// The connection broke after the request was sent (reset, truncated body, protocol error).
    case transport(String)
    /// A timeout fired; the phase says which one.
    case timeout(TimeoutPhase)
    /// The caller cancelled (client disconnect, deadline, task cancel).
    case cancelled

    public enum TimeoutPhase: String, Sendable {
        case connect, firstByte = "first_byte", idle, total
    }

    public var kind: String {
        switch self {
        case .connect: "connect"
        case .transport: "transport"
        case .timeout(let p): "timeout_\(p.rawValue)"
        case .cancelled: "cancelled"
        }
    }
}

/// The body of a streaming upstream response: chunks in arrival order, ending normally at the
/// end of the body or throwing `UpstreamFailure`. Iterating it is single-consumer.
public struct UpstreamBodyStream: AsyncSequence, Sendable {
    public typealias Element = [UInt8]
    public typealias Failure = UpstreamFailure

    let base: AsyncThrowingStream<[UInt8], any Error>
    /// Set by `redacting(with:)`: chunks pass through it, so a secret split across two is found.
    let redaction: StreamRedaction?

    public init(_ base: AsyncThrowingStream<[UInt8], any Error>) {
        self.base = base
        self.redaction = nil
    }

    init(_ base: AsyncThrowingStream<[UInt8], any Error>, redaction: StreamRedaction?) {
        self.base = base
        self.redaction = redaction
    }

    /// The same body with `redactor`'s secrets removed (`StreamRedaction`).
    public func redacting(with redactor: Redactor) -> UpstreamBodyStream {
        redactor.isEmpty ? self : UpstreamBodyStream(base, redaction: StreamRedaction(redactor))
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncThrowingStream<[UInt8], any Error>.AsyncIterator
        var redaction: StreamRedaction?
        var ended = false

        public mutating func next() async throws(UpstreamFailure) -> [UInt8]? {
            guard let redactor = redaction?.redactor else { return try await pull() }
            while !ended {
                let pulled: [UInt8]?
                do {
                    pulled = try await pull()
                } catch {
                    throw redactor.redact(error)
                }
                guard let chunk = pulled else {
                    ended = true
                    let tail = redaction!.finish()
                    return tail.isEmpty ? nil : tail
                }
                // A chunk that is all held back (an open line that may end in a secret) is
                // followed by the next one at once: nothing could have used it alone.
                let out = redaction!.feed(chunk)
                if !out.isEmpty { return out }
            }
            return nil
        }

        mutating func pull() async throws(UpstreamFailure) -> [UInt8]? {
            do {
                return try await base.next()
            } catch let f as UpstreamFailure {
                throw f
            } catch {
                throw .transport(String(describing: error))
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: base.makeAsyncIterator(), redaction: redaction)
    }

    /// Reads the rest of the body into one buffer.
    public func collect(limit: Int = 64 << 20) async throws(UpstreamFailure) -> [UInt8] {
        var out: [UInt8] = []
        var it = makeAsyncIterator()
        while let chunk = try await it.next() {
            out.append(contentsOf: chunk)
            if out.count > limit { throw .transport("upstream body over \(limit) bytes") }
        }
        return out
    }
}

/// A streaming upstream response: the head as soon as it arrived, then the body.
public struct UpstreamStreamingResponse: Sendable {
    public var head: UpstreamHead
    public var body: UpstreamBodyStream
    public init(head: UpstreamHead, body: UpstreamBodyStream) {
        self.head = head
        self.body = body
    }
}

/// The router's only way to the network. `CurlUpstream` implements it; tests may script one.
///
/// Cancelling the calling task aborts the transfer promptly and throws `.cancelled`.
public protocol Upstream: Sendable {
    /// Sends the request and buffers the whole response.
    func perform(_ request: UpstreamRequest) async throws(UpstreamFailure) -> UpstreamResponse
    /// Sends the request and returns when the response head has arrived; the body follows as
    /// it arrives. Dropping or cancelling the consumer aborts the transfer.
    func stream(_ request: UpstreamRequest) async throws(UpstreamFailure) -> UpstreamStreamingResponse
}
