import SwitchyardCore
import SwitchyardEdge
import Synchronization

/// What an answer was, kept for its idempotency record. The shared request path feeds it: the
/// whole body of a JSON answer, or, for a stream, the final answer its inbound format assembled
/// (`InboundStreamEncoder.finalBody`), which a replay re-emits as that API's stream. Only a
/// successful answer (2xx, a stream that ended normally) yields a `result`.
final class IdempotencyCapture: Sendable {
    /// Marks a record holding an assembled stream: replayed as events, not as JSON.
    static let streamContentType = "text/event-stream"

    private let state = Mutex<(headers: [HeaderField], body: [UInt8])?>(nil)

    /// The response to store, or nil when the request failed.
    var result: (headers: [HeaderField], body: [UInt8])? { state.withLock { $0 } }

    func completed(status: Int, headers: HTTPHeaders, body: [UInt8]) {
        guard (200..<300).contains(status) else { return }
        state.withLock { $0 = (Self.keep(headers), body) }
    }

    /// A stream ended normally; `finalBody` is its whole answer in the API's non-streaming shape.
    func streamCompleted(headers: HTTPHeaders, finalBody: [UInt8]) {
        state.withLock { $0 = (Self.keep(headers), finalBody) }
    }

    /// Response headers worth replaying: content type and routing facts, never ids of this request.
    static func keep(_ headers: HTTPHeaders) -> [HeaderField] {
        headers.compactMap { field in
            let name = field.name.lowercased()
            guard name == "content-type" || name.hasPrefix("x-switchyard-") else { return nil }
            return HeaderField(field.name, field.value)
        }
    }
}
