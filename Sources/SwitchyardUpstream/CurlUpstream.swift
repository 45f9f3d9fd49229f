public import SwitchyardCore

/// The outbound HTTP transport: libcurl's multi interface driven by one dedicated thread.
///
/// Callers on any task enqueue transfers and suspend; the loop thread runs every transfer,
/// reuses connections through the multi handle's cache (HTTP/1.1 keep-alive, HTTP/2 over TLS when
/// the server offers it) and resumes the caller on completion (`perform`) or when the response
/// head has arrived (`stream`). Timeouts other than connect are enforced by the loop thread.
/// Cancelling the calling task, or dropping a streaming body, aborts the transfer promptly.
///
/// Call `shutdown()` when done; `deinit` does it too.
public final class CurlUpstream: Upstream {
    /// Tuning knobs; the defaults suit a gateway talking to a handful of upstream hosts.
    public struct Configuration: Sendable {
        /// Reset easy handles kept for reuse (curl_easy_reset keeps their caches warm). Default 64.
        public var maxIdleEasyHandles: Int
        /// CURLMOPT_MAXCONNECTS: idle connections kept open; `nil` is curl's default (4× the
        /// number of transfers in flight).
        public var maxCachedConnections: Int?
        /// CURLMOPT_MAX_HOST_CONNECTIONS: above this, transfers queue inside curl. `nil` = unlimited.
        public var maxConnectionsPerHost: Int?

        public init(maxIdleEasyHandles: Int = 64, maxCachedConnections: Int? = nil, maxConnectionsPerHost: Int? = nil) {
            self.maxIdleEasyHandles = maxIdleEasyHandles
            self.maxCachedConnections = maxCachedConnections
            self.maxConnectionsPerHost = maxConnectionsPerHost
        }
    }

    /// Why the transport could not start.
    public struct StartError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    private let loop: CurlLoop

    /// Initialises libcurl (once per process) and starts the loop thread.
    public init(configuration: Configuration = Configuration()) throws(StartError) {
        let config = CurlLoop.Configuration(
            maxIdleEasyHandles: configuration.maxIdleEasyHandles,
            maxCachedConnections: configuration.maxCachedConnections,
            maxConnectionsPerHost: configuration.maxConnectionsPerHost)
        guard let loop = CurlLoop(configuration: config) else {
            throw StartError(description: "curl_global_init or curl_multi_init failed")
        }
        guard loop.start() else { throw StartError(description: "could not start the curl loop thread") }
        self.loop = loop
    }

    deinit { loop.shutdown() }

    /// Transfers submitted and not yet completed (queued, running, or being torn down).
    public var activeTransfers: Int { loop.activeTransfers }

    /// The loop thread as a task executor: tasks that prefer it run their synchronous parts on the
    /// thread that drives their transfers, saving two thread hand-offs per upstream call. Only
    /// for short, non-blocking work.
    public var executor: any TaskExecutor { loop }

    /// Stops the loop thread and waits for it to exit; outstanding and later transfers fail with
    /// `.cancelled`. Blocks the calling thread briefly; idempotent.
    public func shutdown() { loop.shutdown() }

    public func perform(_ request: UpstreamRequest) async throws(UpstreamFailure) -> UpstreamResponse {
        let transfer = Transfer(request: request, streaming: false)
        let loop = self.loop
        let result = await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: BufferedContinuation) in
                transfer.bufferedContinuation = continuation
                loop.submit(transfer)
            }
        } onCancel: {
            loop.cancel(transfer)
        }
        return try result.get()
    }

    public func stream(_ request: UpstreamRequest) async throws(UpstreamFailure) -> UpstreamStreamingResponse {
        let transfer = Transfer(request: request, streaming: true)
        let loop = self.loop
        let (body, continuation) = AsyncThrowingStream<[UInt8], any Error>.makeStream()
        // Fires with `.cancelled` when the consumer's task is cancelled or every copy of the body
        // stream is dropped; with `.finished` after our own finish, which needs nothing.
        continuation.onTermination = { termination in
            if case .cancelled = termination { loop.cancel(transfer) }
        }
        transfer.bodyContinuation = continuation
        transfer.pendingBodyStream = body
        let result = await withTaskCancellationHandler {
            await withUnsafeContinuation { (head: HeadContinuation) in
                transfer.headContinuation = head
                loop.submit(transfer)
            }
        } onCancel: {
            loop.cancel(transfer)
        }
        return try result.get()
    }
}
