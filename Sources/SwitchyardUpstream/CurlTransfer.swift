import CCurl
import Glibc
import SwitchyardCore
import Synchronization

typealias BufferedContinuation = UnsafeContinuation<Result<UpstreamResponse, UpstreamFailure>, Never>
typealias HeadContinuation = UnsafeContinuation<Result<UpstreamStreamingResponse, UpstreamFailure>, Never>

/// One HTTP exchange: the request, the response being assembled, its deadlines and the
/// continuation(s) waiting for it. Handed to curl as the `void *` of every callback and of
/// CURLOPT_PRIVATE, retained (`Unmanaged.passRetained`) from `curl_multi_add_handle` until just
/// after `curl_multi_remove_handle`.
///
/// Why `@unchecked Sendable`: the caller sets the `var`s only before `CurlLoop.submit` (the
/// submitting lock hand-off publishes them); from then on every `var` is read and written only on
/// the loop thread, where curl also runs the callbacks (inside `curl_multi_perform`). Other threads
/// touch only `cancelRequested` (an atomic), `request` and `multi` (immutable). The continuations
/// are resumed exactly once, by `complete(_:)`, which clears them.
final class Transfer: @unchecked Sendable {
    let request: UpstreamRequest
    let streaming: Bool
    /// The multi handle (and loop) the transfer runs on.
    let multi: CurlMulti
    /// Set by a cancelling task or a terminated body consumer, possibly before the loop starts us.
    let cancelRequested = Atomic<Bool>(false)

    // Caller-set, before submit.
    var bufferedContinuation: BufferedContinuation?
    var headContinuation: HeadContinuation?
    /// Where a stream's body goes; the consumer's side is made when the head is handed out
    /// (dropping it cancels the transfer).
    var bodyChannel: UpstreamBodyChannel?

    // Deadlines, monotonic nanoseconds (`noDeadline` when absent).
    let startedAt: Int64
    let totalDeadline: Int64
    let firstByteDeadline: Int64
    let firstEventDeadline: Int64
    let idleNanos: Int64
    /// The consumer reported the stream's first event (any thread): `firstEventDeadline` is over.
    let eventSeen = Atomic<Bool>(false)

    // Loop-thread state.
    var easy: EasyHandle?
    /// The request headers as curl reads them; from the multi handle's cache (`CurlMulti.headerList`).
    var headerList: CurlHeaderList?
    /// A copy of a small request body handed to curl as CURLOPT_POSTFIELDS (curl does not copy
    /// it), so headers and body leave in one send; freed in deinit, after curl let go of it.
    var postFields: UnsafeMutableRawBufferPointer?
    var retainedByCurl: Unmanaged<Transfer>?
    var indexInRunning = -1
    var readOffset = 0
    var status = 0
    /// The final header block's lines as received (parsed only if someone reads them).
    var headerLines: [UInt8] = []
    var headComplete = false
    /// The final block's first Content-Length, read as its line arrives (-1: none, or not a number);
    /// a buffered answer's body is sized for it.
    var contentLength = -1
    var firstByteSeen = false
    /// Times curl was about to send the request (CURLOPT_PREREQFUNCTION); see `willSendRequest`.
    var sends = 0
    /// curl wanted to send the request a second time and was refused.
    var resendRefused = false
    var consumerGone = false
    /// The largest buffered answer (`CurlUpstream.Configuration.maxResponseBytes`); past it the
    /// write callback refuses the bytes and `bodyTooLarge` says why the transfer failed.
    var maxBodyBytes = Int.max
    var bodyTooLarge = false
    var lastActivity: Int64 = 0
    var body: [UInt8] = []

    init(request: UpstreamRequest, streaming: Bool, multi: CurlMulti) {
        self.request = request
        self.streaming = streaming
        self.multi = multi
        let now = monotonicNanos()
        startedAt = now
        totalDeadline = deadline(now, request.timeout)
        firstByteDeadline = deadline(now, request.firstByteTimeout)
        firstEventDeadline = deadline(now, request.firstEventTimeout)
        idleNanos = request.idleTimeout?.saturatingNanoseconds ?? noDeadline
    }

    deinit {
        postFields?.deallocate()
    }

    /// Bodies up to this size go out with the headers in one send (CURLOPT_POSTFIELDS);
    /// larger ones stream from `request.body` through the read callback without a copy.
    static let postFieldsLimit = 64 << 10

    // MARK: Deadlines (loop thread)

