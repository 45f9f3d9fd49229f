import CMicroHTTPD  // sockaddr as the C headers declare it (which module owns it depends on build order)
import CSwitchyardEdge
import Glibc

/// A client's IP address, the key of the per-peer connection count.
///
/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, what a dual-stack listener sees for IPv4
/// clients) count as the IPv4 address, so one client is one peer whichever way it arrives.
struct PeerAddress: Hashable, Sendable {
    private let high: UInt64
    private let low: UInt64
    /// 127.0.0.0/8 or ::1: a client on this host (for a sidecar, its own app).
    let isLoopback: Bool

    /// Reads an AF_INET or AF_INET6 socket address; nil for anything else (a Unix socket).
    init?(_ address: UnsafePointer<sockaddr>) {
        switch Int32(address.pointee.sa_family) {
        case AF_INET:
            let v4 = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr.s_addr }
            self.init(v4: UInt32(bigEndian: v4))
        case AF_INET6:
            let bytes = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
                withUnsafeBytes(of: pointer.pointee.sin6_addr) { Array($0) }
            }
            let high = bytes[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let low = bytes[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            if high == 0, low >> 32 == 0xFFFF {
                self.init(v4: UInt32(truncatingIfNeeded: low))
            } else {
                self.init(high: high, low: low, isLoopback: high == 0 && low == 1)
            }
        default:
            return nil
        }
    }

    private init(v4: UInt32) {
        self.init(high: 0, low: 0xFFFF_0000_0000 | UInt64(v4), isLoopback: v4 >> 24 == 127)
    }

    private init(high: UInt64, low: UInt64, isLoopback: Bool) {
        self.high = high
        self.low = low
        self.isLoopback = isLoopback
    }
}
