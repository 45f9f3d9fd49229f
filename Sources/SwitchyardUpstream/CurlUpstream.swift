public import SwitchyardCore
public import SwitchyardLoop
import Synchronization

/// The outbound HTTP transport: one libcurl multi handle per event loop, driven by that loop.
///
/// A caller running on one of the loops (a request handler) gets that loop's multi handle: the
/// transfer is added to curl on the spot and the caller resumes on the same thread when it
/// completes (`perform`) or when the response head has arrived (`stream`). Callers elsewhere
/// (background tasks, tests) are spread over the loops. Each multi handle keeps its own
/// connection cache (HTTP/1.1 keep-alive, HTTP/2 over TLS when the server offers it). Timeouts
/// other than connect are enforced by the loop. Cancelling the calling task, or dropping a
/// streaming body, aborts the transfer promptly.
///
/// Call `shutdown()` when done; `deinit` does it too.
public final class CurlUpstream: Upstream {
    /// Tuning knobs; the defaults suit a gateway talking to a handful of upstream hosts.
    public struct Configuration: Sendable {
        /// Reset easy handles kept for reuse (curl_easy_reset keeps their caches warm). Default 64.
        public var maxIdleEasyHandles: Int
        /// CURLMOPT_MAXCONNECTS: idle connections kept open per event loop. Default 64: curl's
        /// own default (`nil`: 4× the transfers in flight when one ends) closes most connections at
        /// the tail of every burst, and the next burst reconnects.
        public var maxCachedConnections: Int?
        /// CURLMOPT_MAX_HOST_CONNECTIONS: above this, transfers queue inside curl. `nil` = unlimited.
        public var maxConnectionsPerHost: Int?
        /// The largest answer body `perform` buffers (streams are handed on chunk by chunk and not
        /// bounded here). Default 64 MiB: a chat answer is kilobytes, a few images in base64 a few
        /// MB; past the limit the transfer stops and fails as `.transport`, so a broken or hostile
        /// upstream cannot grow the gateway's memory, and the router tries the next target.
        public var maxResponseBytes: Int
        /// The proxy settings upstream requests follow (`http_proxy`, `https_proxy`, `all_proxy`,
        /// `no_proxy` and their upper-case forms, as curl reads them). Default: the process
        /// environment as it is when the configuration is made.
        public var proxies: ProxyEnvironment

        public init(
            maxIdleEasyHandles: Int = 64, maxCachedConnections: Int? = 64, maxConnectionsPerHost: Int? = nil,
            maxResponseBytes: Int = 64 << 20, proxies: ProxyEnvironment = .current()
        ) {
            self.maxIdleEasyHandles = maxIdleEasyHandles
            self.maxCachedConnections = maxCachedConnections
            self.maxConnectionsPerHost = maxConnectionsPerHost
            self.maxResponseBytes = maxResponseBytes
            self.proxies = proxies
        }
    }

    /// Why the transport could not start.
    public struct StartError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    private let group: EventLoopGroup
    /// The group was made here (one loop) and is shut down with the transport.
    private let ownsGroup: Bool
    /// One per loop of `group`, in loop order.
    private let multis: [CurlMulti]

    /// Initialises libcurl (once per process) and attaches a multi handle to every loop of
    /// `loops`; without a group, starts a private one-loop group.
    public init(configuration: Configuration = Configuration(), loops: EventLoopGroup? = nil) throws(StartError) {
        let config = CurlMulti.Configuration(
            maxIdleEasyHandles: configuration.maxIdleEasyHandles,
            maxCachedConnections: configuration.maxCachedConnections,
            maxConnectionsPerHost: configuration.maxConnectionsPerHost,
            maxResponseBytes: configuration.maxResponseBytes, proxies: configuration.proxies)
        let group: EventLoopGroup
        do {
            group = try .shared(loops)
        } catch {
            throw StartError(description: "could not start the curl event loop: \(error)")
        }
        var multis: [CurlMulti] = []
        for loop in group.loops {
            guard let multi = CurlMulti(loop: loop, configuration: config) else {
                for m in multis { m.shutdown() }
                if loops == nil { group.shutdown() }
                throw StartError(description: "curl_global_init or curl_multi_init failed")
            }
            multis.append(multi)
        }
        self.group = group
        self.ownsGroup = loops == nil
        self.multis = multis
    }

    deinit { shutdown() }

    /// Transfers submitted and not yet completed (queued, running, or being torn down).
    public var activeTransfers: Int { multis.reduce(0) { $0 + $1.activeCount.load(ordering: .relaxed) } }

    /// Fails outstanding and later transfers with `.cancelled` and closes every connection (each
    /// loop does its own, this waits for them); a private loop group is stopped too. Idempotent.
    public func shutdown() {
        for multi in multis { multi.shutdown() }
        if ownsGroup { group.shutdown() }
    }

    /// The calling loop's multi handle, else the next loop's in turn.
    private var multi: CurlMulti {
        if let loop = group.current { return multis[loop.index] }
        return multis[group.next().index]
    }

    public nonisolated(nonsending) func perform(
        _ request: UpstreamRequest
    ) async throws(UpstreamFailure) -> UpstreamResponse {
        let loop = self.multi
        let transfer = Transfer(request: request, streaming: false, multi: loop)
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

    /// The loop enforces `UpstreamRequest.firstEventTimeout` like its other deadlines: a
    /// stream's first-event limit costs no timer task of the caller's.
    public var enforcesFirstEventTimeout: Bool { true }

    public nonisolated(nonsending) func stream(
        _ request: UpstreamRequest
    ) async throws(UpstreamFailure) -> UpstreamStreamingResponse {
        let loop = self.multi
        let transfer = Transfer(request: request, streaming: true, multi: loop)
        // Terminated when the consumer's task is cancelled or every copy of the body stream is
        // dropped before the end. The closure captures the transfer alone, which then serves as
        // its context: capturing the multi handle too boxed both, one allocation per stream.
        transfer.bodyChannel = UpstreamBodyChannel { [transfer] in transfer.multi.cancel(transfer) }
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
