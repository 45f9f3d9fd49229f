import CCurl
import SwitchyardCore

/// `curl_global_init` runs once per process, on first use of a `CurlUpstream`. Swift initialises
/// globals lazily and exactly once (swift_once), which is the guarantee curl_global_init(3) asks for:
/// "call it once ... before the program calls any other function in libcurl".
let curlGlobalInitResult: Bool = sy_curl_global_init_default() == CURLE_OK

/// Owns one `CURL *` easy handle and the error buffer it writes to.
///
/// A handle keeps its options from one transfer to the next: the ones every transfer shares
/// (callbacks, NOSIGNAL, TCP_NODELAY, the error buffer) are set once, and a transfer sets only what
/// is its own (`Transfer.configure`). curl_easy_reset and setting some eighteen options again took
/// 1.5% of a plain request's CPU; parsing the same URL again (curl_url_set, then curl_url_get
/// rebuilding the text with curl's printf) another 2.7%. A transfer that did not succeed may
/// leave state behind that only curl_easy_reset clears (the count of curl's own re-sends, which
/// decides how the next dead connection fails), so its handle is reset (`reset()`) before reuse.
///
/// curl_easy_cleanup(3): "This might close all connections this handle has used ... Any use of the
/// handle after this function has been called ... is illegal." It runs exactly once, in `deinit`;
/// the owner (its loop thread) detaches the handle from the multi handle before letting it go.
final class EasyHandle {
    let raw: UnsafeMutableRawPointer
    /// CURLOPT_ERRORBUFFER: at least CURL_ERROR_SIZE bytes, alive as long as the option is set.
    let errorBuffer: UnsafeMutablePointer<CChar>
    /// Sets the options every transfer shares; run on a new handle and after each reset.
    private let applyFixedOptions: (EasyHandle) -> Void
    /// The URL the handle is set to (CURLOPT_URL) and curl's parse of it, handed over as
    /// CURLOPT_CURLU so curl copies the parts instead of parsing the text for each transfer.
    /// curl reads the parse (never changes it) while the option is set: freed in `deinit` or
    /// once another one replaced it.
    private var url: String?
    private var parsedURL: OpaquePointer?
    private var connectTimeoutMilliseconds = -1
    /// The environment's proxy settings, set with each new URL (`setURL`), so that curl does not
    /// read the environment for every transfer.
    private let proxies: ProxyEnvironment
    /// CURLOPT_PROXY as set (nil: not set since the handle was made or reset).
    private var proxy: String?

    init?(proxies: ProxyEnvironment, fixedOptions: @escaping (EasyHandle) -> Void) {
        guard let raw = curl_easy_init() else { return nil }
        self.raw = raw
        self.proxies = proxies
        let size = Int(sy_curl_error_size())
        errorBuffer = .allocate(capacity: size)
        errorBuffer.initialize(repeating: 0, count: size)
        applyFixedOptions = fixedOptions
        _ = sy_curl_setopt_ptr(raw, CURLOPT_ERRORBUFFER, errorBuffer)
        setFixedOptions()
    }

    /// The options every transfer shares, the environment's `no_proxy` among them.
    private func setFixedOptions() {
        _ = sy_curl_setopt_str(raw, CURLOPT_NOPROXY, proxies.noProxy)
        applyFixedOptions(self)
    }

    deinit {
        curl_easy_cleanup(raw)
        if let parsedURL { curl_url_cleanup(parsedURL) }
        errorBuffer.deallocate()
    }

    /// curl_easy_reset(3) keeps live connections and caches (they belong to the multi handle here)
    /// and drops every option and the state a transfer left; the shared options are set again.
    func reset() {
        curl_easy_reset(raw)
        errorBuffer[0] = 0
        url = nil
        if let parsedURL { curl_url_cleanup(parsedURL) }
        parsedURL = nil
        connectTimeoutMilliseconds = -1
        proxy = nil
        _ = sy_curl_setopt_ptr(raw, CURLOPT_ERRORBUFFER, errorBuffer)
        setFixedOptions()
    }

