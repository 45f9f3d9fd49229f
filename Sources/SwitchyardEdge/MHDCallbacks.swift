import CMicroHTTPD
import CSwitchyardEdge
import SwitchyardLoop
import Synchronization

// The C callbacks MHD calls inside MHD_run, on its daemon's event loop. Each is a thin trampoline:
// recover the Swift object from its `cls`/`con_cls` pointer and call a method. Nothing here blocks
// or awaits.

/// MHD_OPTION_URI_LOG_CALLBACK: the first callback of every request, with the raw request target
/// (before MHD splits off and decodes the query). Its result becomes `con_cls`, so this is where
/// the per-request context is created and retained for MHD.
let uriLogCallback: sy_mhd_uri_log_callback = { cls, uri, connection in
    guard let cls, let connection else { return nil }
    let daemon = Unmanaged<MHDDaemon>.fromOpaque(cls).takeUnretainedValue()
    let target = uri.map { String(cString: $0) } ?? ""
    let link = sy_mhd_connection_socket_context(connection).map {
        Unmanaged<EdgeConnection>.fromOpaque($0).takeUnretainedValue()
    }
    let context = RequestContext(connection: connection, daemon: daemon, rawTarget: target, link: link)
    link?.requestStarted(context)
    daemon.core.register(context)
    return Unmanaged.passRetained(context).toOpaque()
}

/// MHD_OPTION_NOTIFY_COMPLETED: the request is over (sent, failed, timed out, client gone or
/// daemon stopping). Releases the retain taken in `uriLogCallback`, exactly once: MHD calls this
/// once per request it made "client aware", and we clear `*con_cls`.
let requestCompletedCallback: MHD_RequestCompletedCallback = { _, _, conCls, toe in
    guard let conCls, let raw = conCls.pointee else { return }
    conCls.pointee = nil
    let context = Unmanaged<RequestContext>.fromOpaque(raw).takeRetainedValue()
    let ok = toe == .REQUEST_TERMINATED_COMPLETED_OK
    context.complete(ok: ok)
    // A request that ended badly closes its connection, as does one answered for the last time.
    context.link?.requestEnded(closing: !ok || context.closesAfterAnswer)
    context.server.unregister(context)
}

/// MHD's access handler: called with the headers, for each piece of body, and at the end.
let accessHandlerCallback: MHD_AccessHandlerCallback = {
    _, connection, _, method, version, uploadData, uploadDataSize, conCls in
    guard let connection, let conCls, let raw = conCls.pointee, let uploadDataSize else { return .NO }
    // Borrowed, not retained around the call: MHD holds the context's retain until the
    // request-completed callback, which never runs inside this one.
    return Unmanaged<RequestContext>.fromOpaque(raw)._withUnsafeGuaranteedRef {
        $0.access(connection, method: method, version: version, data: uploadData, size: uploadDataSize)
    }
}

/// MHD_OPTION_NOTIFY_CONNECTION: a connection starts (after accept) or ends (before MHD closes its
/// socket). Its `EdgeConnection` is retained as the socket context in between.
let connectionNotifyCallback: MHD_NotifyConnectionCallback = { cls, connection, socketContext, code in
    guard let cls, let connection, let socketContext else { return }
    let daemon = Unmanaged<MHDDaemon>.fromOpaque(cls).takeUnretainedValue()
    let server = daemon.core
    switch code {
    case .CONNECTION_NOTIFY_STARTED:
        let peer = sy_mhd_connection_peer(connection).flatMap { PeerAddress($0) }
        let opened = server.connectionOpened(fd: sy_mhd_connection_fd(connection), peer: peer)
        socketContext.pointee = Unmanaged.passRetained(opened).toOpaque()
        // The slot the acceptor claimed for it is now this connection's.
        daemon.adoptedConnectionStarted = true
        daemon.loop.connectionOpened()
    case .CONNECTION_NOTIFY_CLOSED:
        guard let raw = socketContext.pointee else { return }
        socketContext.pointee = nil
        server.connectionClosed(Unmanaged<EdgeConnection>.fromOpaque(raw).takeRetainedValue())
        daemon.loop.connectionClosed()
        // A slot is free: an acceptor that paused at the limit listens again.
        daemon.releaseSlot()
    default:
        break
    }
}

