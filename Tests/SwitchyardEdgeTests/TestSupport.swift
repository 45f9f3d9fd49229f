import SwitchyardEdge
import SwitchyardTestSupport
import Synchronization
import Testing

/// An `HTTPHandler` made of a closure.
struct ClosureHandler: HTTPHandler {
    let body: @Sendable (HTTPRequest, HTTPResponder) async -> Void

    func handle(_ request: HTTPRequest, responder: HTTPResponder) async {
        await body(request, responder)
    }
}

/// A one-shot event carrying a value: `wait()` returns once `fire` was called (before or after).
final class Event<Value: Sendable>: Sendable {
    private struct State {
        var value: Value?
        var waiters: [CheckedContinuation<Value, Never>] = []
    }

    private let state = Mutex(State())

    func fire(_ value: Value) {
        let waiters = state.withLock { state -> [CheckedContinuation<Value, Never>] in
            guard state.value == nil else { return [] }
            state.value = value
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: value) }
    }

    func wait() async -> Value {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Value? in
                if let value = state.value { return value }
                state.waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

/// Suspends until the current task is cancelled (no polling, no sleeping).
func waitUntilCancelled() async {
    let cancelled = Event<Bool>()
    await withTaskCancellationHandler {
        _ = await cancelled.wait()
    } onCancel: {
        cancelled.fire(true)
    }
}

/// Starts a server on 127.0.0.1 port 0 with `handler`, runs `body`, always stops it.
func withServer(
    _ configure: (inout HTTPServerConfiguration) -> Void = { _ in },
    handler: @escaping @Sendable (HTTPRequest, HTTPResponder) async -> Void,
    _ body: (HTTPServer) async throws -> Void
) async throws {
    var configuration = HTTPServerConfiguration()
    configure(&configuration)
    let server = try HTTPServer(configuration: configuration, handler: ClosureHandler(body: handler))
    try server.start()
    defer { server.stop() }
    try await body(server)
}

func text(_ string: String) -> [UInt8] { Array(string.utf8) }

/// Plain requests (`GET path`) one after another on one kept-alive connection for `duration`,
/// each expected to get 200; returns the connection, still open.
@discardableResult
func requestRepeatedly(port: Int, path: String = "/", for duration: Duration) async throws -> RawHTTPClient {
    let client = try RawHTTPClient(port: port)
    let start = ContinuousClock.now
    repeat {
        let response = try await offload { try client.roundTrip("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n") }
        #expect(response.status == 200)
    } while ContinuousClock.now - start < duration
    return client
}
