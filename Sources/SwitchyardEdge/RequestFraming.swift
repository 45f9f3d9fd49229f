/// Checks of a request head that libmicrohttpd 0.9.75 leaves to the application, each of which
/// could otherwise make us and a proxy in front of us read a different request from the same
/// bytes (request smuggling, RFC 9112 section 11.2).
///
/// MHD frames a body by the first `Transfer-Encoding` field alone when one is present (and only
/// `chunked`, compared whole, is de-chunked) and otherwise by the first `Content-Length`; it does
/// not require `Host`. So we refuse, with the status RFC 9112 names, and close the connection:
/// - `Transfer-Encoding` together with `Content-Length` (section 6.1: "ought to be handled as an
///   error"; a server may reject it and must close after);
/// - `Transfer-Encoding` in an HTTP/1.0 request (section 6.1: the framing is faulty);
/// - a transfer coding list whose final coding is not `chunked` (section 6.3: 400), or one with
///   codings besides `chunked`, which we do not decode (section 6.1: 501);
/// - several `Content-Length` fields that disagree (section 6.3);
/// - no `Host` in an HTTP/1.1 request, or more than one (section 3.2: 400).
enum RequestFraming {
    /// nil when the head is acceptable, else the status and message to refuse it with.
    static func problem(_ headers: HTTPHeaders, http10: Bool) -> (Int, String)? {
        // One pass without allocating for the usual head (names are lowercased by the edge).
        var hosts = 0
        var lengthFields = 0
        var encodingFields = 0
        for field in headers {
            switch field.name {
            case "host": hosts += 1
            case "content-length": lengthFields += 1
            case "transfer-encoding": encodingFields += 1
            default: break
            }
        }
        if !http10 && hosts == 0 { return (400, "HTTP/1.1 requests must carry a Host header.") }
        if hosts > 1 { return (400, "The request carries more than one Host header.") }
        guard lengthFields > 1 || encodingFields > 0 else { return nil }
        let lengths = headers.values(for: "content-length")
        let encodings = headers.values(for: "transfer-encoding")
        if !encodings.isEmpty {
            if !lengths.isEmpty {
                return (400, "The request carries both Content-Length and Transfer-Encoding.")
            }
            if http10 { return (400, "Transfer-Encoding is not allowed in an HTTP/1.0 request.") }
            let codings = encodings.flatMap { $0.split(separator: ",") }.map {
                $0.trimmingCharacters(in: " \t").lowercased()
            }
            guard codings.last == "chunked" else {
                return (400, "The final transfer coding must be chunked.")
            }
            // MHD de-chunks only a single field whose whole value is "chunked".
            if codings.count > 1 || encodings.count > 1 || encodings[0].lowercased() != "chunked" {
                return (501, "Transfer codings other than chunked are not supported.")
            }
        }
        if lengths.count > 1, Set(lengths).count > 1 {
            return (400, "The request carries conflicting Content-Length headers.")
        }
        return nil
    }

    /// True when the client's `Connection` field asks to close after the answer (`close`), or,
    /// for HTTP/1.0, does not ask to keep the connection (`keep-alive`), RFC 9112 section 9.3.
    static func clientCloses(_ headers: HTTPHeaders, http10: Bool) -> Bool {
        var close = false
        var keepAlive = false
        for field in headers where HTTPHeaders.equalsIgnoringCase(field.name, "connection") {
            for option in field.value.split(separator: ",") {
                let token = option.trimmingCharacters(in: " \t")
                if HTTPHeaders.equalsIgnoringCase(token, "close") { close = true }
                if HTTPHeaders.equalsIgnoringCase(token, "keep-alive") { keepAlive = true }
            }
        }
        return close || (http10 && !keepAlive)
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var s = self
        while let c = s.first, set.contains(c) { s.removeFirst() }
        while let c = s.last, set.contains(c) { s.removeLast() }
        return String(s)
    }
}
