import CMicroHTTPD
import CSwitchyardEdge
import Glibc

/// A bound, listening TCP socket; the `Acceptor` accepts on it.
///
/// We bind ourselves rather than letting MHD do it so that a failure carries errno and a clear
/// message ("address already in use: 127.0.0.1:4000"); MHD_start_daemon only returns NULL.
struct ListenSocket: Sendable {
    /// IPv4 or IPv6 socket address parsed from a literal.
    enum Address: Sendable {
        case v4(in_addr)
        case v6(in6_addr)

        init?(literal: String) {
            var v4 = in_addr()
            if inet_pton(AF_INET, literal, &v4) == 1 {
                self = .v4(v4)
                return
            }
            var v6 = in6_addr()
            if inet_pton(AF_INET6, literal, &v6) == 1 {
                self = .v6(v6)
                return
            }
            return nil
        }

        var isIPv6: Bool {
            if case .v6 = self { return true }
            return false
        }
    }

    let fd: Int32
    let port: Int

    /// Creates, binds and listens; closes the socket again on any failure.
    static func bind(host: String, port: UInt16, backlog: Int32) throws(HTTPServerError) -> ListenSocket {
        guard let address = Address(literal: host) else {
            throw HTTPServerError(.invalidConfiguration, "host is not an IPv4 or IPv6 literal: \(host)")
        }
        let display = address.isIPv6 ? "[\(host)]:\(port)" : "\(host):\(port)"
        let family = address.isIPv6 ? AF_INET6 : AF_INET
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            throw HTTPServerError(.bindFailed, "cannot create socket for \(display): \(errnoText())")
        }
        var on: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        let result: Int32
        switch address {
        case .v4(let addr):
            result = bind(
                fd,
                sockaddr_in(
                    sin_family: sa_family_t(AF_INET), sin_port: port.bigEndian, sin_addr: addr,
                    sin_zero: (0, 0, 0, 0, 0, 0, 0, 0)))
        case .v6(let addr):
            result = bind(
                fd,
                sockaddr_in6(
                    sin6_family: sa_family_t(AF_INET6), sin6_port: port.bigEndian, sin6_flowinfo: 0, sin6_addr: addr,
                    sin6_scope_id: 0))
        }
        if result != 0 {
            let code = errno
            close(fd)
            if code == EADDRINUSE {
                throw HTTPServerError(.addressInUse, "address already in use: \(display)")
            }
            throw HTTPServerError(.bindFailed, "cannot bind \(display): \(errnoText(code))")
        }
        if listen(fd, backlog) != 0 {
            let code = errno
            close(fd)
            throw HTTPServerError(.bindFailed, "cannot listen on \(display): \(errnoText(code))")
        }
        // Non-blocking: the acceptor accepts until EAGAIN.
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)

        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        var bound = Int(port)
        if named == 0 {
            bound = withUnsafePointer(to: &storage) { pointer in
                if address.isIPv6 {
                    pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                        Int(UInt16(bigEndian: $0.pointee.sin6_port))
                    }
                } else {
                    pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                        Int(UInt16(bigEndian: $0.pointee.sin_port))
                    }
                }
            }
        }
        return ListenSocket(fd: fd, port: bound)
    }

    /// `bind(2)` with a `sockaddr_in` or `sockaddr_in6`, passed as the `sockaddr` it begins with.
    private static func bind<Address>(_ fd: Int32, _ address: Address) -> Int32 {
        withUnsafePointer(to: address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.bind(fd, $0, socklen_t(MemoryLayout<Address>.size))
            }
        }
    }

    static func errnoText(_ code: Int32 = errno) -> String {
        guard let text = strerror(code) else { return "errno \(code)" }
        return String(cString: text)
    }
}
