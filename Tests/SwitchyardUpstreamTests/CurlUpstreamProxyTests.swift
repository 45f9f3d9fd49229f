import SwitchyardCore
import SwitchyardTestSupport
import SwitchyardUpstream
import Testing

/// Upstream requests follow the environment's proxy settings by curl's rules, read once when the
/// transport starts (`ProxyEnvironment`) instead of by curl on every transfer. The proxy here is
/// a mock HTTP server: a request through it arrives with the absolute URL as its target.
@Suite("CurlUpstream proxies")
struct CurlUpstreamProxyTests {
    @Test(arguments: [
        // (environment, scheme, expected proxy)
        (["http_proxy": "http://p:1"], "http", "http://p:1"),
        (["HTTP_PROXY": "http://p:1"], "http", ""),  // curl ignores the upper case for http
        (["HTTP_PROXY": "http://p:1", "all_proxy": "http://a:2"], "http", "http://a:2"),
        (["https_proxy": "http://s:1", "HTTPS_PROXY": "http://S:1"], "https", "http://s:1"),
        (["HTTPS_PROXY": "http://S:1"], "https", "http://S:1"),
        (["https_proxy": "", "ALL_PROXY": "http://A:2"], "https", "http://A:2"),  // empty is unset
        (["all_proxy": "http://a:2", "ALL_PROXY": "http://A:2"], "https", "http://a:2"),
        (["http_proxy": "http://p:1"], "https", ""),
        ([:], "http", ""),
    ])
    func theProxyForASchemeIsTheOneCurlWouldRead(environment: [String: String], scheme: String, expected: String) {
        #expect(ProxyEnvironment(environment).proxy(scheme: scheme) == expected)
    }

    @Test func noProxyPrefersTheLowerCaseAndIsEmptyWhenUnset() {
        #expect(ProxyEnvironment(["no_proxy": "a", "NO_PROXY": "b"]).noProxy == "a")
        #expect(ProxyEnvironment(["NO_PROXY": "b"]).noProxy == "b")
        #expect(ProxyEnvironment(["no_proxy": "", "NO_PROXY": "b"]).noProxy == "b")
        #expect(ProxyEnvironment(["PATH": "/bin"]).noProxy == "")
    }

    /// A target and a proxy server, each answering who it is, stopped after `body`.
    static func withTargetAndProxy(_ body: (MockHTTPServer, MockHTTPServer) async throws -> Void) async throws {
        let target = try MockHTTPServer(handler: { _ in .text("from the target") })
        let proxy = try MockHTTPServer(handler: { _ in .text("from the proxy") })
        defer {
            target.stop()
            proxy.stop()
        }
        try await body(target, proxy)
    }

    @Test func requestsGoThroughTheHTTPProxyOfTheEnvironment() async throws {
        try await Self.withTargetAndProxy { target, proxy in
            let environment = ProxyEnvironment(["http_proxy": proxy.url(""), "no_proxy": "example.invalid"])
            let upstream = try CurlUpstream(configuration: .init(proxies: environment))
            defer { upstream.shutdown() }
            // Two requests to different paths: a handle that changes its URL keeps the proxy.
            for path in ["/v1/a", "/v1/b"] {
                let response = try await upstream.perform(request(target, path, body: "{}"))
                #expect(response.body.text == "from the proxy")
            }
            #expect(proxy.requests.map(\.path) == [target.url("/v1/a"), target.url("/v1/b")])
            #expect(target.requests.isEmpty)
        }
    }

    @Test func hostsInNoProxyAndHTTPProxyInUpperCaseAreReachedDirectly() async throws {
        try await Self.withTargetAndProxy { target, proxy in
            for environment in [
                ["http_proxy": proxy.url(""), "no_proxy": "example.invalid,127.0.0.1"],
                ["HTTP_PROXY": proxy.url("")],
            ] {
                let upstream = try CurlUpstream(configuration: .init(proxies: ProxyEnvironment(environment)))
                defer { upstream.shutdown() }
                let response = try await upstream.perform(request(target, "/v1/direct", body: "{}"))
                #expect(response.body.text == "from the target", "\(environment)")
            }
            #expect(proxy.requests.isEmpty)
            #expect(target.requests.map(\.path) == ["/v1/direct", "/v1/direct"])
        }
    }
}
