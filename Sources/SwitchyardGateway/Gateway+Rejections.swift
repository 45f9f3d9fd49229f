import Logging
import SwitchyardCore
import SwitchyardEdge
import SwitchyardInbound

/// Why a request was refused before an endpoint handled it: the `reason` label of
/// `switchyard_rejected_requests_total` (a fixed set, so clients cannot grow the series count) and
/// of the "request rejected" log line. Without these an app sending a stale key or a wrong base URL
/// saw errors that the gateway's operators could not see at all.
public enum RejectionReason: String, Sendable, CaseIterable {
    /// 401: no client key, or one that is not configured.
    case unauthenticated
    /// 404: a path no endpoint serves (an SDK with a wrong base URL, an unsupported OpenAI route).
    case unknownPath = "unknown_path"
    /// 405: a known path with the wrong method.
    case methodNotAllowed = "method_not_allowed"
    /// 413: a body over `limits.max_body_bytes` (answered by the edge).
    case bodyTooLarge = "body_too_large"
    /// Another 4xx the edge answered itself (a malformed HTTP request).
    case badRequest = "bad_request"
    /// 503 from the edge while the server stops.
    case shuttingDown = "shutting_down"
    /// 500 from the edge: a handler ended without answering (a bug).
    case noResponse = "no_response"

    /// The reason for a response the edge produced itself (`HTTPServerConfiguration.errorResponse`).
    public init(edgeStatus status: Int) {
        switch status {
        case 413: self = .bodyTooLarge
        case 503: self = .shuttingDown
        case 400..<500: self = .badRequest
        default: self = .noResponse
        }
    }
}

extension Gateway {
    /// Counts, logs (method, path, status, reason; never a header or the key) and answers a
    /// request refused before any endpoint.
    func reject(
        _ request: HTTPRequest, _ responder: HTTPResponder, _ error: APIError, reason: RejectionReason,
        requestID: String, format: any InboundFormat = ChatCompletionsFormat(), extra: [(String, String)] = [],
        detail: String? = nil
    ) {
        metrics.rejected(reason)
        if logsRequests {
            var metadata: Logger.Metadata = [
                "request_id": .string(requestID), "method": .string(String(request.method.prefix(16))),
                "path": .string(Self.loggedPath(request.path)), "status": .stringConvertible(error.status),
                "reason": .string(reason.rawValue),
            ]
            if let detail { metadata["detail"] = .string(detail) }
            logger.info("request rejected", metadata: metadata)
        }
        respondError(responder, error, requestID: requestID, format: format, extra: extra)
    }

    /// 404 for a path no endpoint serves.
    func unknownPath(
        _ request: HTTPRequest, _ responder: HTTPResponder, requestID: String,
        format: any InboundFormat = ChatCompletionsFormat()
    ) {
        reject(
            request, responder, .notFound("Unknown path \(request.path)."), reason: .unknownPath, requestID: requestID,
            format: format)
    }

    /// A client-chosen path as it goes into a log line: at most 128 bytes (the query string, which
    /// may carry tokens, is never part of it).
    static func loggedPath(_ path: String) -> String {
        path.utf8.count <= 128 ? path : String(decoding: path.utf8.prefix(128), as: UTF8.self) + "…"
    }
}
