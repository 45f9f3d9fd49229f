import Dispatch
import SwitchyardCore
import SwitchyardProviders
import Synchronization

/// The fuzz targets: each takes one input of arbitrary bytes through a parser or translation
/// path and checks what must hold for every input. Rejecting bad input with a typed error is
/// normal; a broken invariant throws `FuzzFailure`. A crash, a hang or unbounded memory is a
/// finding by itself (libFuzzer reports those from `-timeout` and `-rss_limit_mb`).
///
/// The same entry points run under libFuzzer (`switchyard-fuzz`, built by `scripts/fuzz`) and
/// in the test suite, which replays every regression fixture and seed through them.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// `JSON.parse`; a parsed value serialises to text that parses back to the same value.
    case json
    /// `SSEParser`; the same bytes give the same events whole, byte by byte and in chunks.
    case sse
    /// `ChatRequest.parse` and each codec's `encode`: a 4xx or a request body that is JSON.
    case requestOpenAI = "request-openai"
    case requestAnthropic = "request-anthropic"
    case requestGemini = "request-gemini"
    /// Each codec's `decodeResponse` (2xx) and `decodeError` (other statuses) with the router's
    /// Retry-After handling: values whose client-facing bodies are JSON, or typed errors.
    case responseOpenAI = "response-openai"
    case responseAnthropic = "response-anthropic"
    case responseGemini = "response-gemini"
    /// Each codec's stream decoder: the same events however the body is split; chunks encode.
    case streamOpenAI = "stream-openai"
    case streamAnthropic = "stream-anthropic"
    case streamGemini = "stream-gemini"
    /// YAML → configuration → validation → route table and router policy.
    case config
    /// The gateway's request handling in process: an HTTP request (method, target, headers,
    /// body) and scripted upstream answers in, an OpenAI-shaped answer out.
    case http

    /// Runs one input. Throws only for a broken invariant.
    public func run(_ input: [UInt8]) async throws(FuzzFailure) {
        if self == .http { return try await HTTPFuzz.run(input) }
        try runSynchronous(input)
    }

    /// Runs one input on the calling thread, blocking it while the `http` target's handler runs
    /// on the cooperative pool: for libFuzzer's thread and the replay command, never for code
    /// already on the pool (it could wait on itself).
    public func runBlocking(_ input: [UInt8]) throws(FuzzFailure) {
        guard self == .http else { return try runSynchronous(input) }
        let result = Mutex<Result<Void, FuzzFailure>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            do throws(FuzzFailure) {
                try await HTTPFuzz.run(input)
                result.withLock { $0 = .success(()) }
            } catch {
                result.withLock { $0 = .failure(error) }
            }
            done.signal()
        }
        done.wait()
        try result.withLock { $0 }?.get()
    }

    private func runSynchronous(_ input: [UInt8]) throws(FuzzFailure) {
        switch self {
        case .json: try JSONFuzz.run(input)
        case .sse: try SSEFuzz.run(input)
        case .requestOpenAI: try RequestFuzz.run(input, kind: .openai)
        case .requestAnthropic: try RequestFuzz.run(input, kind: .anthropic)
        case .requestGemini: try RequestFuzz.run(input, kind: .gemini)
        case .responseOpenAI: try ResponseFuzz.run(input, kind: .openai)
        case .responseAnthropic: try ResponseFuzz.run(input, kind: .anthropic)
        case .responseGemini: try ResponseFuzz.run(input, kind: .gemini)
        case .streamOpenAI: try StreamFuzz.run(input, kind: .openai)
        case .streamAnthropic: try StreamFuzz.run(input, kind: .anthropic)
        case .streamGemini: try StreamFuzz.run(input, kind: .gemini)
        case .config: try ConfigFuzz.run(input)
        case .http: preconditionFailure("the http target runs asynchronously")
        }
    }
}

/// An invariant that did not hold for an input.
public struct FuzzFailure: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Throws `FuzzFailure(message)` unless `condition` holds.
func check(_ condition: Bool, _ message: @autoclosure () -> String) throws(FuzzFailure) {
    if !condition { throw FuzzFailure(message()) }
}

/// Reads selector bytes off the front of an input; an exhausted input reads zeros.
struct FuzzInput {
    var bytes: ArraySlice<UInt8>

    init(_ bytes: [UInt8]) { self.bytes = bytes[...] }

    mutating func byte() -> UInt8 { bytes.popFirst() ?? 0 }

    /// One of `choices`, picked by the next byte.
    mutating func pick<T>(_ choices: [T]) -> T { choices[Int(byte()) % choices.count] }

    /// The bytes up to the first `separator` (consumed, not returned), or all that is left.
    mutating func take(until separator: UInt8) -> [UInt8] {
        guard let i = bytes.firstIndex(of: separator) else {
            defer { bytes = [] }
            return Array(bytes)
        }
        defer { bytes = bytes[(i + 1)...] }
        return Array(bytes[..<i])
    }

    var rest: [UInt8] { Array(bytes) }
}
