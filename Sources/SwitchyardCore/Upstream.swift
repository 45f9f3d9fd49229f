import Synchronization

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
        for f in self where HeaderField.namesEqual(f.name, name) { return f.value }
        return nil
    }
}

extension HeaderField {
    /// Whether two field names are the same, ASCII case-insensitively (RFC 9110 §5.1), compared
    /// byte by byte: no lowercased copy of either is made.
    public static func namesEqual(_ a: String, _ b: String) -> Bool {
        let x = a.utf8
        let y = b.utf8
        guard x.count == y.count else { return false }
        return zip(x, y).allSatisfy { UpstreamHeaderLines.lowercased($0) == UpstreamHeaderLines.lowercased($1) }
    }
}

/// An outbound HTTP request as the router hands it to a transport.
///
/// Timeouts: `connectTimeout` bounds TCP+TLS set-up; `timeout` bounds the whole exchange
/// (non-streaming attempts); `firstByteTimeout` bounds the wait from sending the request to the
/// first byte of the response body (headers alone do not count); `firstEventTimeout` bounds the
/// wait from sending the request to the consumer's `UpstreamBodyStream.eventArrived()` (a stream's
/// first real event: SSE comments and pings do not count), for transports whose
/// `enforcesFirstEventTimeout` is true; `idleTimeout` bounds the gap between two body chunks.
/// `nil` means no limit of that kind.
public struct UpstreamRequest: Sendable {
    public var method: String
    public var url: String
    /// Header fields, secrets included: the transport must never log them.
    public var headers: [HeaderField]
    public var body: [UInt8]
    public var connectTimeout: Duration
    public var timeout: Duration?
    public var firstByteTimeout: Duration?
    public var firstEventTimeout: Duration?
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
    private var storage: UpstreamHeaderLines

    /// The header fields in order (names as sent). A head made from raw lines parses them on
    /// first read: a forwarded 2xx answer's headers are usually never read.
    public var headers: [HeaderField] {
        get { storage.fields }
        set { storage = UpstreamHeaderLines(fields: newValue) }
    }

    public init(status: Int, headers: [HeaderField]) {
        self.status = status
        self.storage = UpstreamHeaderLines(fields: headers)
    }

    /// `lines` are the header lines as received, each ending in LF (CRLF or bare LF), without the
    /// status line and the blank line; obsolete line folding (RFC 9112 §5.2) is undone when parsed.
    public init(status: Int, rawLines: [UInt8]) {
        self.status = status
        self.storage = UpstreamHeaderLines(raw: rawLines)
    }

    /// The first value of a header (case-insensitive), read without parsing the others.
    public func value(for name: String) -> String? { storage.value(for: name) }

    /// The received lines while unparsed, when each field's name and value is a run of them as it
    /// stands: no folded line, all ASCII (so parsing repairs no invalid UTF-8). Else nil.
    var plainRawLines: [UInt8]? { storage.plainRaw }
}

/// Header fields, kept as the received lines until they are read.
final class UpstreamHeaderLines: Sendable {
    private enum State {
        case parsed([HeaderField])
        case raw([UInt8])
    }

    private let state: Mutex<State>

    init(fields: [HeaderField]) { state = Mutex(.parsed(fields)) }
    init(raw: [UInt8]) { state = Mutex(.raw(raw)) }

    var fields: [HeaderField] {
        state.withLock { state in
            switch state {
            case .parsed(let fields): return fields
            case .raw(let bytes):
                let fields = Self.parse(bytes)
                state = .parsed(fields)
                return fields
            }
        }
    }

    func value(for name: String) -> String? {
        let raw: [UInt8]? = state.withLock { state in
            if case .raw(let bytes) = state { return bytes }
            return nil
        }
        guard let raw else { return fields.value(for: name) }
        // A folded field spans lines: read those through the full parse.
        if Self.isFolded(raw) { return fields.value(for: name) }
        let wanted = name.utf8
        var result: String?
        raw.withUnsafeBufferPointer { b in
            Self.forEachLine(b) { line in
                guard result == nil, let colon = line.firstIndex(of: 0x3A) else { return }
                var end = colon
                while end > 0, line[end - 1] == 0x20 || line[end - 1] == 0x09 { end -= 1 }
                var start = 0
                while start < end, line[start] == 0x20 || line[start] == 0x09 { start += 1 }
                guard end - start == wanted.count else { return }
                for (i, byte) in wanted.enumerated() where Self.lowercased(line[start + i]) != Self.lowercased(byte) {
                    return
                }
                result = Self.trimmed(line, colon + 1, line.count)
            }
        }
        return result
    }