    /// The phase whose deadline has passed at `now`, if any.
    func expiredPhase(at now: Int64) -> UpstreamFailure.TimeoutPhase? {
        if now >= totalDeadline { return .total }
        if now >= firstEventDeadline, !eventSeen.load(ordering: .relaxed) { return .firstEvent }
        if !firstByteSeen {
            if now >= firstByteDeadline { return .firstByte }
        } else if idleNanos != noDeadline, now >= lastActivity &+ idleNanos {
            return .idle
        }
        return nil
    }

    /// A lower bound for every deadline this transfer can reach from `now` on: before the first
    /// byte, the idle clock cannot start earlier than now, so `now + idle` bounds it.
    func nextDeadline(after now: Int64) -> Int64 {
        var next = totalDeadline
        if firstEventDeadline != noDeadline, !eventSeen.load(ordering: .relaxed) {
            next = min(next, firstEventDeadline)
        }
        if firstByteSeen {
            if idleNanos != noDeadline { next = min(next, lastActivity &+ idleNanos) }
        } else {
            next = min(next, firstByteDeadline)
            if idleNanos != noDeadline { next = min(next, now &+ idleNanos) }
        }
        return next
    }

    // MARK: Set-up (loop thread)

    /// The options every transfer shares (`EasyHandle` keeps them between transfers). The
    /// callbacks find their transfer through the per-transfer `*DATA` pointers `configure` sets.
    static func applyFixedOptions(_ h: UnsafeMutableRawPointer) {
        _ = sy_curl_setopt_long(h, CURLOPT_NOSIGNAL, 1)
        _ = sy_curl_setopt_long(h, CURLOPT_TCP_NODELAY, 1)
        _ = sy_curl_setopt_long(h, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1)
        _ = sy_curl_setopt_datacb(h, CURLOPT_WRITEFUNCTION, transferWriteCallback)
        _ = sy_curl_setopt_datacb(h, CURLOPT_HEADERFUNCTION, transferHeaderCallback)
        _ = sy_curl_setopt_prereqcb(h, CURLOPT_PREREQFUNCTION, transferPrereqCallback)
        // Used only when a POST has no CURLOPT_POSTFIELDS (a large body, see `configure`).
        _ = sy_curl_setopt_datacb(h, CURLOPT_READFUNCTION, transferReadCallback)
    }