/// MHD's accept policy (before a connection is set up): the per-peer cap.
let acceptPolicyCallback: MHD_AcceptPolicyCallback = { cls, address, _ in
    guard let cls, let address else { return .YES }
    let server = Unmanaged<MHDDaemon>.fromOpaque(cls).takeUnretainedValue().core
    guard !server.connections.admits(PeerAddress(address)) else { return .YES }
    server.configuration.onConnectionDropped?(.peerLimit)
    return .NO
}

/// MHD_ContentReaderCallback for streams; `cls` is the context, retained for the response.
let streamReaderCallback: MHD_ContentReaderCallback = { cls, _, buffer, max in
    guard let cls, let buffer else { return sy_mhd_reader_end_with_error() }
    // Borrowed: the response holds a retain of the context until streamFreeCallback.
    return Unmanaged<RequestContext>.fromOpaque(cls)._withUnsafeGuaranteedRef { $0.read(into: buffer, max: max) }
}

/// MHD_ContentReaderFreeCallback: MHD is done with the stream response; drop its retain.
let streamFreeCallback: MHD_ContentReaderFreeCallback = { cls in
    guard let cls else { return }
    Unmanaged<RequestContext>.fromOpaque(cls).release()
}

/// Request header fields as MHD parsed them, and the first field whose value holds a control
/// character (RFC 9110 section 5.5 allows none but HTAB; a NUL is caught by
/// `sy_mhd_head_hides_bytes`, since MHD cuts the value there).
private struct ReceivedHeaders {
    var fields = HTTPHeaders()
    var controlCharacterIn: String?
}

/// Copies request header fields into `ReceivedHeaders`, lowercasing names (MHD_KeyValueIteratorN).
private let headerIterator: MHD_KeyValueIteratorN = { cls, _, key, keySize, value, valueSize in
    guard let cls, let key else { return .YES }
    let received = cls.assumingMemoryBound(to: ReceivedHeaders.self)
    let name = UnsafeRawBufferPointer(start: key, count: keySize)
    let lowered = String(unsafeUninitializedCapacity: keySize) { out in
        for (i, byte) in name.enumerated() { out[i] = HTTPHeaders.lowercased(byte) }
        return keySize
    }
    let bytes = UnsafeRawBufferPointer(start: value, count: value == nil ? 0 : valueSize)
    if received.pointee.controlCharacterIn == nil, bytes.contains(where: { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }) {
        received.pointee.controlCharacterIn = lowered
    }
    received.pointee.fields.add(lowered, String(decoding: bytes, as: UTF8.self))
    return .YES
}

/// Read-side block size for streamed responses; MHD sends what the reader returns as one chunk
/// right away, so this only bounds a chunk, it does not delay one.
private let streamBlockSize = 8 * 1024

