import Foundation
import Glibc
import Logging
import SwitchyardCore
import SwitchyardGateway
import SwitchyardTestSupport
import SwitchyardUpstream
import Synchronization
import Testing

/// A second client key, for owner isolation.
enum OtherKey {
    static let name = "other"
    static let secret = "sk-client-OTHER-SECRET-77e1"
}

/// A mock OpenAI upstream for task tests: answers like `MockLLM` ("Hello from the mock: <last
/// user text>") and holds back any request whose last user text contains a marker registered
/// with `gate(_:)` until the test opens that gate.
final class GatedLLM: Sendable {
    final class Gates: Sendable {
        let byMarker = Mutex<[String: MockGate]>([:])
        func gate(for body: String) -> MockGate? { byMarker.withLock { g in g.first { body.contains($0.key) }?.value } }
    }

    let server: MockHTTPServer
    private let gates: Gates

    init() throws {
        let gates = Gates()
        self.gates = gates
        server = try MockHTTPServer { request in
            var response = MockLLM().respond(request)
            if let gate = gates.gate(for: request.bodyText) { response.beforeHead = [.waitFor(gate)] }
            return response
        }
    }

    /// Requests whose body contains `marker` wait for the returned gate.
    func gate(_ marker: String) -> MockGate {
        let gate = MockGate()
        gates.byMarker.withLock { $0[marker] = gate }
        return gate
    }

    /// Requests whose body contains `marker` are answered at once from now on.
    func ungate(_ marker: String) { _ = gates.byMarker.withLock { $0.removeValue(forKey: marker) } }

    /// Bodies of the requests received so far that contain `text`.
    func requests(containing text: String) -> [RecordedRequest] {
        server.requests.filter { $0.bodyText.contains(text) }
    }

    func stop() { server.stop() }
}

/// The configuration lines task tests share: `listen` on port 0, no health checks, the client key
/// `tests` (and `other` with `otherKey`), one model `smart` on the OpenAI mock at `mockPort`, and
/// quick retries. Callers add their store and the rest.
func smartModelYAML(mockPort: Int, otherKey: Bool = false) -> String {
    let other = otherKey ? ", {name: \(OtherKey.name), key_env: TEST_OTHER_KEY}" : ""
    return """
        listen: 127.0.0.1:0
        health_check_ms: 0
        auth: {keys: [{name: tests, key_env: TEST_CLIENT_KEY}\(other)]}
        providers:
          - {name: openai, kind: openai, base_url: "http://127.0.0.1:\(mockPort)/v1", api_key_env: TEST_PROVIDER_KEY}
        models:
          - {name: smart, targets: [{provider: openai, model: gpt-4o-mini}]}
        retry: {attempts_per_target: 1, initial_backoff_ms: 1, max_backoff_ms: 5, multiplier: 2}
        """
}

/// Task tests' gateway: two client keys (`tests`, `other`), a fresh store under /tmp (or `storePath`).
func startTaskGateway(
    mock: MockHTTPServer, storePath: String? = nil, workers: Int = 4
) async throws -> GatewayHarness {
    let text = """
        \(smartModelYAML(mockPort: mock.port, otherKey: true))
        limits: {max_body_bytes: 65536, stream_heartbeat_ms: 100}
        store: {path: "\(storePath ?? temporaryStorePath("tasks"))"}
        tasks: {workers: \(workers)}
        """
    return try await GatewayHarness.start(yaml: text)
}

/// A directory under /tmp with the `switchyard.yaml` of a `switchyard serve` child running tasks:
/// the client key `tests`, one model `smart` on the mock at `mockPort`, quick retries, the task
/// store `tasks.db` beside it (a scratch schema with `SWITCHYARD_TEST_STORE=postgres`, see
/// `TestStore`) and a 2 s shutdown grace. `remove()` deletes all of it.
struct TaskProcessConfig: Sendable {
    let dir: String
    /// What a process on this config needs in its environment for the store (`TestStore`).
    let storeEnvironment: [String: String]
    var path: String { dir + "/switchyard.yaml" }
    var storePath: String { dir + "/tasks.db" }

