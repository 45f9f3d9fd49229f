/// Where a responder's answer goes. The edge's per-request context sends it to the client over
/// MHD; in-process drivers of a handler (the fuzz harness, which runs the gateway without
/// sockets) record it instead. The calls have the semantics of `HTTPResponder` and
/// `HTTPStreamWriter` below: the first answer wins, writes after the end return false.
package protocol HTTPResponseSink: AnyObject, Sendable {
    func respond(status: Int, headers: HTTPHeaders, body: [UInt8])
    /// Returns false when the request was already answered (the writer is then dead).
    func startStream(status: Int, headers: HTTPHeaders) -> Bool
    func write(_ bytes: [UInt8]) -> Bool
    func finish()
    var isClientGone: Bool { get }
}

/// The handler's way to answer one request. Thread-safe; the first answer wins.
public final class HTTPResponder: Sendable {
    let sink: any HTTPResponseSink

    /// A responder whose answer goes to `sink` rather than to a connection.
    package init(sink: any HTTPResponseSink) {
        self.sink = sink
    }

    /// Sends a complete response. `Content-Length` is set by the edge; extra answers are ignored.
    public func respond(status: Int, headers: HTTPHeaders, body: [UInt8]) {
        sink.respond(status: status, headers: headers, body: body)
    }

    /// True once the edge noticed the client went away (it hung up, or a write failed).
    public var isClientGone: Bool {
        sink.isClientGone
    }

    /// Starts a streamed response (chunked transfer encoding) and returns its writer. If the
    /// request was already answered or the client is gone, the writer's writes return false.
    public func startStream(status: Int, headers: HTTPHeaders) -> HTTPStreamWriter {
        let started = sink.startStream(status: status, headers: headers)
        return HTTPStreamWriter(sink: sink, started: started)
    }
}

/// Writes the body of a streamed response. Each `write` becomes one chunk sent as soon as MHD's
/// thread gets to it; nothing is held back for batching. A value (the sink is the shared state):
/// an object of its own was one more allocation per stream.
public struct HTTPStreamWriter: Sendable {
    let sink: any HTTPResponseSink
    let started: Bool

    init(sink: any HTTPResponseSink, started: Bool) {
        self.sink = sink
        self.started = started
    }

    /// Queues bytes for the client; returns false once the client is gone or the stream is
    /// finished (then the handler should stop).
    @discardableResult
    public func write(_ bytes: [UInt8]) -> Bool {
        started && sink.write(bytes)
    }

    /// Ends the response with the terminating chunk. Idempotent.
    public func finish() {
        if started { sink.finish() }
    }

    /// True once the edge noticed the client went away (on a write or heartbeat).
    public var isClientGone: Bool {
        sink.isClientGone
    }
}