extension RequestContext {
    /// The access handler proper (the daemon's loop thread). See `RequestContext` for the suspend protocol.
    func access(
        _ connection: OpaquePointer, method: UnsafePointer<CChar>?, version: UnsafePointer<CChar>?,
        data: UnsafePointer<CChar>?, size: UnsafeMutablePointer<Int>
    ) -> MHD_Result {
        switch phase {
        case .headers:
            link?.headReceived()
            self.method = method.map { String(cString: $0) } ?? ""
            var received = ReceivedHeaders()
            // Sized from MHD's count (a walk of its list, no iterator): growing from one field
            // took three allocations for a usual request's four or five.
            received.fields.reserveCapacity(Int(MHD_get_connection_values_n(connection, .HEADER_KIND, nil, nil)))
            withUnsafeMutablePointer(to: &received) { pointer in
                _ = MHD_get_connection_values_n(connection, .HEADER_KIND, headerIterator, pointer)
            }
            headers = received.fields
            if let field = received.controlCharacterIn {
                return refuse(400, "The \(field) header contains a control character.")
            }
            if sy_mhd_head_hides_bytes(connection, method, version) != 0 {
                return refuse(400, "A header line contains a NUL byte.")
            }
            let http10 = version.map { String(cString: $0) == "HTTP/1.0" } ?? false
            closesAfterAnswer = RequestFraming.clientCloses(headers, http10: http10)
            if let (status, message) = RequestFraming.problem(headers, http10: http10) {
                return refuse(status, message)
            }
            if server.isStopping {
                return queueError(503, "the server is shutting down")
            }
            if let length = headers["content-length"].flatMap({ UInt64($0) }) {
                if length > UInt64(max(0, server.configuration.maxBodyBytes)) {
                    return queueError(413, "request body exceeds \(server.configuration.maxBodyBytes) bytes")
                }
                body.reserveCapacity(Int(length))
            }
            phase = .body
            return .YES

        case .body:
            if size.pointee > 0 {
                let count = size.pointee
                size.pointee = 0
                if bodyTooLarge {
                    discardedBytes += count
                    // Bounded read-and-drop so the 413 can still be sent; past it, hang up.
                    return discardedBytes > Self.discardLimit(server.configuration.maxBodyBytes) ? .NO : .YES
                }
                if body.count + count > server.configuration.maxBodyBytes {
                    bodyTooLarge = true
                    body = []
                    discardedBytes = count
                    return .YES
                }
                if let data {
                    body.append(contentsOf: UnsafeRawBufferPointer(start: data, count: count))
                }
                return .YES
            }
            if bodyTooLarge {
                return queueError(413, "request body exceeds \(server.configuration.maxBodyBytes) bytes")
            }
            return startHandler()

        case .handling:
            switch takeAnswer() {
            case .full(let status, let headers, let body):
                return queueFull(connection, status: status, headers: headers, body: body)
            case .stream(let status, let headers):
                return queueStream(connection, status: status, headers: headers)
            case .wait:
                return .YES
            case .close:
                return .NO
            }

        case .answeredByEdge:
            return .YES
        }
    }

    /// How much of an over-limit chunked body is read and dropped so the 413 can still be sent
    /// (MHD cannot queue a response in the middle of an upload); past this the connection is cut.
    static func discardLimit(_ maxBodyBytes: Int) -> Int {
        max(64 * 1024, min(maxBodyBytes, 1 << 20))
    }

    /// Refuses a request whose framing or fields are invalid: MHD has not read its body yet, and a
    /// response queued this early makes it close the connection after sending (connection.c:
    /// "response was queued early, refuse to read body / footers or further requests"), so no byte
    /// of this request is ever read as the next one. `Connection: close` says so to the client.
    private func refuse(_ status: Int, _ message: String) -> MHD_Result {
        phase = .answeredByEdge
        link?.answering()
        closesAfterAnswer = true
        var (headers, body) = server.errorResponse(status, message, rawTarget: rawTarget)
        headers.replaceOrAdd("Connection", "close")
        return queueFull(connection, status: status, headers: headers, body: body)
    }

    private func startHandler() -> MHD_Result {
        let target = rawTarget.utf8
        let path: String
        let query: String
        if let mark = target.firstIndex(of: UInt8(ascii: "?")) {
            path = String(rawTarget[..<mark])
            query = String(rawTarget[target.index(after: mark)...])
        } else {
            path = rawTarget
            query = ""
        }
        let request = HTTPRequest(method: method, path: path, query: query, headers: headers, body: body)
        headers = HTTPHeaders()
        body = []
        phase = .handling
        link?.answering()
        guard suspendForHandler() else {
            return queueError(503, "the server is shutting down")
        }
        // The handler runs on this connection's loop: started from the loop thread, its first job
        // is queued there without a wake-up, and so is every job its continuations schedule. A
        // large body's parsing and translation would hold the loop, and with it every other
        // transfer it drives, so such a request goes to `largeBodyExecutor` instead.
        let executor: any TaskExecutor =
            request.body.count >= server.configuration.largeBodyBytes
            ? server.configuration.largeBodyExecutor ?? daemon.loop : daemon.loop
        // The task's closure captures this context alone, which then is its context: capturing
        // the request, the handler and a responder as well boxed them (one allocation a request).
        handedRequest = request
        let task = Task(executorPreference: executor) { [self] in
            await server.handler.handle(takeHandedRequest(), responder: HTTPResponder(sink: self))
            handlerReturned()
        }
        attach(task: task)
        return .YES
    }

