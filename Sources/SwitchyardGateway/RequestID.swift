import SwitchyardCore
import Synchronization

/// Request ids: an incoming `x-request-id` is honoured when it is short printable ASCII
/// (so it cannot inject into logs or headers); otherwise a fresh `req_` + 24 hex digits.
enum RequestID {
    static func from(_ incoming: String?) -> String {
        if let s = incoming, !s.isEmpty, s.utf8.count <= 128,
            s.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") })
        {
            return s
        }
        return generate()
    }

    /// 48 random bits drawn once per process, then a counter: unique within the process and
    /// across restarts in practice, with no system call per request.
    static let prefix: String = {
        var g = SystemRandomNumberGenerator()
        let bits: UInt64 = g.next()
        return "req_" + Hex.digits(bits & 0xFFFF_FFFF_FFFF, 12)
    }()
    static let counter = Atomic<UInt64>(0)

    /// `prefix` and 12 hex digits of the counter, written straight into one string.
    static func generate() -> String {
        let n = counter.add(1, ordering: .relaxed).newValue
        var p = prefix
        return p.withUTF8 { head in
            String(unsafeUninitializedCapacity: head.count + 12) { out in
                _ = out.initialize(fromContentsOf: head)
                for i in 0..<12 {
                    let digit = UInt8(truncatingIfNeeded: (n >> UInt64(4 * (11 - i))) & 0xF)
                    out[head.count + i] = digit < 10 ? 0x30 + digit : 0x57 + digit
                }
                return head.count + 12
            }
        }
    }

    /// 128 fresh random bits as 32 hex digits: ids a client may hold on to and present again
    /// (stored responses), which must be neither guessable nor derived from a client-chosen id.
    static func random128() -> String {
        var g = SystemRandomNumberGenerator()
        return Hex.digits(g.next(), 16) + Hex.digits(g.next(), 16)
    }
}