    init(label: String, mockPort: Int, workers: Int = 4) async throws {
        dir = temporaryStorePath(label).replacingOccurrences(of: ".db", with: "")
        mkdir(dir, 0o700)
        try """
        \(smartModelYAML(mockPort: mockPort))
        store: \(TestStore.yaml(dir + "/tasks.db"))
        tasks: {workers: \(workers)}
        shutdown_grace_ms: 2000
        """.write(toFile: dir + "/switchyard.yaml", atomically: true, encoding: .utf8)
        storeEnvironment = try await TestStore.environment(for: dir + "/tasks.db")
    }

    func remove() {
        removeStore(storePath)
        unlink(path)
        rmdir(dir)
    }
}

/// Runs `body` against a task-enabled gateway (`startTaskGateway`) in front of a gated mock, stops
/// both, then checks that no configured secret reached the logs.
func withTaskGateway(_ body: (GatewayHarness, GatedLLM) async throws -> Void) async throws {
    let llm = try GatedLLM()
    let h = try await startTaskGateway(mock: llm.server)
    defer {
        h.stop()
        llm.stop()
    }
    try await body(h, llm)
    #expect(!h.logs.captured.contains(TestSecrets.client))
    #expect(!h.logs.captured.contains(TestSecrets.provider))
    #expect(!h.logs.captured.contains(OtherKey.secret))
}

/// A chat body for one step; `content` may hold `{{steps.<id>.output}}`.
func stepJSON(_ id: String, _ content: String, model: String = "smart") -> JSON {
    [
        "id": .string(id),
        "request": ["model": .string(model), "messages": [["role": "user", "content": .string(content)]]],
    ]
}

func taskBody(_ steps: [JSON], agent: String = "writer", metadata: JSON = ["ticket": "T-1"]) -> String {
    JSON.object(["agent": .string(agent), "steps": .array(steps), "metadata": metadata]).serializedString()
}

struct Timeout: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out waiting for \(what)" }
}

/// Runs `body`, failing with `Timeout` if it has not returned after `seconds`, even when `body`
/// ignores cancellation (a mock's `waitForRequests`, a child's stderr): it is cancelled and left
/// to end on its own. A task group would wait for it, so such a wait ran into the suite's time
/// limit, which names no wait, instead of failing here with its name.
func within<T: Sendable>(
    _ seconds: Double, _ what: String, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    let race = WithinRace<T>()
    defer { race.cancel() }
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            race.first.withLock { $0 = continuation }
            let work = Task {
                let result: Result<T, any Error>
                do { result = .success(try await body()) } catch { result = .failure(error) }
                race.end(result)
            }
            let timer = Task {
                try? await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
                race.end(.failure(Timeout(what: what)))
            }
            race.tasks.withLock { $0 = [work, timer] }
            if Task.isCancelled { work.cancel() }
        }
    } onCancel: {
        race.cancel()
    }
}

/// The waiter of one `within` and its two tasks; the first of them to end resumes it.
private final class WithinRace<T: Sendable>: Sendable {
    let first = Mutex<CheckedContinuation<T, any Error>?>(nil)
    let tasks = Mutex<[Task<Void, Never>]>([])

    func end(_ result: Result<T, any Error>) { first.withLock { $0.take() }?.resume(with: result) }

    func cancel() { for task in tasks.withLock({ $0 }) { task.cancel() } }
}

extension GatewayHarness {
    func task(_ id: String, key: String = TestSecrets.client) async throws -> UpstreamResponse {
        try await request("GET", "/v1/tasks/\(id)", key: key)
    }