    /// The request `startHandler` handed to its task, taken once by that task.
    private func takeHandedRequest() -> HTTPRequest {
        defer { handedRequest = nil }
        return handedRequest!
    }

    private func queueError(_ status: Int, _ message: String) -> MHD_Result {
        phase = .answeredByEdge
        link?.answering()
        let (headers, body) = server.errorResponse(status, message, rawTarget: rawTarget)
        return queueFull(connection, status: status, headers: headers, body: body)
    }

    private func queueFull(
        _ connection: OpaquePointer, status: Int, headers: HTTPHeaders, body: [UInt8]
    ) -> MHD_Result {
        // .RESPMEM_MUST_COPY: MHD copies the bytes, so `body` may go away after this call.
        let response = body.withUnsafeBytes { bytes in
            MHD_create_response_from_buffer(
                bytes.count, UnsafeMutableRawPointer(mutating: bytes.baseAddress), .RESPMEM_MUST_COPY)
        }
        guard let response else { return .NO }
        let result = queue(connection, response, status: status, headers: headers)
        if closesAfterAnswer { link?.lastAnswerQueued() }
        return result
    }

    private func queueStream(_ connection: OpaquePointer, status: Int, headers: HTTPHeaders) -> MHD_Result {
        // The response holds its own retain of the context, dropped in streamFreeCallback.
        let cls = Unmanaged.passRetained(self).toOpaque()
        guard
            let response = MHD_create_response_from_callback(
                sy_mhd_size_unknown(), streamBlockSize, streamReaderCallback, cls, streamFreeCallback)
        else {
            Unmanaged<RequestContext>.fromOpaque(cls).release()
            return .NO
        }
        return queue(connection, response, status: status, headers: headers)
    }

    private func queue(
        _ connection: OpaquePointer, _ response: OpaquePointer, status: Int, headers: HTTPHeaders
    )
        -> MHD_Result
    {
        // Names and values go to MHD as C strings laid out in one reusable buffer of the daemon's
        // (this runs on its loop): passing each `String` made a temporary C copy of every short one.
        var scratch = daemon.headerScratch
        daemon.headerScratch = []
        scratch.removeAll(keepingCapacity: true)
        for (name, value) in headers {
            scratch.append(contentsOf: name.utf8)
            scratch.append(0)
            scratch.append(contentsOf: value.utf8)
            scratch.append(0)
        }
        scratch.withUnsafeBufferPointer { buffer in
            var offset = 0
            for (name, value) in headers {
                let n = buffer.baseAddress! + offset
                let v = n + name.utf8.count + 1
                offset += name.utf8.count + value.utf8.count + 2
                // MHD refuses fields with CR/LF and the framing headers it owns; skipping them is right.
                _ = MHD_add_response_header(
                    response, UnsafeRawPointer(n).assumingMemoryBound(to: CChar.self),
                    UnsafeRawPointer(v).assumingMemoryBound(to: CChar.self))
            }
        }
        daemon.headerScratch = scratch
        if server.isDraining {
            closesAfterAnswer = true
            _ = MHD_add_response_header(response, "Connection", "close")
        }
        let code = (200...999).contains(status) ? UInt32(status) : 500
        let result = sy_mhd_queue_response(connection, code, response)
        MHD_destroy_response(response)
        return result
    }
}
