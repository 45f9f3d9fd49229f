import Prometheus
import SwitchyardCore
import SwitchyardEdge
import SwitchyardTasks

extension Gateway {
    /// `GET /v1/tasks/{id}/events`: the task's history as SSE, then live events until the task is
    /// terminal, then the stream closes. Each event is `id: <seq>`, `event: <name>`, `data: {...}`;
    /// a client that reconnects with `Last-Event-ID` (or `?after=<seq>`) gets what followed.
    ///
    /// Live delivery is a wake-up from the runtime after each commit (`TaskEventHub`); the stream
    /// then reads the new history rows from the store, so the order is the store's `seq` order and
    /// nothing is skipped. On an SQLite store, changes made by another process (`switchyard tasks
    /// pause`) show up when this process next commits for the task; on a PostgreSQL store every
    /// process's commits wake the stream (the store's notifications), so a stream opened on one
    /// replica follows a task another one runs. Draining the gateway ends open streams.
    func streamTaskEvents(_ c: EndpointCall, _ service: TaskService) async throws(StoreError) -> Int {
        let (request, responder, id, owner, requestID) = (c.request, c.responder, c["id"], c.keyName, c.requestID)
        let snapshot = try await service.task(id: id, owner: owner)
        var last = Int64(request.headers["last-event-id"] ?? Self.queryItems(request.query)["after"] ?? "0") ?? 0
        let wakeUps = service.changes(of: id)
        let writer = responder.startStream(
            status: 200,
            headers: ["Content-Type": "text/event-stream", "Cache-Control": "no-cache", "x-request-id": requestID])
        metrics.openStreams.increment()
        defer {
            metrics.openStreams.decrement()
            writer.finish()
        }
        /// Sends the history after `last`; true when the stream should end (terminal or client gone).
        func flush() async -> Bool {
            while true {
                let after = last
                let events: [HistoryEvent]
                do {
                    events = try await service.events(id: id, owner: owner, after: after, limit: 500)
                } catch {
                    return true
                }
                var terminal = false
                for event in events {
                    let (name, payload) = TaskRendering.event(event)
                    var frame = Array("id: \(event.seq)\nevent: \(name)\ndata: ".utf8)
                    payload.write(to: &frame)
                    frame += [0x0A, 0x0A]
                    guard writer.write(frame) else { return true }
                    last = event.seq
                    terminal = terminal || TaskRendering.isTerminal(event)
                }
                if terminal { return true }
                if events.count < 500 { return false }
            }
        }
        if await flush() || snapshot.task.state.isTerminal { return 200 }
        for await _ in wakeUps {
            if await flush() { return 200 }
        }
        return 200
    }
}
