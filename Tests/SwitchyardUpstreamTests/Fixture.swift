import SwitchyardCore
import SwitchyardTestSupport
import SwitchyardUpstream

/// A mock server and a transport, both torn down after `body` however it ends.
func withUpstream<T>(
    handler: @escaping MockHTTPServer.Handler, configuration: CurlUpstream.Configuration = .init(),
    _ body: (MockHTTPServer, CurlUpstream) async throws -> T
) async throws -> T {
    let server = try MockHTTPServer(handler: handler)
    let upstream = try CurlUpstream(configuration: configuration)
    defer {
        upstream.shutdown()
        server.stop()
    }
    return try await body(server, upstream)
}

func request(
    _ server: MockHTTPServer, _ path: String = "/v1/test", method: String = "POST", body: String = "",
    headers: [HeaderField] = [], timeout: Duration? = nil, firstByte: Duration? = nil, idle: Duration? = nil
) -> UpstreamRequest {
    UpstreamRequest(
        method: method, url: server.url(path), headers: headers, body: Array(body.utf8),
        connectTimeout: .seconds(5), timeout: timeout, firstByteTimeout: firstByte, idleTimeout: idle)
}

/// The failure `operation` threw, or nil if it succeeded.
func failure<T>(_ operation: () async throws(UpstreamFailure) -> T) async -> UpstreamFailure? {
    do {
        _ = try await operation()
        return nil
    } catch {
        return error
    }
}

extension Array where Element == UInt8 {
    var text: String { String(decoding: self, as: UTF8.self) }
}
