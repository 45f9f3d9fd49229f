/// One server-sent event: its `event:` name (if any) and its `data:` lines joined by `\n`.
public struct SSEMessage: Sendable, Equatable {
    public var event: String?
    public var data: String
    public init(event: String? = nil, data: String) {
        self.event = event
        self.data = data
    }
}

/// Incremental parser for `text/event-stream` (WHATWG HTML §9.2.6): lines end in LF, CRLF or
/// CR; a blank line dispatches; `:` lines are comments; `id:` and `retry:` are ignored.
/// Bytes may be split anywhere, including inside a CRLF pair or a UTF-8 sequence.
public struct SSEParser: Sendable {
    private var line: [UInt8] = []
    private var data: [UInt8] = []
    private var hasData = false
    private var event: String?
    private var lastWasCR = false

    public init() {}

    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [SSEMessage] {
        var out: [SSEMessage] = []
        for b in bytes {
            if lastWasCR {
                lastWasCR = false
                if b == 0x0A { continue }
            }
            if b == 0x0A || b == 0x0D {
                lastWasCR = b == 0x0D
                if let m = endLine() { out.append(m) }
            } else {
                line.append(b)
            }
        }
        return out
    }

    /// End of body: a final event not followed by a blank line is dispatched too.
    public mutating func finish() -> [SSEMessage] {
        var out: [SSEMessage] = []
        if !line.isEmpty, let m = endLine() { out.append(m) }
        if let m = endLine() { out.append(m) }
        return out
    }

    private mutating func endLine() -> SSEMessage? {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty {
            // Dispatch only when a `data:` line was seen (an `event:` alone is not an event);
            // a single empty `data:` line dispatches an event with empty data, as the spec says.
            defer {
                data.removeAll(keepingCapacity: true)
                hasData = false
                event = nil
            }
            guard hasData else { return nil }
            return SSEMessage(event: event, data: String(decoding: data, as: UTF8.self))
        }
        if line[0] == UInt8(ascii: ":") { return nil }
        let colon = line.firstIndex(of: UInt8(ascii: ":")) ?? line.count
        let field = line[0..<colon]
        var valueStart = colon < line.count ? colon + 1 : colon
        if valueStart < line.count, line[valueStart] == UInt8(ascii: " ") { valueStart += 1 }
        let value = line[valueStart...]
        if field.elementsEqual("data".utf8) {
            if hasData { data.append(0x0A) }
            data.append(contentsOf: value)
            hasData = true
        } else if field.elementsEqual("event".utf8) {
            event = String(decoding: value, as: UTF8.self)
        }
        return nil
    }
}
