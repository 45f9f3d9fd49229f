import Glibc
public import Logging
import SwitchyardCore
import Synchronization

/// One JSON object per line on stderr: `ts`, `level`, `msg`, `label`, then metadata.
/// Library code passes its `Logger` explicitly (task-locals don't reach C threads).
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    let label: String
    let sink: LogSink

    public init(label: String, sink: LogSink = .stderr) {
        self.label = label
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        write(level: event.level, message: event.message.description) { o in
            // Without metadata of the handler's own (the usual case) the event's is written as it is:
            // merging copied every entry of a request's access-log line into a new table (7% of
            // `switchyard-bench gateway --access-log`).
            let merged: Logger.Metadata
            if metadata.isEmpty {
                merged = event.metadata ?? [:]
            } else if let extra = event.metadata, !extra.isEmpty {
                merged = metadata.merging(extra) { $1 }
            } else {
                merged = metadata
            }
            for (k, v) in merged.sorted(by: { $0.key < $1.key }) {
                o.append(UInt8(ascii: ","))
                Self.string(k, into: &o)
                o.append(UInt8(ascii: ":"))
                Self.value(v, into: &o)
            }
        }
    }

    /// One line: `ts`, `level`, `msg` and `logger`, then what `fields` appends (`,"key":value`
    /// each, in key order), written to the sink at once. `log(event:)` and the access line's own
    /// writer (`Gateway.writeAccessLine`) share it, so both begin their lines alike.
    func write(level: Logger.Level, message: String, fields: (inout [UInt8]) -> Void) {
        sink.write(Self.line(level: level, message: message, label: label, fields: fields))
    }

    /// The bytes of one line as `write(level:message:fields:)` makes it.
    static func line(
        level: Logger.Level, message: String, label: String, fields: (inout [UInt8]) -> Void
    ) -> [UInt8] {
        var o: [UInt8] = []
        o.reserveCapacity(512)
        o.append(contentsOf: #"{"ts":""#.utf8)
        Self.timestamp(into: &o)
        o.append(contentsOf: #"","level":""#.utf8)
        o.append(contentsOf: level.rawValue.utf8)
        o.append(contentsOf: #"","msg":"#.utf8)
        Self.string(message, into: &o)
        o.append(contentsOf: #","logger":"#.utf8)
        Self.string(label, into: &o)
        fields(&o)
        o.append(contentsOf: "}\n".utf8)
        return o
    }

    static func value(_ v: Logger.Metadata.Value, into o: inout [UInt8]) {
        switch v {
        case .string(let s): string(s, into: &o)
        case .stringConvertible(let c):
            // The access log's integers are `Int` and its flags `Bool`: cast to those first, a
            // cast to a concrete type being cheaper than one to an existential.
            if let i = c as? Int {
                digits(i, width: 1, into: &o)
            } else if let b = c as? Bool {
                string(b ? "true" : "false", into: &o)
            } else if let i = c as? any BinaryInteger {
                o.append(contentsOf: "\(i)".utf8)
            } else {
                string(c.description, into: &o)
            }
        case .array(let a):
            o.append(UInt8(ascii: "["))
            for (i, e) in a.enumerated() {
                if i > 0 { o.append(UInt8(ascii: ",")) }
                value(e, into: &o)
            }
            o.append(UInt8(ascii: "]"))
        case .dictionary(let d):
            o.append(UInt8(ascii: "{"))
            for (i, (k, e)) in d.sorted(by: { $0.key < $1.key }).enumerated() {
                if i > 0 { o.append(UInt8(ascii: ",")) }
                string(k, into: &o)
                o.append(UInt8(ascii: ":"))
                value(e, into: &o)
            }
            o.append(UInt8(ascii: "}"))
        }
    }

    static func string(_ s: String, into o: inout [UInt8]) {
        JSON.writeString(s, to: &o)
    }

    /// `2026-12-06T19:05:00.123Z` (UTC, milliseconds), written into `o` digit by digit: the
    /// padded strings it was built from took seven allocations per line.
    static func timestamp(into o: inout [UInt8]) {
        let now = WallClock.now()
        var t = time_t(now.seconds)
        var tm = Glibc.tm()
        gmtime_r(&t, &tm)
        digits(Int(tm.tm_year) + 1900, width: 4, into: &o)
        o.append(UInt8(ascii: "-"))
        digits(Int(tm.tm_mon) + 1, width: 2, into: &o)
        o.append(UInt8(ascii: "-"))
        digits(Int(tm.tm_mday), width: 2, into: &o)
        o.append(UInt8(ascii: "T"))
        digits(Int(tm.tm_hour), width: 2, into: &o)
        o.append(UInt8(ascii: ":"))
        digits(Int(tm.tm_min), width: 2, into: &o)
        o.append(UInt8(ascii: ":"))
        digits(Int(tm.tm_sec), width: 2, into: &o)
        o.append(UInt8(ascii: "."))
        digits(now.nanoseconds / 1_000_000, width: 3, into: &o)
        o.append(UInt8(ascii: "Z"))
    }

    /// `value` in decimal, zero-padded to at least `width` digits (after a minus sign).
    static func digits(_ value: Int, width: Int, into o: inout [UInt8]) {
        if value < 0 { o.append(UInt8(ascii: "-")) }
        let magnitude = value.magnitude
        var divisor: UInt = 1
        var count = 1
        while magnitude / divisor >= 10 {
            divisor *= 10
            count += 1
        }
        for _ in count..<max(width, count) { o.append(UInt8(ascii: "0")) }
        while divisor > 0 {
            o.append(UInt8(ascii: "0") + UInt8(magnitude / divisor % 10))
            divisor /= 10
        }
    }
}

/// Where log lines go: stderr (through a `LogWriter`, so that logging never waits for the reader),
/// a memory buffer for tests, or nowhere (benchmarks).
public final class LogSink: Sendable {
    private enum Destination {
        case writer(LogWriter)
        case capture
        case discard
    }

    private let destination: Destination
    let buffer = Mutex<[UInt8]>([])
    public static let stderr = LogSink(descriptor: 2)

    /// `capture`: lines are kept in memory (`captured`); else they go to stderr.
    public convenience init(capture: Bool) {
        if capture {
            self.init(.capture)
        } else {
            self.init(descriptor: 2)
        }
    }

    /// Lines go to `descriptor` from a writer thread, up to `capacity` bytes waiting.
    convenience init(descriptor: Int32, capacity: Int = 4 << 20) {
        self.init(.writer(LogWriter(fd: descriptor, capacity: capacity) { Self.dropNote($0, capacity: capacity) }))
    }

    private init(_ destination: Destination) { self.destination = destination }

    convenience init(discarding: ()) { self.init(.discard) }

    private var writer: LogWriter? {
        if case .writer(let w) = destination { w } else { nil }
    }

    /// The line that stands where `count` lines were dropped, `capacity` bytes waiting already.
    static func dropNote(_ count: Int, capacity: Int) -> [UInt8] {
        JSONLogHandler.line(level: .warning, message: "log lines dropped", label: "switchyard") { o in
            o.append(contentsOf: #","count":\#(count),"waiting_bytes_limit":\#(capacity)"#.utf8)
        }
    }

    /// Lines dropped so far because the log's reader fell behind (`switchyard_log_lines_dropped_total`).
    public var droppedLines: Int { writer?.droppedLines ?? 0 }

    /// Waits (up to `timeout`) until the lines logged so far are written; at exit.
    public func flush(timeout: Duration = .seconds(2)) { writer?.flush(timeout: timeout) }

    /// Drops every line once it is made: a benchmark's line costs its making, without a buffer
    /// growing by every line (its page faults were a tenth of `switchyard-bench gateway
    /// --access-log`) or a write.
    public static func discarding() -> LogSink { LogSink(discarding: ()) }

    func write(_ bytes: [UInt8]) {
        switch destination {
        case .writer(let writer): writer.write(bytes)
        case .capture: buffer.withLock { $0.append(contentsOf: bytes) }
        case .discard: break
        }
    }

    /// Everything captured so far (tests).
    public var captured: String { buffer.withLock { String(decoding: $0, as: UTF8.self) } }
}