    /// Polls `GET /v1/tasks/{id}` until `done` holds (deadline `seconds`); returns the last body.
    func waitForTask(
        _ id: String, seconds: Double = 20, _ what: String = "the task", until done: @escaping @Sendable (JSON) -> Bool
    ) async throws -> JSON {
        try await within(seconds, what) {
            while true {
                if let json = try await self.task(id).json, done(json) { return json }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    /// Polls the captured logs until one contains `text`.
    func waitForLog(_ text: String, seconds: Double = 30) async throws {
        try await within(seconds, "log line \(text)") {
            while !self.logs.captured.contains(text) { try await Task.sleep(for: .milliseconds(10)) }
        }
    }

    /// Opens `GET /v1/tasks/{id}/events` as a live stream.
    func events(_ id: String, key: String = TestSecrets.client, lastEventID: String? = nil) async throws -> SSEReader {
        var headers = [HeaderField("Authorization", "Bearer \(key)")]
        if let lastEventID { headers.append(HeaderField("Last-Event-ID", lastEventID)) }
        let response = try await client.stream(
            UpstreamRequest(
                method: "GET", url: base + "/v1/tasks/\(id)/events", headers: headers, body: [], timeout: .seconds(30)))
        return SSEReader(response)
    }
}

extension JSON {
    func step(_ i: Int) -> JSON? { self["steps"]?.arrayValue?[i] }
    var state: String? { self["state"]?.stringValue }
}

/// One SSE event as the client parsed it.
struct SSEFrame: Sendable {
    var id: Int64?
    var event: String
    var data: JSON
}

/// Reads SSE frames from a streaming response as they arrive.
///
/// `@unchecked Sendable` invariant: a test drives one reader from one task at a time (it hands
/// the reader to a `within` closure and awaits it), so the iterator is never used concurrently.
final class SSEReader: @unchecked Sendable {
    let status: Int
    let headers: [HeaderField]
    private var iterator: UpstreamBodyStream.AsyncIterator
    private var buffer: [UInt8] = []

    init(_ response: UpstreamStreamingResponse) {
        status = response.head.status
        headers = response.head.headers
        iterator = response.body.makeAsyncIterator()
    }

    /// The next event, or nil when the stream ended. SSE comments (heartbeats) are skipped.
    func next() async throws -> SSEFrame? {
        while true {
            if let end = findBlankLine() {
                let block = String(decoding: buffer[..<end], as: UTF8.self)
                buffer.removeFirst(end + 2)
                var frame = SSEFrame(id: nil, event: "message", data: .null)
                var isEvent = false
                for line in block.split(separator: "\n") {
                    if line.hasPrefix("id: ") { frame.id = Int64(line.dropFirst(4)) }
                    if line.hasPrefix("event: ") { frame.event = String(line.dropFirst(7)) }
                    if line.hasPrefix("data: ") {
                        isEvent = true
                        frame.data = (try? JSON.parse(String(line.dropFirst(6)))) ?? .string(String(line.dropFirst(6)))
                    }
                }
                if isEvent { return frame }
                continue
            }
            guard let chunk = try await iterator.next() else { return nil }
            buffer += chunk
        }
    }

    /// Frames up to and including the first whose event name is `name`.
    func collect(until name: String) async throws -> [SSEFrame] {
        var frames: [SSEFrame] = []
        while let frame = try await next() {
            frames.append(frame)
            if frame.event == name { return frames }
        }
        Issue.record("stream ended before a `\(name)` event; got \(frames.map(\.event))")
        return frames
    }

    /// Every frame until the server closes the stream.
    func drain() async throws -> [SSEFrame] {
        var frames: [SSEFrame] = []
        while let frame = try await next() { frames.append(frame) }
        return frames
    }

    private func findBlankLine() -> Int? {
        guard buffer.count >= 2 else { return nil }
        for i in 0..<(buffer.count - 1) where buffer[i] == 0x0A && buffer[i + 1] == 0x0A { return i }
        return nil
    }
}
