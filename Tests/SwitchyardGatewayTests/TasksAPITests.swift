import Glibc
import SwitchyardCore
import SwitchyardGateway
import SwitchyardTestSupport
import SwitchyardUpstream
import Testing

/// The Tasks API against a real gateway on port 0 and a gated mock upstream.
@Suite struct TasksAPITests {
    @Test func stepsRunInOrderWithEarlierOutputsSubstituted() async throws {
        try await withTaskGateway { h, llm in
            let created = try await h.request(
                "POST", "/v1/tasks",
                body: taskBody([
                    stepJSON("outline", "outline please"),
                    stepJSON("draft", "Expand: {{steps.outline.output}}"),
                ]))
            #expect(created.head.status == 202, "\(created.text)")
            let task = try #require(created.json)
            #expect(task["object"] == "task")
            #expect(task["agent"] == "writer")
            #expect(task["metadata"] == ["ticket": "T-1"])
            #expect(task["steps"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["outline", "draft"])
            let id = try #require(task["id"]?.stringValue)

            let done = try await h.waitForTask(id) { $0.state == "completed" }
            let outline = try #require(done.step(0))
            #expect(outline["state"] == "completed")
            #expect(outline["attempts"] == 1)
            #expect(outline["provider"] == "openai")
            #expect(outline["model"] == "gpt-4o-mini")
            #expect(outline["output"] == "Hello from the mock: outline please")
            #expect(outline["response"]?["object"] == "chat.completion")
            #expect(outline["usage"]?["total_tokens"]?.intValue ?? 0 > 0)
            #expect(outline["error"] == .null)
            #expect(done.step(1)?["output"] == "Hello from the mock: Expand: Hello from the mock: outline please")
            #expect(llm.server.requestCount == 2)
            #expect(llm.requests(containing: "Expand: Hello from the mock: outline please").count == 1)

            let metrics = try await h.request("GET", "/metrics", key: nil).text
            #expect(metrics.contains(#"switchyard_tasks{state="completed"} 1"#))
            #expect(metrics.contains(#"switchyard_tasks{state="executing"} 0"#))
            #expect(metrics.contains("switchyard_checkpoint_commit_seconds_count"))

            // No configured secret in the task as served, nor in the database.
            let served = try await h.task(id).text
            let stored = try TestStore.contents(try #require(h.storeKey))
            #expect(stored.contains("outline please"), "the search covers the stored task")
            for secret in [TestSecrets.client, TestSecrets.provider, OtherKey.secret] {
                #expect(!served.contains(secret))
                #expect(!stored.contains(secret))
            }
        }
    }

    struct BadTask: Sendable, CustomTestStringConvertible {
        var name: String
        var body: String
        var param: String
        var code: String?
        var testDescription: String { name }
    }

    static let badTasks: [BadTask] = [
        BadTask(name: "no steps", body: #"{"agent":"a"}"#, param: "steps", code: "missing_required_parameter"),
        BadTask(name: "empty steps", body: #"{"steps":[]}"#, param: "steps"),
        BadTask(name: "unknown field", body: #"{"steps":[],"priority":1}"#, param: "priority"),
        BadTask(
            name: "bad messages in step 1",
            body: taskBody([stepJSON("a", "x"), ["id": "b", "request": ["model": "smart", "messages": "nope"]]]),
            param: "steps[1].request.messages", code: "invalid_type"),
        BadTask(
            name: "unknown model", body: taskBody([stepJSON("a", "x", model: "no-such-model")]),
            param: "steps[0].request.model", code: "model_not_found"),
        BadTask(
            name: "streaming step",
            body: taskBody([
                [
                    "id": "a",
                    "request": ["model": "smart", "stream": true, "messages": [["role": "user", "content": "x"]]],
                ]
            ]),
            param: "steps[0].request.stream"),
        BadTask(
            name: "forward reference", body: taskBody([stepJSON("a", "{{steps.b.output}}"), stepJSON("b", "x")]),
            param: "steps[0].request.messages[0].content", code: "invalid_step_reference"),
        BadTask(
            name: "unknown reference", body: taskBody([stepJSON("a", "x"), stepJSON("b", "{{steps.zzz.output}}")]),
            param: "steps[1].request.messages[0].content", code: "invalid_step_reference"),
        BadTask(
            name: "malformed reference", body: taskBody([stepJSON("a", "x"), stepJSON("b", "{{steps.a.text}}")]),
            param: "steps[1].request.messages[0].content", code: "invalid_step_reference"),
        BadTask(name: "duplicate id", body: taskBody([stepJSON("a", "x"), stepJSON("a", "y")]), param: "steps[1].id"),
        BadTask(name: "bad id", body: taskBody([stepJSON("a b", "x")]), param: "steps[0].id"),
    ]

    @Test(arguments: badTasks)
    func invalidTasksAreRejectedNamingStepAndField(_ c: BadTask) async throws {
        try await withTaskGateway { h, llm in
            let r = try await h.request("POST", "/v1/tasks", body: c.body)
            #expect(r.head.status == 400, "\(r.text)")
            #expect(r.json?["error"]?["param"] == .string(c.param), "\(r.text)")
            #expect(r.json?["error"]?["type"] == "invalid_request_error")
            if let code = c.code { #expect(r.json?["error"]?["code"] == .string(code)) }
            let list = try await h.request("GET", "/v1/tasks")
            #expect(list.json?["data"] == [])
            #expect(llm.server.requestCount == 0)
        }
    }

    @Test func listIsNewestFirstFilteredAndPaginated() async throws {
        try await withTaskGateway { h, _ in
            var ids: [String] = []
            for (i, agent) in ["alpha", "beta", "alpha"].enumerated() {
                let r = try await h.request("POST", "/v1/tasks", body: taskBody([stepJSON("s", "n\(i)")], agent: agent))
                ids.append(try #require(r.json?["id"]?.stringValue))
            }
            for id in ids { _ = try await h.waitForTask(id) { $0.state == "completed" } }
            let first = try #require(try await h.request("GET", "/v1/tasks?limit=2").json)
            #expect(first["object"] == "list")
            #expect(first["data"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == [ids[2], ids[1]])
            #expect(first["has_more"] == true)
            #expect(first["first_id"] == .string(ids[2]))
            #expect(first["last_id"] == .string(ids[1]))
            #expect(first["data"]?.arrayValue?.first?["steps"]?.arrayValue?.count == 1)
            let second = try #require(try await h.request("GET", "/v1/tasks?limit=2&after=\(ids[1])").json)
            #expect(second["data"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == [ids[0]])
            #expect(second["has_more"] == false)
            let alpha = try await h.request("GET", "/v1/tasks?agent=alpha&state=completed").json
            #expect(alpha?["data"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == [ids[2], ids[0]])
            #expect(try await h.request("GET", "/v1/tasks?state=paused").json?["data"] == [])
            let bad = try await h.request("GET", "/v1/tasks?state=sleeping")
            #expect(bad.head.status == 400)
            #expect(bad.json?["error"]?["param"] == "state")
            #expect(try await h.request("GET", "/v1/tasks?limit=0").head.status == 400)
            #expect(try await h.request("GET", "/v1/tasks?after=task_nope").head.status == 400)
        }
    }

    @Test func tasksAreInvisibleToOtherKeys() async throws {
        try await withTaskGateway { h, llm in
            let gate = llm.gate("isolated")
            defer { gate.open() }
            let r = try await h.request("POST", "/v1/tasks", body: taskBody([stepJSON("s", "isolated")]))
            let id = try #require(r.json?["id"]?.stringValue)
            for (method, path) in [
                ("GET", "/v1/tasks/\(id)"), ("POST", "/v1/tasks/\(id)/pause"), ("POST", "/v1/tasks/\(id)/resume"),
                ("POST", "/v1/tasks/\(id)/cancel"), ("GET", "/v1/tasks/\(id)/events"),
            ] {
                let other = try await h.request(method, path, key: OtherKey.secret)
                #expect(other.head.status == 404, "\(method) \(path): \(other.text)")
                #expect(other.json?["error"]?["code"] == "not_found")
            }
            #expect(try await h.request("GET", "/v1/tasks", key: OtherKey.secret).json?["data"] == [])
            #expect(try await h.request("GET", "/v1/tasks/\(id)", key: nil).head.status == 401)
            #expect(try await h.task(id).json?.state == "executing")
        }
    }

    @Test func pauseAnswersAtOnceAndKeepsTheStepInFlightThenResumeAndCancelFollowTheMachine() async throws {
        try await withTaskGateway { h, llm in
            let gate = llm.gate("first step")
            defer { gate.open() }
            let r = try await h.request(
                "POST", "/v1/tasks",
                body: taskBody([stepJSON("one", "first step"), stepJSON("two", "then {{steps.one.output}}")]))
            let id = try #require(r.json?["id"]?.stringValue)
            await llm.server.waitForRequests(1)

            // The gate is still closed: the pause answers without waiting for the step to end.
            let pause = try await h.request("POST", "/v1/tasks/\(id)/pause")
            #expect(pause.head.status == 200, "\(pause.text)")
            #expect(pause.json?.state == "paused")
            #expect(pause.json?.step(0)?["state"] == "running")
            #expect(pause.json?.step(1)?["state"] == "pending")
            #expect(!gate.isOpen)

            let again = try await h.request("POST", "/v1/tasks/\(id)/pause")
            #expect(again.head.status == 409)
            #expect(again.json?["error"]?["code"] == "invalid_state_transition")
            #expect(again.json?["error"]?["type"] == "invalid_request_error")
            #expect(again.json?["error"]?["message"] == "cannot pause a task that is paused")

            // The step's answer arrives after the pause: it is checkpointed, the task stays paused.
            gate.open()
            let kept = try await h.waitForTask(id, "the checkpoint on the paused task") {
                $0.step(0)?["state"] == "completed"
            }
            #expect(kept.state == "paused")
            #expect(kept.step(0)?["output"] == "Hello from the mock: first step")
            #expect(kept.step(1)?["state"] == "pending")
            #expect(kept.step(1)?["attempts"] == 0)
            #expect(llm.server.requestCount == 1)
            #expect(!h.logs.captured.contains("step result dropped"))

            let resumed = try await h.request("POST", "/v1/tasks/\(id)/resume")
            #expect(resumed.head.status == 200)
            #expect(resumed.json?.state == "executing")
            let done = try await h.waitForTask(id) { $0.state == "completed" }
            #expect(done.step(0)?["attempts"] == 1)
            #expect(done.step(1)?["output"] == "Hello from the mock: then Hello from the mock: first step")
            #expect(llm.server.requestCount == 2)

            for action in ["pause", "resume", "cancel"] {
                let late = try await h.request("POST", "/v1/tasks/\(id)/\(action)")
                #expect(late.head.status == 409)
                #expect(late.json?["error"]?["message"] == .string("cannot \(action) a task that is completed"))
            }
            #expect(try await h.request("GET", "/v1/tasks/\(id)/pause").head.status == 405)
        }
    }

    @Test func resumeWhileThePausedStepIsStillInFlightGoesOnAfterItsCheckpoint() async throws {
        try await withTaskGateway { h, llm in
            let gate = llm.gate("held step")
            defer { gate.open() }
            let r = try await h.request(
                "POST", "/v1/tasks", body: taskBody([stepJSON("one", "held step"), stepJSON("two", "next step")]))
            let id = try #require(r.json?["id"]?.stringValue)
            await llm.server.waitForRequests(1)
            #expect(try await h.request("POST", "/v1/tasks/\(id)/pause").json?.state == "paused")
            let resumed = try await h.request("POST", "/v1/tasks/\(id)/resume")
            #expect(resumed.json?.state == "executing")
            #expect(resumed.json?.step(0)?["state"] == "running")
            gate.open()
            let done = try await h.waitForTask(id) { $0.state == "completed" }
            #expect(done.step(0)?["attempts"] == 1)
            #expect(done.step(1)?["output"] == "Hello from the mock: next step")
            #expect(llm.requests(containing: "held step").count == 1)
            #expect(llm.server.requestCount == 2)
        }
    }

    @Test func pausingDuringTheLastStepKeepsItsResultAndCompletesTheTask() async throws {
        try await withTaskGateway { h, llm in
            let gate = llm.gate("only step")
            defer { gate.open() }
            let r = try await h.request("POST", "/v1/tasks", body: taskBody([stepJSON("one", "only step")]))
            let id = try #require(r.json?["id"]?.stringValue)
            await llm.server.waitForRequests(1)
            #expect(try await h.request("POST", "/v1/tasks/\(id)/pause").json?.state == "paused")
            gate.open()
            // Nothing is left to hold back: the checkpoint of the last step completes the task.
            let done = try await h.waitForTask(id) { $0.state == "completed" }
            #expect(done.step(0)?["output"] == "Hello from the mock: only step")
            #expect(llm.server.requestCount == 1)
        }
    }

    @Test func cancelAbortsTheInFlightCall() async throws {
        try await withTaskGateway { h, llm in
            let gate = llm.gate("never answered")
            defer { gate.open() }
            let r = try await h.request(
                "POST", "/v1/tasks", body: taskBody([stepJSON("slow", "never answered"), stepJSON("next", "x")]))
            let id = try #require(r.json?["id"]?.stringValue)
            await llm.server.waitForRequests(1)
            let cancelled = try await h.request("POST", "/v1/tasks/\(id)/cancel")
            #expect(cancelled.head.status == 200)
            #expect(cancelled.json?.state == "cancelled")
            #expect(cancelled.json?.step(0)?["state"] == "cancelled")
            #expect(cancelled.json?.step(1)?["state"] == "cancelled")
            // The upstream sees its connection close while it still holds the response back.
            try await within(30, "the upstream connection to close") { await llm.server.waitForClosedConnections(1) }
            #expect(!gate.isOpen)
            #expect(llm.server.requestCount == 1)
            #expect(try await h.task(id).json?.state == "cancelled")
            #expect(try await h.request("POST", "/v1/tasks/\(id)/resume").head.status == 409)
        }
    }

    @Test func eventsStreamHistoryThenLiveUntilTerminal() async throws {
        try await withTaskGateway { h, llm in
            let gate = llm.gate("watched")
            let r = try await h.request(
                "POST", "/v1/tasks", body: taskBody([stepJSON("a", "watched"), stepJSON("b", "{{steps.a.output}}!")]))
            let id = try #require(r.json?["id"]?.stringValue)
            await llm.server.waitForRequests(1)

            let stream = try await h.events(id)
            #expect(stream.status == 200)
            #expect(stream.headers.value(for: "content-type") == "text/event-stream")
            let history = try await within(30, "history") { try await stream.collect(until: "step_attempt") }
            #expect(
                history.map(\.event) == ["state_changed", "state_changed", "started", "state_changed", "step_attempt"])
            #expect(history.last?.data["data"]?["step_id"] == "a")
            #expect(history.last?.data["task_id"] == .string(id))

            gate.open()
            let live = try await within(30, "live events") {
                var frames = try await stream.collect(until: "completed")
                if let extra = try await stream.next() { frames.append(extra) }  // nil: the server closed the stream
                return frames
            }
            #expect(
                live.map(\.event) == [
                    "step_completed", "checkpoint", "step_attempt", "step_completed", "completed",
                ])
            let ids = (history + live).compactMap(\.id)
            #expect(ids == Array(1...Int64(ids.count)))

            // A finished task replays its whole history and closes; Last-Event-ID resumes after it.
            let replay = try await h.events(id)
            let all = try await within(30, "replay") { try await replay.drain() }
            #expect(all.count == ids.count)
            let resumed = try await h.events(id, lastEventID: String(ids.count - 1))
            let tail = try await within(30, "tail") { try await resumed.drain() }
            #expect(tail.map(\.event) == ["completed"])
        }
    }
}

/// A file's bytes as text ("" when missing), for leak checks.
func fileText(_ path: String) -> String {
    guard let f = fopen(path, "rb") else { return "" }
    defer { fclose(f) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&buffer, 1, buffer.count, f)
        if n <= 0 { break }
        bytes += buffer[0..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
}