    /// Points the handle at `text` unless it already is, through the environment's proxy for its
    /// scheme ("" sets none: curl then skips its own look at the environment). A text curl's parser
    /// refuses is set alone (no CURLOPT_CURLU), so the transfer fails exactly as curl reports such
    /// a URL.
    func setURL(_ text: String) {
        if text == url { return }
        let proxyForURL = proxies.proxy(scheme: ProxyEnvironment.scheme(of: text))
        if proxyForURL != proxy {
            _ = sy_curl_setopt_str(raw, CURLOPT_PROXY, proxyForURL)
            proxy = proxyForURL
        }
        let parsed = curl_url()
        let ok = parsed.map { sy_curl_url_parse($0, text) == CURLUE_OK } ?? false
        _ = sy_curl_setopt_str(raw, CURLOPT_URL, text)
        _ = sy_curl_setopt_ptr(raw, CURLOPT_CURLU, ok ? UnsafeMutableRawPointer(parsed) : nil)
        if let old = parsedURL { curl_url_cleanup(old) }
        if ok {
            parsedURL = parsed
        } else {
            if let parsed { curl_url_cleanup(parsed) }
            parsedURL = nil
        }
        url = text
    }

    /// CURLOPT_CONNECTTIMEOUT_MS, set only when it changes.
    func setConnectTimeout(milliseconds: Int) {
        guard milliseconds != connectTimeoutMilliseconds else { return }
        _ = sy_curl_setopt_long(raw, CURLOPT_CONNECTTIMEOUT_MS, milliseconds)
        connectTimeoutMilliseconds = milliseconds
    }

    /// The detailed message of the last failure, else curl's generic text for `code`.
    func message(for code: CURLcode) -> String {
        if errorBuffer[0] != 0 { return String(cString: errorBuffer) }
        return String(cString: curl_easy_strerror(code))
    }
}

/// Owns one request-header `curl_slist`, built from a request's header fields and freed when the
/// last transfer using it (and the multi handle's cache) let go of it. curl reads the list while
/// a transfer runs and never copies it (CURLOPT_HTTPHEADER: "The linked list should be a fully
/// valid list of struct curl_slist structs properly filled in... it must remain valid as long as
/// the transfer uses it").
final class CurlHeaderList {
    let fields: [HeaderField]
    let raw: UnsafeMutablePointer<curl_slist>?

    /// The fields as curl lines (curl_slist_append copies each string). An empty `Expect:` stops
    /// curl's `Expect: 100-continue` (which waits up to 1 s on bodies over 1 MiB); an empty
    /// `Content-Type:` stops curl's form-urlencoded default when the caller set none.
    init(_ fields: [HeaderField]) {
        self.fields = fields
        var list: UnsafeMutablePointer<curl_slist>?
        var hasContentType = false
        var hasExpect = false
        for field in fields {
            if asciiCaseInsensitiveEquals(field.name, "content-type") { hasContentType = true }
            if asciiCaseInsensitiveEquals(field.name, "expect") { hasExpect = true }
            // curl sends "Name;" as a header with an empty value; "Name:" would delete it.
            let line = field.value.isEmpty ? field.name + ";" : field.name + ": " + field.value
            list = curl_slist_append(list, line)
        }
        if !hasExpect { list = curl_slist_append(list, "Expect:") }
        if !hasContentType { list = curl_slist_append(list, "Content-Type:") }
        raw = list
    }

    deinit { if let raw { curl_slist_free_all(raw) } }
}

/// Maps a failed transfer's `CURLcode` to the contract's failure kinds.
func upstreamFailure(for code: CURLcode, message: String) -> UpstreamFailure {
    switch code {
    case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY, CURLE_COULDNT_CONNECT,
        CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT, CURLE_SSL_CONNECT_ERROR,
        CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER, CURLE_SSL_CACERT_BADFILE,
        CURLE_SSL_ENGINE_NOTFOUND, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_PINNEDPUBKEYNOTMATCH,
        CURLE_INTERFACE_FAILED:
        // Nothing reached the server: DNS, TCP or TLS set-up failed.
        return .connect(message)
    case CURLE_OPERATION_TIMEDOUT:
        // Only CURLOPT_CONNECTTIMEOUT_MS is given to curl; total, first-byte and idle limits are
        // enforced by the loop thread, so a curl timeout is always the connect phase.
        return .timeout(.connect)
    default:
        return .transport(message)
    }
}
