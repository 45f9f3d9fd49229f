import Dispatch
import Glibc

public struct ClientError: Error, CustomStringConvertible {
    public var description: String
}

/// A response as read off the wire.
public struct RawResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// A deliberately small blocking HTTP/1.1 client over a raw socket, so tests see exactly what
/// the server sends (chunk boundaries included). Blocking calls go through `offload` so they
/// never occupy the Swift cooperative pool, which the server's handler tasks need.
///
/// `@unchecked Sendable`: each instance is used by one test, one call at a time.
public final class RawHTTPClient: @unchecked Sendable {
    public let fd: Int32
    private var buffer: [UInt8] = []

    /// Connects to 127.0.0.1:port. Reads give up after `timeoutSeconds` so a broken server fails
    /// the test instead of hanging it.
    public init(port: Int, timeoutSeconds: Int = 10) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ClientError(description: "socket failed") }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        // No close here: every stored property is set, so throwing runs `deinit`, which closes
        // `fd`; closing it here too closed whatever another test's thread had opened under the
        // same number in between ("connect failed: errno 9" in unrelated tests under load).
        guard result == 0 else { throw ClientError(description: "connect failed: errno \(errno)") }
    }

    deinit { Glibc.close(fd) }

    public func close() { shutdown(fd, Int32(SHUT_RDWR)) }

    public func send(_ text: String) throws { try send(Array(text.utf8)) }

    /// Sends `text` and ends the sending side (FIN) in one TCP segment: corked, the bytes wait in
    /// the socket and the FIN rides on them, so the server sees both in one readiness event.
    public func sendAndFinish(_ text: String) throws {
        var on: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_CORK, &on, socklen_t(MemoryLayout<Int32>.size))
        try send(text)
        shutdown(fd, Int32(SHUT_WR))
    }

    public func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            guard sent > 0 else { throw ClientError(description: "send failed: errno \(errno)") }
            offset += sent
        }
    }

    /// Reads more bytes into the buffer; false on EOF.
    private func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count < 0 { throw ClientError(description: "recv failed: errno \(errno)") }
        if count == 0 { return false }
        buffer.append(contentsOf: chunk[0..<count])
        return true
    }

    private func readLine() throws -> String {
        while true {
            if let index = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                var line = Array(buffer[..<index])
                buffer.removeFirst(index + 1)
                if line.last == UInt8(ascii: "\r") { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            guard try fill() else { throw ClientError(description: "EOF while reading a line") }
        }
    }

    private func readExactly(_ count: Int) throws -> [UInt8] {
        while buffer.count < count {
            guard try fill() else { throw ClientError(description: "EOF while reading \(count) bytes") }
        }
        let bytes = Array(buffer[..<count])
        buffer.removeFirst(count)
        return bytes
    }

    /// Status line and header fields.
    public func readHead() throws -> RawResponse {
        let statusLine = try readLine()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, let status = Int(parts[1]) else {
            throw ClientError(description: "bad status line: \(statusLine)")
        }
        var headers: [(String, String)] = []
        while true {
            let line = try readLine()
            if line.isEmpty { break }
            guard let colon = line.firstIndex(of: ":") else { continue }
            let value = line[line.index(after: colon)...].drop { $0 == " " }
            headers.append((String(line[..<colon]), String(value)))
        }
        return RawResponse(status: status, headers: headers, body: [])
    }

    /// One chunk of a chunked body; [] for the terminating chunk (its trailer is consumed too).
    public func readChunk() throws -> [UInt8] {
        let sizeLine = try readLine()
        guard let size = Int(sizeLine.split(separator: ";").first ?? "", radix: 16) else {
            throw ClientError(description: "bad chunk size line: \(sizeLine)")
        }
        if size == 0 {
            while try !readLine().isEmpty {}
            return []
        }
        let data = try readExactly(size)
        _ = try readExactly(2)
        return data
    }

    /// A whole response: chunked, Content-Length or read-to-close.
    public func readResponse() throws -> RawResponse {
        var response = try readHead()
        if response.header("transfer-encoding")?.lowercased() == "chunked" {
            while true {
                let chunk = try readChunk()
                if chunk.isEmpty { break }
                response.body += chunk
            }
        } else if let length = response.header("content-length").flatMap({ Int($0) }) {
            response.body = try readExactly(length)
        } else {
            while try fill() {}
            response.body = buffer
            buffer = []
        }
        return response
    }

    /// True when the server closed the connection (EOF) before sending anything more.
    public func readsEOF() throws -> Bool {
        if !buffer.isEmpty { return false }
        return try !fill()
    }

    /// True when the server ended the connection, by FIN or reset, before sending anything more;
    /// false if bytes arrive (or none within the read timeout, which throws instead).
    public func closedByServer() throws -> Bool {
        if !buffer.isEmpty { return false }
        var byte: UInt8 = 0
        let count = recv(fd, &byte, 1, 0)
        if count == 0 { return true }
        if count < 0 && (errno == ECONNRESET || errno == EPIPE) { return true }
        if count < 0 { throw ClientError(description: "recv failed: errno \(errno)") }
        buffer.append(byte)
        return false
    }

    /// True when bytes (or the end) can be read now, without blocking.
    public func readable() -> Bool {
        if !buffer.isEmpty { return true }
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&entry, 1, 0) > 0
    }

    /// Sends `request` and reads the response.
    public func roundTrip(_ request: String) throws -> RawResponse {
        try send(request)
        return try readResponse()
    }
}

/// Runs blocking work on its own Dispatch thread, off the cooperative pool. A fresh serial queue
/// is overcommitting, so parallel tests blocked in recv() do not wait for each other the way
/// they would on the width-limited global queue.
public func offload<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue(label: "offload").async {
            continuation.resume(with: Result { try work() })
        }
    }
}

/// True if nothing listens on 127.0.0.1:port any more.
public func connectionRefused(port: Int) -> Bool {
    do {
        _ = try RawHTTPClient(port: port)
        return false
    } catch {
        return true
    }
}
