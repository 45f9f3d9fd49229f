import CMicroHTTPD
import CSwitchyardEdge
import Glibc

/// libmicrohttpd's own error pages (a malformed request line or header, an unsupported HTTP
/// version, a head too large for the connection's memory, a bad Content-Length or chunk size)
/// replaced by the server's `errorResponse`, the OpenAI envelope; `CSwitchyardEdge/mhd_hooks.c`
/// says how. MHD closes the connection after each.
enum MHDErrorPages {
    /// Installs the replacement for the whole process (idempotent).
    static func install() {
        sy_mhd_set_error_page_builder(builder)
    }

    static func message(_ status: UInt32) -> String {
        switch status {
        case 400: "The request is not valid HTTP/1.1."
        case 413: "The request body is too large."
        case 414: "The request line is too long."
        case 431: "The request header fields are too large."
        case 505: "The HTTP version is not supported; use HTTP/1.1."
        default: "The request could not be processed."
        }
    }

    private static let builder: sy_mhd_error_page_builder = { connection, status, answered in
        guard let connection else { return nil }
        let message = MHDErrorPages.message(status)
        let server = sy_mhd_connection_socket_context(connection).map {
            Unmanaged<EdgeConnection>.fromOpaque($0).takeUnretainedValue().server
        }
        var (headers, body) =
            server?.errorResponse(Int(status), message)
            ?? HTTPServerConfiguration.openAIErrorResponse(status: Int(status), message: message)
        if let answered, isContentLengthError(connection, status) {
            headers.replaceOrAdd("Content-Length", String(body.count))
            headers.replaceOrAdd("Connection", "close")
            writeDirectly(connection, status: status, headers: headers, body: body)
            answered.pointee = 1
            return nil
        }
        let response = body.withUnsafeBytes { bytes in
            MHD_create_response_from_buffer(
                bytes.count, UnsafeMutableRawPointer(mutating: bytes.baseAddress), .RESPMEM_MUST_COPY)
        }
        guard let response else { return nil }
        for (name, value) in headers { _ = MHD_add_response_header(response, name, value) }
        return response
    }

    /// MHD 0.9.75 sends the head of its two Content-Length error pages twice: after
    /// transmit_error_response_len has queued the page from parse_connection_headers, the caller
    /// (MHD_connection_handle_idle, state HEADERS_RECEIVED) moves the state on to
    /// HEADERS_PROCESSED all the same and the reply head is built again, so a client reads the
    /// second head as the body. Those two pages (no Transfer-Encoding, a Content-Length MHD cannot
    /// read: not all digits, or beyond 64 bits) are written to the socket here instead, before MHD
    /// has written anything for the request; MHD then closes the connection (shutdown for writing
    /// first, so the answer is delivered).
    private static func isContentLengthError(_ connection: OpaquePointer, _ status: UInt32) -> Bool {
        guard status == 400 || status == 413,
            MHD_lookup_connection_value(connection, .HEADER_KIND, "Transfer-Encoding") == nil,
            let raw = MHD_lookup_connection_value(connection, .HEADER_KIND, "Content-Length")
        else { return false }
        let value = String(cString: raw)
        return value.isEmpty || !value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) || UInt64(value) == nil
    }

    private static func writeDirectly(_ connection: OpaquePointer, status: UInt32, headers: HTTPHeaders, body: [UInt8])
    {
        let reason = MHD_get_reason_phrase_for(status).map { String(cString: $0) } ?? ""
        var head = "HTTP/1.1 \(status) \(reason)\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        let bytes = Array((head + "\r\n").utf8) + body
        let fd = sy_mhd_connection_fd(connection)
        guard fd >= 0 else { return }
        // The socket's send buffer is empty (nothing was written for this request), so a few
        // hundred bytes go out in one non-blocking call.
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
    }
}
