import Glibc

/// One server-sent event: its `event:` name (if any) and its `data:` lines joined by `\n`.
///
/// The data is kept as the bytes received: the OpenAI passthrough parses and forwards them
/// without a `String` in between. `data` decodes them (invalid UTF-8 repaired) for the rest.
/// An event that is one `data:` line within one read is a slice of that read's bytes, not a
/// copy (a copy was an allocation per event).
public struct SSEMessage: Sendable, Equatable {
    public var event: String?
    public var bytes: ArraySlice<UInt8>

    public var data: String {
        get { String(decoding: bytes, as: UTF8.self) }
        set { bytes = Array(newValue.utf8)[...] }
    }

    public init(event: String? = nil, data: String) {
        self.event = event
        self.bytes = Array(data.utf8)[...]
    }

    public init(event: String? = nil, bytes: [UInt8]) {
        self.event = event
        self.bytes = bytes[...]
    }

    public init(event: String? = nil, bytes: ArraySlice<UInt8>) {
        self.event = event
        self.bytes = bytes
    }

    /// True when the data is exactly `text` (`[DONE]`), compared as bytes.
    public func dataIs(_ text: StaticString) -> Bool {
        bytes.count == text.utf8CodeUnitCount
            && bytes.withUnsafeBufferPointer { b in
                (0..<b.count).allSatisfy { b[$0] == text.utf8Start[$0] }
            }
    }
}

/// Incremental parser for `text/event-stream` (WHATWG HTML §9.2.6): lines end in LF, CRLF or
/// CR; a blank line dispatches; `:` lines are comments; `id:` and `retry:` are ignored.
/// Bytes may be split anywhere, including inside a CRLF pair or a UTF-8 sequence.
///
/// A chunk is scanned for line ends and whole lines are copied at once (the byte-at-a-time
/// version was a tenth of a streamed answer's CPU in the passthrough). A chunk without a CR (as
/// every provider sends) finds its line ends with `memchr`; the loop that looks for both LF and
/// CR was the parser's largest cost.
///
/// An event (its partial line and its data so far) is bounded by `maxEventBytes`: an upstream that
/// never ends a line or an event would otherwise grow the buffer without end. Past it the parser
/// is `overflowed`, drops what it holds and reads nothing more; the stream judge ends the stream
/// there as truncated.
public struct SSEParser: Sendable {
    /// The default bound of one event: far above any real event (a chunk is a few hundred bytes,
    /// an image in base64 a few MB).
    public static let defaultMaxEventBytes = 16 << 20

    private var line: [UInt8] = []
    private var data: [UInt8] = []
    /// The data of an event that so far is one `data:` line of the read being parsed: where its
    /// value is in that read, not yet copied to `data` (it is copied when a second line comes,
    /// or when the read ends before the event does).
    private var pending: Range<Int>?
    private var hasData = false
    private var event: String?
    private var lastWasCR = false
    public var maxEventBytes = SSEParser.defaultMaxEventBytes
    /// An event passed `maxEventBytes`; nothing more is parsed.
    public private(set) var overflowed = false

    public init() {}

    private mutating func overflow() {
        overflowed = true
        line = []
        data = []
        pending = nil
        hasData = false
        event = nil
    }

    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [SSEMessage] {
        var out: [SSEMessage] = []
        feed(bytes) { out.append($0) }
        return out
    }

    /// `feed(_:)` handing each message to `body` as it completes instead of collecting them.
    public mutating func feed(_ bytes: some Sequence<UInt8>, _ body: (SSEMessage) -> Void) {
        if let array = bytes as? [UInt8] { return feed(array, body) }
        feed(Array(bytes), body)
    }

    public mutating func feed(_ bytes: [UInt8], _ body: (SSEMessage) -> Void) {
        bytes.withUnsafeBufferPointer { feed(buffer: $0, source: bytes, body) }
        // The read ends: an event it began is kept as a copy.
        if let p = pending { keep(p, of: bytes) }
    }

    /// Copies the pending line's value from `source` to `data`.
    private mutating func keep(_ p: Range<Int>, of source: [UInt8]) {
        pending = nil
        data.append(contentsOf: source[p])
    }

