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
        var o: [UInt8] = []
        o.reserveCapacity(256)
        o.append(contentsOf: #"{"ts":""#.utf8)
        o.append(contentsOf: Self.timestamp().utf8)
        o.append(contentsOf: #"","level":""#.utf8)
        o.append(contentsOf: event.level.rawValue.utf8)
        o.append(contentsOf: #"","msg":"#.utf8)
        Self.string(event.message.description, into: &o)
        o.append(contentsOf: #","logger":"#.utf8)
        Self.string(label, into: &o)
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        for (k, v) in merged.sorted(by: { $0.key < $1.key }) {
            o.append(UInt8(ascii: ","))
            Self.string(k, into: &o)
            o.append(UInt8(ascii: ":"))
            Self.value(v, into: &o)
        }
        o.append(contentsOf: "}\n".utf8)
        sink.write(o)
    }

    static func value(_ v: Logger.Metadata.Value, into o: inout [UInt8]) {
        switch v {
        case .string(let s): string(s, into: &o)
        case .stringConvertible(let c):
            if let i = c as? any BinaryInteger {
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

    static func timestamp() -> String {
        let now = WallClock.now()
        var t = time_t(now.seconds)
        var tm = Glibc.tm()
        gmtime_r(&t, &tm)
        func pad(_ v: Int32, _ w: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, w - s.count)) + s
        }
        return "\(pad(tm.tm_year + 1900, 4))-\(pad(tm.tm_mon + 1, 2))-\(pad(tm.tm_mday, 2))T"
            + "\(pad(tm.tm_hour, 2)):\(pad(tm.tm_min, 2)):\(pad(tm.tm_sec, 2)).\(pad(Int32(now.nanoseconds / 1_000_000), 3))Z"
    }
}

/// Where log lines go: stderr, or a memory buffer for tests.
public final class LogSink: Sendable {
    let capture: Bool
    let buffer = Mutex<[UInt8]>([])
    public static let stderr = LogSink(capture: false)

    public init(capture: Bool) { self.capture = capture }

    func write(_ bytes: [UInt8]) {
        if capture {
            buffer.withLock { $0.append(contentsOf: bytes) }
        } else {
            bytes.withUnsafeBytes { p in _ = Glibc.write(2, p.baseAddress, p.count) }
        }
    }

    /// Everything captured so far (tests).
    public var captured: String { buffer.withLock { String(decoding: $0, as: UTF8.self) } }
}