    /// Sets this request's own options on `easy`, a new handle or one a previous transfer left
    /// as it was (`EasyHandle`): every option a transfer may set is set here each time, so
    /// nothing of the previous request's method, body or headers carries over.
    func configure(_ easy: EasyHandle, context: UnsafeMutableRawPointer) {
        let h = easy.raw
        self.easy = easy
        easy.errorBuffer[0] = 0
        easy.setURL(request.url)
        _ = sy_curl_setopt_ptr(h, CURLOPT_PRIVATE, context)
        _ = sy_curl_setopt_ptr(h, CURLOPT_WRITEDATA, context)
        _ = sy_curl_setopt_ptr(h, CURLOPT_HEADERDATA, context)
        _ = sy_curl_setopt_ptr(h, CURLOPT_PREREQDATA, context)
        _ = sy_curl_setopt_ptr(h, CURLOPT_READDATA, context)
        easy.setConnectTimeout(milliseconds: max(1, Int(request.connectTimeout.saturatingNanoseconds / 1_000_000)))

        switch request.method {
        case "GET" where request.body.isEmpty, "HEAD":
            // POSTFIELDS first: setting it makes the method POST, which the next line undoes.
            _ = sy_curl_setopt_ptr(h, CURLOPT_POSTFIELDS, nil)
            _ = sy_curl_setopt_off(h, CURLOPT_POSTFIELDSIZE_LARGE, -1)
            if request.method == "HEAD" {
                _ = sy_curl_setopt_long(h, CURLOPT_NOBODY, 1)
            } else {
                _ = sy_curl_setopt_long(h, CURLOPT_HTTPGET, 1)
            }
            _ = sy_curl_setopt_str(h, CURLOPT_CUSTOMREQUEST, nil)
        case _ where request.body.count <= Self.postFieldsLimit:
            _ = sy_curl_setopt_long(h, CURLOPT_POST, 1)
            _ = sy_curl_setopt_off(h, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.count))
            if postFields == nil {
                let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, request.body.count), alignment: 1)
                request.body.withUnsafeBytes { copy.copyMemory(from: $0) }
                postFields = copy
            }
            _ = sy_curl_setopt_ptr(h, CURLOPT_POSTFIELDS, postFields?.baseAddress)
            _ = sy_curl_setopt_str(h, CURLOPT_CUSTOMREQUEST, request.method == "POST" ? nil : request.method)
        default:
            // The body is read from `request.body` in place (no copy) by the read callback, which
            // curl uses when no POSTFIELDS are set. No seek callback: curl only rewinds a body to
            // send it again, and `willSendRequest` refuses every second send.
            _ = sy_curl_setopt_long(h, CURLOPT_POST, 1)
            _ = sy_curl_setopt_off(h, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.count))
            _ = sy_curl_setopt_ptr(h, CURLOPT_POSTFIELDS, nil)
            _ = sy_curl_setopt_str(h, CURLOPT_CUSTOMREQUEST, request.method == "POST" ? nil : request.method)
        }

        _ = sy_curl_setopt_slist(h, CURLOPT_HTTPHEADER, headerList?.raw)
    }

    // MARK: Callbacks (loop thread, inside curl_multi_perform)

    func readBody(into buffer: UnsafeMutablePointer<CChar>, capacity: Int) -> Int {
        let n = min(capacity, request.body.count - readOffset)
        guard n > 0 else { return 0 }
        request.body.withUnsafeBytes { src in
            UnsafeMutableRawPointer(buffer).copyMemory(from: src.baseAddress! + readOffset, byteCount: n)
        }
        readOffset += n
        return n
    }

    /// CURLOPT_PREREQFUNCTION, called each time curl is about to send the request on a (new or
    /// reused) connection. The first call is our request. A second one is libcurl re-sending it on
    /// its own: when a reused keep-alive connection dies before the first response byte, curl's
    /// `Curl_retry_request` (lib/transfer.c, "Connection died, retrying a fresh connect") sends the
    /// request again, up to 5 times, and no option turns that off. The server may already have
    /// read the request and started a billed generation, and the router would neither count,
    /// budget nor log the extra call, so the re-send is refused (the transfer fails with
    /// CURLE_ABORTED_BY_CALLBACK, reported as a transport failure) and whether to try again is
    /// the router's decision, as one more counted attempt. We do not follow redirects, so every
    /// second send is such a re-send (also curl's re-sends after a refused HTTP/2 stream or a
    /// downgrade to HTTP/1.1, which the router then retries as it sees fit).
    func willSendRequest() -> Bool {
        sends += 1
        if sends == 1 { return true }
        resendRefused = true
        return false
    }

    /// One header line, CRLF included. Status lines start a new header block; an empty line ends
    /// it. 1xx interim blocks are dropped; lines after the final block are trailers and ignored.
    func receiveHeaderLine(_ p: UnsafePointer<UInt8>, count: Int) {
        if headComplete { return }
        var end = count
        while end > 0, p[end - 1] == 0x0A || p[end - 1] == 0x0D { end -= 1 }
        let line = UnsafeBufferPointer(start: p, count: end)
        if end == 0 {
            if status >= 200 {
                headComplete = true
                headDidComplete()
            } else {
                status = 0
                headerLines.removeAll(keepingCapacity: true)
                contentLength = -1
            }
            return
        }
        if end > 5, line[0] == 0x48, line[1] == 0x54, line[2] == 0x54, line[3] == 0x50, line[4] == 0x2F {  // "HTTP/"
            status = parseStatus(line)
            headerLines.removeAll(keepingCapacity: true)
            contentLength = -1
            return
        }
        if !streaming, contentLength < 0 {
            contentLength = parseContentLength(line)
        }
        // Kept as received (`UpstreamHead` parses them, folded lines included, if they are read).
        if headerLines.isEmpty { headerLines.reserveCapacity(512) }
        headerLines.append(contentsOf: line)
        headerLines.append(0x0A)
    }

    var head: UpstreamHead { UpstreamHead(status: status, rawLines: headerLines) }

    /// One piece of the response body, as curl decoded it (chunked framing removed).
    /// Returns false when the consumer has gone and the transfer should stop.
    func receiveBody(_ p: UnsafeRawPointer, count: Int) -> Bool {
        if !firstByteSeen {
            firstByteSeen = true
            if !headComplete {
                headComplete = true
                headDidComplete()
            }
        }
        if idleNanos != noDeadline { lastActivity = monotonicNanos() }
        let bytes = UnsafeRawBufferPointer(start: p, count: count)
        if streaming {
            guard let bodyChannel else { return false }
            if !bodyChannel.yield(Array(bytes)) {
                consumerGone = true
                return false
            }
        } else {
            guard count <= maxBodyBytes - body.count else {
                bodyTooLarge = true
                return false
            }
            body.append(contentsOf: bytes)
        }
        return true
    }

    private func headDidComplete() {
        if streaming {
            guard let headContinuation, let bodyChannel else { return }
            self.headContinuation = nil
            let response = UpstreamStreamingResponse(
                head: head,
                body: UpstreamBodyStream(
                    channel: bodyChannel, onEvent: { [self] in eventSeen.store(true, ordering: .relaxed) }))
            headContinuation.resume(returning: .success(response))
        } else if contentLength > 0 {
            body.reserveCapacity(min(contentLength, maxBodyBytes, 64 << 20))
        }
    }

    // MARK: Completion (loop thread, after curl_multi_remove_handle)

    /// Resumes whoever waits, exactly once. A success whose head never completed (no final status
    /// line seen) still reports what curl recorded.
    func complete(_ outcome: Result<Void, UpstreamFailure>) {
        switch outcome {
        case .success:
            if !headComplete {
                headComplete = true
                headDidComplete()
            }
            if let c = bufferedContinuation {
                bufferedContinuation = nil
                c.resume(
                    returning: .success(
                        UpstreamResponse(head: head, body: body)))
            }
            bodyChannel?.finish()
        case .failure(let failure):
            if let c = bufferedContinuation {
                bufferedContinuation = nil
                c.resume(returning: .failure(failure))
            }
            if let c = headContinuation {
                headContinuation = nil
                c.resume(returning: .failure(failure))
            }
            bodyChannel?.finish(throwing: failure)
        }
        bodyChannel = nil
        body = []
    }
}