    private mutating func feed(
        buffer b: UnsafeBufferPointer<UInt8>, source: [UInt8], _ body: (SSEMessage) -> Void
    ) {
        if overflowed { return }
        guard let base = b.baseAddress else { return }
        var i = 0
        if lastWasCR {
            lastWasCR = false
            if b[i] == 0x0A { i += 1 }
        }
        let hasCR = memchr(base, 0x0D, b.count) != nil
        while i < b.count {
            var end = i
            if hasCR {
                while end < b.count, b[end] != 0x0A, b[end] != 0x0D { end += 1 }
            } else if let lf = memchr(base + i, 0x0A, b.count - i) {
                end = base.distance(to: lf.assumingMemoryBound(to: UInt8.self))
            } else {
                end = b.count
            }
            if end == b.count {
                if let p = pending { keep(p, of: source) }
                guard end - i <= maxEventBytes - line.count - data.count else {
                    overflow()
                    break
                }
                line.append(contentsOf: UnsafeBufferPointer(rebasing: b[i..<end]))
                break
            }
            if let m = endLine(UnsafeBufferPointer(rebasing: b[i..<end]), at: i, of: source) { body(m) }
            if overflowed { break }
            i = end + 1
            if b[end] == 0x0D {
                if i == b.count {
                    lastWasCR = true
                } else if b[i] == 0x0A {
                    i += 1
                }
            }
        }
    }

    /// End of body: a final event not followed by a blank line is dispatched too.
    public mutating func finish() -> [SSEMessage] {
        var out: [SSEMessage] = []
        if overflowed { return out }
        let empty = UnsafeBufferPointer<UInt8>(start: nil, count: 0)
        if !line.isEmpty, let m = endLine(empty, at: 0, of: []) { out.append(m) }
        if let m = endLine(empty, at: 0, of: []) { out.append(m) }
        return out
    }

    /// A line ends: the pending partial `line` plus `tail` (bytes of the current read,
    /// `source`, from `offset` on).
    private mutating func endLine(
        _ tail: UnsafeBufferPointer<UInt8>, at offset: Int, of source: [UInt8]
    ) -> SSEMessage? {
        if line.isEmpty { return endLine(complete: tail, at: offset, of: source) }
        line.append(contentsOf: tail)
        defer { line.removeAll(keepingCapacity: true) }
        // A line that began in an earlier read has no place in `source`.
        return line.withUnsafeBufferPointer { endLine(complete: $0, at: nil, of: source) }
    }

    /// Whether a line's field name is `name` (the generic `elementsEqual` was a tenth of the
    /// parser's own time).
    @inline(__always)
    private static func field(_ field: UnsafeBufferPointer<UInt8>, is name: StaticString) -> Bool {
        guard field.count == name.utf8CodeUnitCount else { return false }
        for i in 0..<field.count where field[i] != name.utf8Start[i] { return false }
        return true
    }

    /// A whole line, which is `source[offset...]` when `offset` is known.
    private mutating func endLine(
        complete line: UnsafeBufferPointer<UInt8>, at offset: Int?, of source: [UInt8]
    ) -> SSEMessage? {
        if line.isEmpty {
            // Dispatch only when a `data:` line was seen (an `event:` alone is not an event);
            // a single empty `data:` line dispatches an event with empty data, as the spec says.
            defer {
                hasData = false
                event = nil
            }
            guard hasData else { return nil }
            if let p = pending {
                pending = nil
                return SSEMessage(event: event, bytes: source[p])
            }
            defer { data.removeAll(keepingCapacity: true) }
            return SSEMessage(event: event, bytes: data)
        }
        if line[0] == UInt8(ascii: ":") { return nil }
        let colon = line.firstIndex(of: UInt8(ascii: ":")) ?? line.count
        let field = UnsafeBufferPointer(rebasing: line[0..<colon])
        var valueStart = colon < line.count ? colon + 1 : colon
        if valueStart < line.count, line[valueStart] == UInt8(ascii: " ") { valueStart += 1 }
        let value = UnsafeBufferPointer(rebasing: line[valueStart...])
        if Self.field(field, is: "data") {
            guard value.count < maxEventBytes - data.count - (pending?.count ?? 0) else {
                overflow()
                return nil
            }
            if !hasData, let offset {
                pending = (offset + valueStart)..<(offset + line.count)
                hasData = true
                return nil
            }
            if let p = pending { keep(p, of: source) }
            if hasData { data.append(0x0A) }
            data.append(contentsOf: value)
            hasData = true
        } else if Self.field(field, is: "event") {
            event = Self.knownEvent(value) ?? String(decoding: value, as: UTF8.self)
        }
        return nil
    }

    /// The event names Anthropic sends with every event, handed on as constants: most are over
    /// 15 bytes, too long for a `String` without an allocation of its own.
    private static func knownEvent(_ name: UnsafeBufferPointer<UInt8>) -> String? {
        switch name.count {
        case 19:
            if field(name, is: "content_block_delta") { return "content_block_delta" }
            if field(name, is: "content_block_start") { return "content_block_start" }
        case 18: if field(name, is: "content_block_stop") { return "content_block_stop" }
        case 13:
            if field(name, is: "message_start") { return "message_start" }
            if field(name, is: "message_delta") { return "message_delta" }
        case 12: if field(name, is: "message_stop") { return "message_stop" }
        default: break
        }
        return nil
    }
}
