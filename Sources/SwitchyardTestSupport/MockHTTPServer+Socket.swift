import Glibc

/// Thin POSIX socket helpers for the mock server (IPv4 loopback only).
enum MockSocket {
    /// A listening socket on 127.0.0.1:`port` (0 = any free port) and the port it got.
    ///
    /// A socket on a port the kernel picked also gets SO_REUSEPORT, so that `reserve(port:)`
    /// can hold the port after the listener stops (see `MockServerCore.stopListening`). A port
    /// asked for by number does not: a second server on it must fail, not share it.
    static func listen(port: UInt16, backlog: Int32 = 1024) -> (fd: Int32, port: Int)? {
        guard let fd = bound(port: port, reusePort: port == 0) else { return nil }
        guard Glibc.listen(fd, backlog) == 0 else {
            close(fd)
            return nil
        }
        var addr = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else {
            close(fd)
            return nil
        }
        return (fd, Int(UInt16(bigEndian: addr.sin_port)))
    }

    /// A socket bound to 127.0.0.1:`port` that never listens: it keeps the port from being
    /// handed to anyone else, and a connection to it is refused (RST to the SYN). Without
    /// SO_REUSEADDR: a non-listening socket that has it lets any other SO_REUSEADDR socket bind
    /// the same port.
    static func reserve(port: UInt16) -> Int32? { bound(port: port, reuseAddress: false, reusePort: true) }

    private static func bound(port: UInt16, reuseAddress: Bool = true, reusePort: Bool) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        if reuseAddress { setFlag(fd, SOL_SOCKET, SO_REUSEADDR) }
        if reusePort { setFlag(fd, SOL_SOCKET, SO_REUSEPORT) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let result = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            close(fd)
            return nil
        }
        return fd
    }

    static func setFlag(_ fd: Int32, _ level: Int32, _ option: Int32) {
        var one: Int32 = 1
        _ = setsockopt(fd, level, option, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    static func setNoDelay(_ fd: Int32) { setFlag(fd, Int32(IPPROTO_TCP), TCP_NODELAY) }

    /// Closes with SO_LINGER {on, 0}: the kernel sends RST instead of FIN.
    static func resetAndClose(_ fd: Int32) {
        var l = linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
        close(fd)
    }

    /// Writes everything; false if the peer is gone. MSG_NOSIGNAL: no SIGPIPE.
    static func sendAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = send(fd, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += n
        }
        return true
    }

    static func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { sendAll(fd, $0) }
    }

    enum Wake { case timeout, readable, stop, gate }

    /// Waits for `fd` readable (data or EOF), `stopFD` or `gateFD` readable, or the timeout
    /// (milliseconds, -1 = none).
    static func wait(fd: Int32, stopFD: Int32, gateFD: Int32 = -1, timeoutMs: Int32) -> Wake {
        var fds = [
            pollfd(fd: stopFD, events: Int16(POLLIN), revents: 0),
            pollfd(fd: gateFD, events: Int16(POLLIN), revents: 0),
            pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
        ]
        while true {
            let rc = poll(&fds, nfds_t(fds.count), timeoutMs)
            if rc < 0, errno == EINTR { continue }
            if rc <= 0 { return .timeout }
            if fds[0].revents != 0 { return .stop }
            if fds[1].revents != 0 { return .gate }
            return .readable
        }
    }
}

/// A level-triggered, one-shot wake-up signal for `poll(2)`: a pipe whose read end becomes
/// readable forever once `signal()` wrote a byte (never drained). Owner closes it once.
struct MockSignalPipe {
    let readFD: Int32
    let writeFD: Int32

    init() {
        var fds: [Int32] = [-1, -1]
        let rc = pipe(&fds)
        precondition(rc == 0, "pipe failed: errno \(errno)")
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        readFD = fds[0]
        writeFD = fds[1]
    }

    func signal() {
        var one: UInt8 = 1
        _ = write(writeFD, &one, 1)
    }

    func close() {
        _ = Glibc.close(readFD)
        _ = Glibc.close(writeFD)
    }
}
