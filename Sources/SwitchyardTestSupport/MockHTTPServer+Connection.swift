import Glibc
import SwitchyardCore

/// One accepted connection, served on its own thread: read a request, ask the handler, write the
/// response, repeat while keep-alive holds. Confined to that thread.
final class MockConnection {
    private let fd: Int32
    private let id: Int
    private let server: MockServerCore
    private var input: [UInt8] = []
    private var readIndex = 0
    private var output: [UInt8] = []
    /// recv(2) target, copied into `input`; owned here, freed in deinit.
    private let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)

    init(fd: Int32, id: Int, server: MockServerCore) {
        self.fd = fd
        self.id = id
        self.server = server
        input.reserveCapacity(16 << 10)
        output.reserveCapacity(4 << 10)
    }

    deinit { scratch.deallocate() }

    private enum End { case close, reset }

    func run() {
        var end = End.close
        while let (request, keepAlive) = readRequest() {
            let handler = server.record(request)
            let response = handler(request)
            guard let next = write(response, keepAlive: keepAlive, headOnly: request.method == "HEAD") else { break }
            if case .some(let e) = next {
                end = e
                break
            }
            if !keepAlive || response.closeAfterwards { break }
        }
        server.connectionClosed(fd: fd, reset: end == .reset)
    }

    // MARK: Reading

    /// Fills `input` with at least one more byte; false at EOF, error or stop.
    private func fill() -> Bool {
        if readIndex > 0, readIndex == input.count {
            input.removeAll(keepingCapacity: true)
            readIndex = 0
        } else if readIndex > 64 << 10 {
            input.removeSubrange(0..<readIndex)
            readIndex = 0
        }
        while true {
            let n = recv(fd, scratch.baseAddress!, scratch.count, 0)
            if n > 0 {
                input.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[0..<n]))
                return true
            }
            if n < 0, errno == EINTR { continue }
            return false
        }
    }

    /// The index just past the next CRLF from `readIndex`, reading more as needed.
    private func lineEnd(limit: Int = 64 << 10) -> Int? {
        var scanned = 0  // bytes after readIndex already searched; fill() may move readIndex
        while true {
            var i = readIndex + scanned
            while i + 1 < input.count {
                if input[i] == 0x0D, input[i + 1] == 0x0A { return i + 2 }
                i += 1
            }
            scanned = max(0, input.count - 1 - readIndex)
            if input.count - readIndex > limit || !fill() { return nil }
        }
    }

    private func readLine() -> String? {
        guard let end = lineEnd() else { return nil }
        defer { readIndex = end }
        return String(decoding: input[readIndex..<(end - 2)], as: UTF8.self)
    }

    private func readBytes(_ n: Int) -> [UInt8]? {
        while input.count - readIndex < n {
            guard fill() else { return nil }
        }
        defer { readIndex += n }
        return Array(input[readIndex..<(readIndex + n)])
    }

    private func readRequest() -> (RecordedRequest, keepAlive: Bool)? {
        guard var requestLine = readLine() else { return nil }
        while requestLine.isEmpty {  // tolerate stray CRLFs between requests (RFC 9112 §2.2)
            guard let next = readLine() else { return nil }
            requestLine = next
        }
        let parts = requestLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
        guard parts.count == 3 else { return nil }
        let method = String(parts[0])
        let target = parts[1]
        let version = parts[2]
        var headers: [HeaderField] = []
        while true {
            guard let line = readLine() else { return nil }
            if line.isEmpty { break }
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = String(line[..<colon])
            let value = line[line.index(after: colon)...].trimmingSpaces()
            headers.append(HeaderField(name, value))
        }

        var body: [UInt8] = []
        if headers.value(for: "transfer-encoding")?.lowercased().contains("chunked") == true {
            guard let b = readChunkedBody() else { return nil }
            body = b
        } else if let length = headers.value(for: "content-length").flatMap({ Int($0) }), length > 0 {
            guard let b = readBytes(length) else { return nil }
            body = b
        }

        let connection = headers.value(for: "connection")?.lowercased()
        let keepAlive = version == "HTTP/1.1" ? connection != "close" : connection == "keep-alive"
        let path: Substring
        let query: String?
        if let q = target.firstIndex(of: "?") {
            path = target[..<q]
            query = String(target[target.index(after: q)...])
        } else {
            path = target
            query = nil
        }
        let request = RecordedRequest(
            method: method, path: String(path), query: query, headers: headers, body: body,
            arrival: ContinuousClock.now, connection: id)
        return (request, keepAlive)
    }

    private func readChunkedBody() -> [UInt8]? {
        var body: [UInt8] = []
        while true {
            guard let line = readLine() else { return nil }
            let sizeText = line.split(separator: ";", maxSplits: 1).first.map { $0.trimmingSpaces() } ?? ""
            guard let size = Int(sizeText, radix: 16), size >= 0 else { return nil }
            if size == 0 {
                while let trailer = readLine(), !trailer.isEmpty {}
                return body
            }
            guard let data = readBytes(size), readLine() != nil else { return nil }
            body += data
        }
    }

    // MARK: Writing

    /// Writes the response. nil: the peer is gone; `.some(end)`: the script ended the connection;
    /// `.some(nil)`: done, the connection may be reused.
    private func write(_ response: MockResponse, keepAlive: Bool, headOnly: Bool) -> End?? {
        output.removeAll(keepingCapacity: true)
        if !response.beforeHead.isEmpty {
            switch writeSteps(response.beforeHead, chunked: false) {
            case .none: return nil
            case .some(.some(let end)): return .some(end)
            case .some(.none): break
            }
        }
        appendASCII("HTTP/1.1 \(response.status) \(reasonPhrase(response.status))\r\n")
        for field in response.headers {
            appendASCII(field.name)
            appendASCII(": ")
            appendASCII(field.value)
            appendASCII("\r\n")
        }
        if !keepAlive { appendASCII("Connection: close\r\n") }
        switch response.body {
        case .bytes(let bytes):
            appendASCII("Content-Length: \(bytes.count)\r\n\r\n")
            if !headOnly { output += bytes }
            return flush() ? .some(nil) : nil
        case .chunks(let steps):
            appendASCII("Transfer-Encoding: chunked\r\n\r\n")
            if headOnly { return flush() ? .some(nil) : nil }
            return writeSteps(steps, chunked: true)
        }
    }

    /// Runs a script; `chunked` frames `.data` as chunks and ends with the zero chunk, otherwise
    /// data goes out raw.
    private func writeSteps(_ steps: [MockChunk], chunked: Bool) -> End?? {
        for step in steps {
            switch step {
            case .data(let bytes):
                guard !bytes.isEmpty else { continue }
                if chunked {
                    appendASCII(String(bytes.count, radix: 16))
                    appendASCII("\r\n")
                    output += bytes
                    appendASCII("\r\n")
                } else {
                    output += bytes
                }
                guard flush() else { return nil }
            case .pause(let duration):
                guard flush(), waitQuietly(until: ContinuousClock.now + duration, gate: nil) else { return nil }
            case .waitFor(let gate):
                guard flush(), waitQuietly(until: nil, gate: gate) else { return nil }
            case .reset:
                _ = flush()
                return .some(.reset)
            case .close:
                _ = flush()
                return .some(.close)
            case .stall:
                guard flush() else { return nil }
                _ = waitQuietly(until: nil, gate: nil)
                return .some(.close)
            }
        }
        guard chunked else { return .some(nil) }
        appendASCII("0\r\n\r\n")
        return flush() ? .some(nil) : nil
    }

    /// Waits for the deadline or the gate while watching the socket. False if the peer closed the
    /// connection or the server is stopping. Bytes the client sends meanwhile are kept for later.
    private func waitQuietly(until deadline: ContinuousClock.Instant?, gate: MockGate?) -> Bool {
        while true {
            var timeoutMs: Int32 = -1
            if let deadline {
                let left = deadline - ContinuousClock.now
                if left <= .zero { return true }
                let (s, a) = left.components
                timeoutMs = Int32(clamping: s * 1000 + (a + 999_999_999_999_999) / 1_000_000_000_000_000)
            }
            switch MockSocket.wait(fd: fd, stopFD: server.stopFD, gateFD: gate?.fd ?? -1, timeoutMs: timeoutMs) {
            case .timeout: if deadline != nil { continue } else { return false }
            case .stop: return false
            case .gate: return true
            case .readable: if !fill() { return false }
            }
        }
    }

    private func flush() -> Bool {
        defer { output.removeAll(keepingCapacity: true) }
        return MockSocket.sendAll(fd, output)
    }

    private func appendASCII(_ s: String) {
        var s = s
        s.withUTF8 { output.append(contentsOf: $0) }
    }
}

extension Substring {
    fileprivate func trimmingSpaces() -> String {
        var s = self[...]
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}

private func reasonPhrase(_ status: Int) -> String {
    switch status {
    case 100: "Continue"
    case 200: "OK"
    case 201: "Created"
    case 204: "No Content"
    case 400: "Bad Request"
    case 401: "Unauthorized"
    case 403: "Forbidden"
    case 404: "Not Found"
    case 408: "Request Timeout"
    case 409: "Conflict"
    case 413: "Content Too Large"
    case 422: "Unprocessable Content"
    case 429: "Too Many Requests"
    case 500: "Internal Server Error"
    case 502: "Bad Gateway"
    case 503: "Service Unavailable"
    case 504: "Gateway Timeout"
    case 529: "Overloaded"
    default: "Status"
    }
}
