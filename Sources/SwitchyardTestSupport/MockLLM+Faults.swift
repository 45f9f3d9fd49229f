import SwitchyardCore

extension MockLLM {
    /// How a scripted stream breaks.
    public enum StreamBreak: Sendable {
        /// The connection is closed without the terminating chunk.
        case cut
        /// Nothing more is written; the connection stays open (the client's idle timer fires).
        case stall
    }

    /// `respond(r)` with its SSE body broken after `events` events.
    public func respond(_ r: RecordedRequest, breakingAfter events: Int, _ kind: StreamBreak) -> MockResponse {
        var response = respond(r)
        guard case .chunks(let steps) = response.body else { return response }
        var kept: [MockChunk] = []
        var sent = 0
        for step in steps {
            if case .data = step {
                if sent == events { break }
                sent += 1
            }
            kept.append(step)
        }
        kept.append(kind == .cut ? .close : .stall)
        response.body = .chunks(kept)
        return response
    }

    /// Whether an Anthropic request ends with an assistant turn (a prefill).
    public static func hasPrefill(_ r: RecordedRequest) -> Bool {
        guard MockProviderKind(path: r.path) == .anthropic, let body = try? JSON.parse(r.body),
            let messages = body["messages"]?.arrayValue, messages.count > 1
        else { return false }
        return messages.last?["role"]?.stringValue == "assistant"
    }

    /// The 400 Claude 4.6 models answer a prefill with.
    public static let prefillRejected = MockResponse.json(
        status: 400,
        [
            "type": "error",
            "error": [
                "type": "invalid_request_error",
                "message":
                    "This model does not support assistant message prefill. The conversation must end with a user message.",
            ],
        ])
}
