import SwitchyardTestSupport
import Synchronization
import Testing

@testable import SwitchyardEdge

/// The stream heartbeat's one timer sleeps while no stream is open and ticks while one is.
@Suite(.timeLimit(.minutes(1)))
struct HeartbeatTests {
    @Test func theTimerSleepsWithoutAStreamWakesForOneAndSleepsAgainWhenItEnds() async throws {
        try await withServer({ $0.heartbeatInterval = .milliseconds(20) }) { request, responder in
            if request.path == "/stream" {
                let writer = responder.startStream(status: 200, headers: ["Content-Type": "text/event-stream"])
                await waitUntilCancelled()
                writer.finish()
            } else {
                responder.respond(status: 200, headers: [:], body: text("ok"))
            }
        } _: { server in
            let core = server.core
            try await waitUntil { core.heartbeatParks.load(ordering: .relaxed) >= 1 }
            // Plain requests for ten of the timer's 10 ms ticks: no stream, so no pass. (Ticking
            // whatever was open, the timer made one pass per tick.)
            try await requestRepeatedly(port: server.port, path: "/plain", for: .milliseconds(100))
            #expect(core.heartbeatPasses.load(ordering: .relaxed) == 0)
            #expect(server.openStreams == 0)

            // A stream wakes the timer: the idle stream gets its heartbeat.
            let stream = try RawHTTPClient(port: server.port, timeoutSeconds: 25)
            try stream.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
            _ = try await offload { try stream.readHead() }
            let chunk = try await offload { try stream.readChunk() }
            #expect(chunk == text(": keep-alive\n\n"))
            #expect(core.heartbeatPasses.load(ordering: .relaxed) >= 1)

            // The client leaves; once the stream is gone the timer sleeps again.
            let parks = core.heartbeatParks.load(ordering: .relaxed)
            stream.close()
            try await waitUntil { server.openStreams == 0 }
            try await waitUntil { core.heartbeatParks.load(ordering: .relaxed) > parks }
        }
    }
}