// MARK: - C callbacks: one line each, from the `void *` back to the Transfer.
// The body and header callbacks (one call per header line and per read) borrow the transfer
// (`_withUnsafeGuaranteedRef`: curl holds it retained for as long as it can call them) instead of
// retaining and releasing it around each call.

private func transferWriteCallback(
    _ ptr: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?
) -> Int {
    let n = size * count
    guard n > 0, let ptr, let context else { return n }
    return Unmanaged<Transfer>.fromOpaque(context)._withUnsafeGuaranteedRef { $0.receiveBody(ptr, count: n) } ? n : 0
}

private func transferHeaderCallback(
    _ ptr: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?
) -> Int {
    let n = size * count
    guard n > 0, let ptr, let context else { return n }
    let bytes = UnsafeRawPointer(ptr).assumingMemoryBound(to: UInt8.self)
    Unmanaged<Transfer>.fromOpaque(context)._withUnsafeGuaranteedRef { $0.receiveHeaderLine(bytes, count: n) }
    return n
}

private func transferReadCallback(
    _ ptr: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?
) -> Int {
    guard let ptr, let context else { return sy_curl_readfunc_abort() }
    return Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue().readBody(into: ptr, capacity: size * count)
}

private func transferPrereqCallback(
    _ context: UnsafeMutableRawPointer?, _ primaryIP: UnsafeMutablePointer<CChar>?,
    _ localIP: UnsafeMutablePointer<CChar>?, _ primaryPort: Int32, _ localPort: Int32
) -> Int32 {
    guard let context else { return sy_curl_prereqfunc_abort() }
    let send = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue().willSendRequest()
    return send ? sy_curl_prereqfunc_ok() : sy_curl_prereqfunc_abort()
}

// MARK: - Byte helpers

private func parseStatus(_ line: UnsafeBufferPointer<UInt8>) -> Int {
    guard let space = line.firstIndex(of: 0x20) else { return 0 }
    var status = 0
    var i = space + 1
    while i < line.count, i < space + 4, line[i] >= 0x30, line[i] <= 0x39 {
        status = status * 10 + Int(line[i] - 0x30)
        i += 1
    }
    return status
}

/// The value of a `Content-Length` line (`line` without its line end) when it is one: digits
/// between optional blanks. Else -1, also for other lines; reading it from the line saves parsing
/// the head to size the body (a header line object and a string per buffered answer).
func parseContentLength(_ line: UnsafeBufferPointer<UInt8>) -> Int {
    let name: StaticString = "content-length:"
    let n = name.utf8CodeUnitCount
    guard line.count > n else { return -1 }
    for i in 0..<n where line[i] | 0x20 != name.utf8Start[i] { return -1 }
    var i = n
    while i < line.count, line[i] == 0x20 || line[i] == 0x09 { i += 1 }
    var value = 0
    var digits = 0
    while i < line.count, line[i] >= 0x30, line[i] <= 0x39 {
        guard digits < 18 else { return -1 }
        value = value * 10 + Int(line[i] - 0x30)
        digits += 1
        i += 1
    }
    while i < line.count, line[i] == 0x20 || line[i] == 0x09 { i += 1 }
    return digits > 0 && i == line.count ? value : -1
}

func asciiCaseInsensitiveEquals(_ a: String, _ lowercased: String) -> Bool {
    var a = a
    var b = lowercased
    return a.withUTF8 { x in
        b.withUTF8 { y in
            guard x.count == y.count else { return false }
            for i in 0..<x.count where x[i] | 0x20 != y[i] | 0x20 { return false }
            return true
        }
    }
}