    var plainRaw: [UInt8]? {
        let raw: [UInt8]? = state.withLock { state in
            if case .raw(let bytes) = state { return bytes }
            return nil
        }
        guard let raw, raw.withUnsafeBufferPointer({ Self.isPlain($0) }) else { return nil }
        return raw
    }

    /// Whether `b` is all ASCII and no line starts with a space or tab (not `isFolded`), in one
    /// pass, eight bytes at a time: the two bytewise passes this replaces were 2.1% of a plain
    /// request's CPU in process (perf of `switchyard-bench gateway`).
    static func isPlain(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let p = b.baseAddress, b.count > 0 else { return true }
        let n = b.count
        @inline(__always) func blank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }
        if blank(p[0]) { return false }
        var i = 0
        while i &+ 8 <= n {
            let word = UInt64(littleEndian: UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self))
            if word & 0x8080_8080_8080_8080 != 0 { return false }
            // All bytes below 0x80 here, so adding 0x7F to each byte carries into no other: the
            // high bit of `~(x + 0x7F.. | x)` is set exactly at the bytes where x is 0 (a line feed).
            let x = word ^ 0x0A0A_0A0A_0A0A_0A0A
            var feeds = ~((x &+ 0x7F7F_7F7F_7F7F_7F7F) | x) & 0x8080_8080_8080_8080
            while feeds != 0 {
                let next = i &+ feeds.trailingZeroBitCount &>> 3 &+ 1
                if next < n, blank(p[next]) { return false }
                feeds &= feeds &- 1
            }
            i &+= 8
        }
        while i < n {
            let byte = p[i]
            if byte >= 0x80 { return false }
            if byte == 0x0A, i &+ 1 < n, blank(p[i &+ 1]) { return false }
            i &+= 1
        }
        return true
    }

    /// Whether a line starts with a space or tab (obsolete folding). A loop over the buffer: the
    /// zipped sequences this was written with cost 1% of the gateway's own work per request.
    static func isFolded(_ raw: [UInt8]) -> Bool {
        raw.withUnsafeBufferPointer { b in
            var lineStart = true
            for byte in b {
                if lineStart, byte == 0x20 || byte == 0x09 { return true }
                lineStart = byte == 0x0A
            }
            return false
        }
    }

    static func lowercased(_ b: UInt8) -> UInt8 { b >= 0x41 && b <= 0x5A ? b | 0x20 : b }

    static func forEachLine(_ b: UnsafeBufferPointer<UInt8>, _ body: (UnsafeBufferPointer<UInt8>) -> Void) {
        var start = 0
        while start < b.count {
            var end = start
            while end < b.count, b[end] != 0x0A { end += 1 }
            var stop = end
            while stop > start, b[stop - 1] == 0x0D { stop -= 1 }
            if stop > start { body(UnsafeBufferPointer(rebasing: b[start..<stop])) }
            start = end + 1
        }
    }

    static func parse(_ bytes: [UInt8]) -> [HeaderField] {
        var fields: [HeaderField] = []
        bytes.withUnsafeBufferPointer { b in
            forEachLine(b) { line in
                if line[0] == 0x20 || line[0] == 0x09 {  // obsolete line folding
                    if !fields.isEmpty { fields[fields.count - 1].value += " " + trimmed(line, 0, line.count) }
                    return
                }
                guard let colon = line.firstIndex(of: 0x3A) else { return }
                fields.append(HeaderField(trimmed(line, 0, colon), trimmed(line, colon + 1, line.count)))
            }
        }
        return fields
    }

    static func trimmed(_ line: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> String {
        var s = start
        var e = end
        while s < e, line[s] == 0x20 || line[s] == 0x09 { s += 1 }
        while e > s, line[e - 1] == 0x20 || line[e - 1] == 0x09 { e -= 1 }
        return String(decoding: UnsafeBufferPointer(rebasing: line[s..<e]), as: UTF8.self)
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
        case connect, firstByte = "first_byte", firstEvent = "first_event", idle, total
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

    /// Where the chunks come from: a transport's channel (`CurlUpstream`), or any
    /// `AsyncThrowingStream` (scripted upstreams in tests and the fuzz harness).
    enum Source: Sendable {
        case stream(AsyncThrowingStream<[UInt8], any Error>)
        case channel(UpstreamBodyReceiver)
    }

    let source: Source
    let onEvent: (@Sendable () -> Void)?
    /// Set by `redacting(with:)`: chunks pass through it, so a secret split across two is found.
    let redaction: StreamRedaction?

    /// `onEvent` is the transport's side of `eventArrived()`.
    public init(_ base: AsyncThrowingStream<[UInt8], any Error>, onEvent: (@Sendable () -> Void)? = nil) {
        self.source = .stream(base)
        self.onEvent = onEvent
        self.redaction = nil
    }

    /// A body fed through `channel` by its transport.
    package init(channel: UpstreamBodyChannel, onEvent: (@Sendable () -> Void)? = nil) {
        self.source = .channel(UpstreamBodyReceiver(channel))
        self.onEvent = onEvent
        self.redaction = nil
    }

    init(_ source: Source, onEvent: (@Sendable () -> Void)?, redaction: StreamRedaction?) {
        self.source = source
        self.onEvent = onEvent
        self.redaction = redaction
    }

    /// The consumer decoded the stream's first real event: `UpstreamRequest.firstEventTimeout`
    /// no longer applies. Harmless to call again, and a no-op for transports that do not enforce it.
    public func eventArrived() { onEvent?() }

    /// The same body with `redactor`'s secrets removed (`StreamRedaction`).
    public func redacting(with redactor: Redactor) -> UpstreamBodyStream {
        redactor.isEmpty ? self : UpstreamBodyStream(source, onEvent: onEvent, redaction: StreamRedaction(redactor))
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        enum Base {
            case stream(AsyncThrowingStream<[UInt8], any Error>.AsyncIterator)
            case channel(UpstreamBodyReceiver)
        }

        var base: Base
        var redaction: StreamRedaction?
        var ended = false

        public nonisolated(nonsending) mutating func next() async throws(UpstreamFailure) -> [UInt8]? {
            // Tested, not copied out: a `Redactor` copy is a retain and a release of each of its
            // six arrays per read.
            guard redaction != nil else { return try await pull() }
            while !ended {
                let pulled: [UInt8]?
                do {
                    pulled = try await pull()
                } catch {
                    throw redaction!.redactor.redact(error)
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

        nonisolated(nonsending) mutating func pull() async throws(UpstreamFailure) -> [UInt8]? {
            switch base {
            case .channel(let receiver):
                return try await receiver.channel.next()
            case .stream(var iterator):
                defer { base = .stream(iterator) }
                do {
                    return try await iterator.next(isolation: #isolation)
                } catch let f as UpstreamFailure {
                    throw f
                } catch {
                    throw .transport(String(describing: error))
                }
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        switch source {
        case .stream(let stream): AsyncIterator(base: .stream(stream.makeAsyncIterator()), redaction: redaction)
        case .channel(let receiver): AsyncIterator(base: .channel(receiver), redaction: redaction)
        }
    }

    /// Reads the rest of the body into one buffer.
    public nonisolated(nonsending) func collect(limit: Int = 64 << 20) async throws(UpstreamFailure) -> [UInt8] {
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
    nonisolated(nonsending) func perform(_ request: UpstreamRequest) async throws(UpstreamFailure) -> UpstreamResponse
    /// Sends the request and returns when the response head has arrived; the body follows as
    /// it arrives. Dropping or cancelling the consumer aborts the transfer.
    nonisolated(nonsending) func stream(
        _ request: UpstreamRequest
    ) async throws(UpstreamFailure) -> UpstreamStreamingResponse
    /// True when `stream` fails with `.timeout(.firstEvent)` once `UpstreamRequest.firstEventTimeout`
    /// passes before the consumer's `eventArrived()`. Otherwise (the default) the caller keeps
    /// its own timer.
    var enforcesFirstEventTimeout: Bool { get }
}

extension Upstream {
    public var enforcesFirstEventTimeout: Bool { false }
}
