import Dispatch
import SwitchyardTestSupport
import Synchronization
import Testing

@testable import SwitchyardEdge

/// The daemon inside its event loop: when libmicrohttpd needs another run that no descriptor or
/// timeout of its own announces.
@Suite(.timeLimit(.minutes(1)))
struct MHDDaemonTests {
    /// At its connection limit libmicrohttpd takes the listening socket out of its epoll set and
    /// puts it back only at the start of its next run; a connection closing frees a slot but
    /// announces no such run. So the loop runs the daemon again after a close: a client waiting in
    /// the backlog while every slot was busy is accepted as soon as one frees, not whenever some
    /// unrelated event next wakes the daemon (here none would, and the client would wait forever).
    @Test func aClientWaitingWhileEverySlotWasBusyIsServedOnceOneCloses() async throws {
        let slots = ConnectionTable.hardLimit(1)
        let started = Atomic<Int>(0)
        let releases = (0..<slots).map { _ in Event<Bool>() }
        try await withServer(
            { $0.maxConnections = 1 },
            handler: { request, responder in
                if request.path.hasPrefix("/wait/"), let i = Int(request.path.dropFirst(6)) {
                    started.add(1, ordering: .relaxed)
                    _ = await releases[i].wait()
                }
                responder.respond(status: 200, headers: [:], body: text(request.path))
            }
        ) { server in
            let port = server.port
            // Every slot of the hard limit serves a request that waits (none can be displaced).
            var busy: [RawHTTPClient] = []
            for i in 0..<slots {
                let client = try RawHTTPClient(port: port)
                try client.send("GET /wait/\(i) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                busy.append(client)
                try await waitUntil { started.load(ordering: .relaxed) == i + 1 }
            }
            let late = try RawHTTPClient(port: port, timeoutSeconds: 20)
            try late.send("GET /late HTTP/1.1\r\nHost: x\r\n\r\n")
            // One waiting request is answered and its connection closed: the only event.
            releases[0].fire(true)
            let first = busy[0]
            let answer = try await offload { try first.readResponse() }
            #expect(answer.status == 200)
            let response = try await offload { try late.readResponse() }
            #expect(response.status == 200)
            #expect(response.text == "/late")
            for release in releases { release.fire(true) }
        }
    }

    /// A full answer goes out when the handler hands it over, not when the handler's job ends:
    /// with one request at a time the client would otherwise also wait for the handler's tail
    /// (metrics, the access log, the task's end). Here the tail blocks the loop until the
    /// client has the answer (at most 20 s): the answer must arrive while it still blocks.
    @Test func anAnswerGoesOutBeforeTheHandlersTail() async throws {
        let clientHasAnswer = DispatchSemaphore(value: 0)
        let tailDone = Atomic<Bool>(false)
        try await withServer(handler: { request, responder in
            responder.respond(status: 200, headers: [:], body: text(request.path))
            _ = blockUntil(clientHasAnswer, seconds: 20)
            tailDone.store(true, ordering: .relaxed)
        }) { server in
            let client = try RawHTTPClient(port: server.port, timeoutSeconds: 30)
            try client.send("GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
            let answer = try await offload { try client.readResponse() }
            let whileTailRan = !tailDone.load(ordering: .relaxed)
            clientHasAnswer.signal()
            #expect(answer.text == "/first")
            #expect(whileTailRan)
            // The connection serves the next request as before.
            try client.send("GET /second HTTP/1.1\r\nHost: x\r\n\r\n")
            clientHasAnswer.signal()
            let second = try await offload { try client.readResponse() }
            #expect(second.text == "/second")
        }
    }
}

/// Blocks the calling thread (a handler's, on purpose) until `semaphore` is signalled or
/// `seconds` pass; true when signalled.
private func blockUntil(_ semaphore: DispatchSemaphore, seconds: Int) -> Bool {
    semaphore.wait(timeout: .now() + .seconds(seconds)) == .success
}
