import Glibc
import SwitchyardEdge
import SwitchyardTestSupport
import Testing

/// Throughput/latency smoke run with wrk; only when SWITCHYARD_EDGE_BENCH is set (use -c release).
@Suite struct EdgeBenchmark {
    @Test(.enabled(if: getenv("SWITCHYARD_EDGE_BENCH") != nil))
    func wrk() async throws {
        let body = text(#"{"ok":true}"#)
        try await withServer(handler: { _, responder in
            responder.respond(status: 200, headers: ["Content-Type": "application/json"], body: body)
        }) { server in
            let port = server.port
            for connections in [1, 64] {
                let command =
                    "wrk -t1 -c\(connections) -d4s --latency http://127.0.0.1:\(port)/v1/x"
                    + " | grep -E 'Requests/sec|50%|99%'"
                print("connections=\(connections)")
                _ = try await offload { system(command) }
            }
        }
    }
}
