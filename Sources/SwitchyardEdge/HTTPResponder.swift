/// The handler's way to answer one request. Thread-safe; the first answer wins.
public final class HTTPResponder: Sendable {
    let context: RequestContext

    init(context: RequestContext) {
        self.context = context
    }

    /// Sends a complete response. `Content-Length` is set by the edge; extra answers are ignored.
    public func respond(status: Int, headers: HTTPHeaders, body: [UInt8]) {
        context.respond(status: status, headers: headers, body: body)
    }

    /// True once the edge noticed the client went away (it hung up, or a write failed).
    public var isClientGone: Bool {
        context.isClientGone
    }

    /// Starts a streamed response (chunked transfer encoding) and returns its writer. If the
    /// request was already answered or the client is gone, the writer's writes return false.
    public func startStream(status: Int, headers: HTTPHeaders) -> HTTPStreamWriter {
        let started = context.startStream(status: status, headers: headers)
        return HTTPStreamWriter(context: context, started: started)
    }
}

/// Writes the body of a streamed response. Each `write` becomes one chunk sent as soon as MHD's
/// thread gets to it; nothing is held back for batching.
public final class HTTPStreamWriter: Sendable {
    let context: RequestContext
    let started: Bool

    init(context: RequestContext, started: Bool) {
        self.context = context
        self.started = started
    }

    /// Queues bytes for the client; returns false once the client is gone or the stream is
    /// finished (then the handler should stop).
    @discardableResult
    public func write(_ bytes: [UInt8]) -> Bool {
        started && context.write(bytes)
    }

    /// Ends the response with the terminating chunk. Idempotent.
    public func finish() {
        if started { context.finish() }
    }

    /// True once the edge noticed the client went away (on a write or heartbeat).
    public var isClientGone: Bool {
        context.isClientGone
    }
}
