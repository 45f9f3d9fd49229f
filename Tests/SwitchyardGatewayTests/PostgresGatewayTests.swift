import Foundation
import Glibc
import SwitchyardCore
import SwitchyardGateway
import SwitchyardTasks
import SwitchyardTestSupport
import Synchronization
import Testing

@testable import SwitchyardStore

/// The gateway on `store: {url_env: …}`: two gateways on one PostgreSQL schema share idempotency
/// records, stored conversations and tasks, and `/readyz` shows the database's reachability.
@Suite(.timeLimit(.minutes(2)))
struct PostgresGatewayTests {
    static func yaml(mockPort: Int) -> String {
        """
        \(smartModelYAML(mockPort: mockPort))
        store: {url_env: TEST_DATABASE_URL, lease_ms: 2000}
        """
    }

    /// Runs `body` with the URL of a fresh schema on the suite's server, dropped after a body that
    /// returned (a failed test leaves it for the server's removal, to be looked at).
    static func withSchema(_ body: (StoreURL) async throws -> Void) async throws {
        try #require(PostgresTestServer.enabled, "\(PostgresTestServer.reason ?? "")")
        let server = try PostgresTestServer.storeURL()
        let schema = "g_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try await body(try await PostgresStore.createScratchSchema(url: server, name: schema))
        try? await PostgresStore.dropScratchSchema(url: server, name: schema)
    }

    /// Two gateways on the schema at `url`, in front of the mock upstream at `mockPort`.
    static func twoGateways(mockPort: Int, url: StoreURL) async throws -> (GatewayHarness, GatewayHarness) {
        let environment = ["TEST_DATABASE_URL": url.value]
        let a = try await GatewayHarness.start(yaml: yaml(mockPort: mockPort), extraEnvironment: environment)
        do {
            return (a, try await GatewayHarness.start(yaml: yaml(mockPort: mockPort), extraEnvironment: environment))
        } catch {
            a.stop()
            throw error
        }
    }

    /// An idempotency key replayed on the other gateway gets the stored answer (one upstream
    /// call); a conversation started on A continues on B; a task created on A is B's to read.
    @Test func twoGatewaysOnOneDatabaseShareKeysConversationsAndTasks() async throws {
        try await Self.withSchema { url in
            let held = Mutex<MockGate?>(nil)
            let mock = try MockHTTPServer { request in
                var response = MockLLM().respond(request)
                if request.bodyText.contains("held upstream"), let gate = held.withLock({ $0 }) {
                    response.beforeHead = [.waitFor(gate)]
                }
                return response
            }
            let (a, b) = try await Self.twoGateways(mockPort: mock.port, url: url)
            defer {
                a.stop()
                b.stop()
                mock.stop()
            }
            #expect(a.server.storePath == url.location && !a.server.storePath.contains("/tmp/"))

            let chat = #"{"model":"smart","messages":[{"role":"user","content":"only once"}]}"#
            let key = [HeaderField("Idempotency-Key", "replica-key-1")]
            let first = try await a.chat(chat, headers: key)
            #expect(first.head.status == 200, "\(first.text)")
            let replayed = try await b.chat(chat, headers: key)
            #expect(replayed.head.status == 200, "\(replayed.text)")
            #expect(replayed.body == first.body, "the stored answer")
            #expect(replayed.header("x-switchyard-replayed") == "true")
            #expect(mock.requests.filter { $0.bodyText.contains("only once") }.count == 1, "one upstream call")

            // A duplicate on B while A's call still waits upstream waits for A's answer, as a duplicate
            // in one process does, instead of answering 409.
            let slow = #"{"model":"smart","messages":[{"role":"user","content":"held upstream"}]}"#
            let slowKey = [HeaderField("Idempotency-Key", "replica-key-2")]
            let gate = MockGate()
            held.withLock { $0 = gate }
            async let original = a.chat(slow, headers: slowKey)
            await mock.waitForRequests(2)
            async let duplicate = b.chat(slow, headers: slowKey)
            // B asks the store while A's claim is in flight before the gate opens (judged by B's log).
            try await b.waitForLog("idempotency key in flight elsewhere")
            gate.open()
            let (o, d) = try await (original, duplicate)
            #expect(o.head.status == 200 && d.head.status == 200, "\(d.text)")
            #expect(d.body == o.body && d.header("x-switchyard-replayed") == "true")
            #expect(mock.requests.filter { $0.bodyText.contains("held upstream") }.count == 1, "one upstream call")

            let turn = try await a.request("POST", "/v1/responses", body: #"{"model":"smart","input":"turn one"}"#)
            let turnID = try #require(turn.json?["id"]?.stringValue, "\(turn.text)")
            let next = try await b.request(
                "POST", "/v1/responses", body: #"{"model":"smart","input":"recap","previous_response_id":"\#(turnID)"}"#
            )
            #expect(next.head.status == 200, "\(next.text)")
            #expect(next.json?["previous_response_id"]?.stringValue == turnID)
            #expect(next.text.contains("turn one"), "\(next.text)")

            let created = try await a.request("POST", "/v1/tasks", body: taskBody([stepJSON("s", "a task")]))
            #expect(created.head.status == 202, "\(created.text)")
            let id = try #require(created.json?["id"]?.stringValue)
            let done = try await b.waitForTask(id) { $0["state"]?.stringValue == "completed" }
            #expect(done.step(0)?["attempts"] == 1)
            #expect(mock.requests.filter { $0.bodyText.contains("a task") }.count == 1)
            #expect(try await b.request("GET", "/readyz", key: nil).json?["store"]?["ok"] == true)
        }
    }

    /// Cancel, pause and resume through one gateway take effect on whichever runs the task: the
    /// cancel aborts the upstream call in flight there, the pause stops the task at its next step
    /// boundary, the resume has it finished.
    @Test func cancelPauseAndResumeFromEitherGatewayReachTheOneRunningTheTask() async throws {
        try await Self.withSchema { url in
            let llm = try GatedLLM()
            let (a, b) = try await Self.twoGateways(mockPort: llm.server.port, url: url)
            let never = llm.gate("never answered")
            let held = llm.gate("held a while")
            defer {
                never.open()
                held.open()
                a.stop()
                b.stop()
                llm.stop()
            }

            let created = try await a.request(
                "POST", "/v1/tasks", body: taskBody([stepJSON("slow", "never answered"), stepJSON("next", "x")]))
            let id = try #require(created.json?["id"]?.stringValue, "\(created.text)")
            await llm.server.waitForRequests(1)
            let cancelled = try await b.request("POST", "/v1/tasks/\(id)/cancel")
            #expect(cancelled.head.status == 200 && cancelled.json?.state == "cancelled", "\(cancelled.text)")
            try await within(30, "the upstream call to be aborted") { await llm.server.waitForClosedConnections(1) }
            #expect(!never.isOpen)
            #expect(llm.server.requestCount == 1, "the next step never starts")

            let second = try await b.request(
                "POST", "/v1/tasks",
                body: taskBody([stepJSON("one", "held a while"), stepJSON("two", "after the pause")]))
            let secondID = try #require(second.json?["id"]?.stringValue, "\(second.text)")
            await llm.server.waitForRequests(2)
            let paused = try await a.request("POST", "/v1/tasks/\(secondID)/pause")
            #expect(paused.json?.state == "paused", "\(paused.text)")
            held.open()
            let kept = try await a.waitForTask(secondID) { $0.step(0)?["state"] == "completed" }
            #expect(kept.state == "paused", "the step in flight is kept, the next one waits")
            #expect(llm.requests(containing: "after the pause").isEmpty)
            let resumed = try await a.request("POST", "/v1/tasks/\(secondID)/resume")
            #expect(resumed.head.status == 200, "\(resumed.text)")
            let done = try await b.waitForTask(secondID) { $0.state == "completed" }
            #expect(done.step(0)?["attempts"] == 1 && done.step(1)?["attempts"] == 1)
            #expect(llm.requests(containing: "after the pause").count == 1)
        }
    }

    /// A task's event stream follows it live on both gateways, whichever of them runs it: the one
    /// that does not is woken by the other's commits (the store's notifications).
    @Test func aTaskEventStreamFollowsTheTaskOnEveryGateway() async throws {
        try await Self.withSchema { url in
            let llm = try GatedLLM()
            let (a, b) = try await Self.twoGateways(mockPort: llm.server.port, url: url)
            let gate = llm.gate("watched")
            defer {
                gate.open()
                a.stop()
                b.stop()
                llm.stop()
            }
            let created = try await a.request(
                "POST", "/v1/tasks", body: taskBody([stepJSON("a", "watched"), stepJSON("b", "{{steps.a.output}}!")]))
            let id = try #require(created.json?["id"]?.stringValue, "\(created.text)")
            await llm.server.waitForRequests(1)
            let streams = [try await a.events(id), try await b.events(id)]
            for stream in streams {
                _ = try await within(30, "the history so far") { try await stream.collect(until: "step_attempt") }
            }
            gate.open()
            for stream in streams {
                let live = try await within(30, "live events on both gateways") {
                    try await stream.collect(until: "completed")
                }
                #expect(
                    live.map(\.event) == [
                        "step_completed", "checkpoint", "step_attempt", "step_completed", "completed",
                    ])
            }
        }
    }

    /// `switchyard tasks` on `store: {url_env: …}`: lists the tasks a running gateway holds in the
    /// database, and its cancel aborts that gateway's upstream call in flight.
    @Test func theTasksCommandWorksOnTheSharedDatabase() async throws {
        let binary = try #require(SwitchyardProcess.binaryPath(), "build the switchyard executable first")
        try await Self.withSchema { url in
            let llm = try GatedLLM()
            let yaml = Self.yaml(mockPort: llm.server.port)
            let h = try await GatewayHarness.start(yaml: yaml, extraEnvironment: ["TEST_DATABASE_URL": url.value])
            let gate = llm.gate("never answered")
            let config = temporaryStorePath("pg-cli").replacingOccurrences(of: ".db", with: ".yaml")
            try yaml.write(toFile: config, atomically: true, encoding: .utf8)
            defer {
                unlink(config)
                gate.open()
                h.stop()
                llm.stop()
            }
            func cli(_ arguments: String...) async throws -> (Int32, String) {
                let p = try SwitchyardProcess(
                    path: binary, arguments: ["tasks"] + arguments + ["--config", config, "--owner", "tests"],
                    environment: ["TEST_DATABASE_URL": url.value], captureStdout: true)
                return (await p.exitCode(), p.stderr)
            }
            let created = try await h.request("POST", "/v1/tasks", body: taskBody([stepJSON("slow", "never answered")]))
            let id = try #require(created.json?["id"]?.stringValue, "\(created.text)")
            await llm.server.waitForRequests(1)

            let (listed, table) = try await cli("list")
            #expect(listed == 0 && table.contains(id), "\(table)")
            let (code, output) = try await cli("cancel", id)
            #expect(code == 0 && output.contains(#""state":"cancelled""#), "\(output)")
            try await within(30, "the gateway to abort its call") { await llm.server.waitForClosedConnections(1) }
            #expect(try await h.task(id).json?.state == "cancelled")
            #expect(
                !table.contains(url.value) && !output.contains(url.value),
                "the URL (with its password) is never printed")
        }
    }

    /// The database going away shows in `/readyz`'s store detail without a write; readiness stays
    /// (chat needs no store), and nothing shows the URL's password.
    @Test func anUnreachableDatabaseShowsInReadyz() async throws {
        try #require(PostgresTestServer.enabled, "\(PostgresTestServer.reason ?? "")")
        // A server of this test's own, stopped by its watcher once `sleep` (its life line) is killed.
        // (posix_spawn, not Foundation's Process: see LifeLine.)
        let lifeline = try LifeLine()
        defer { lifeline.kill() }
        let url = try PostgresTestServer.startServer(watching: lifeline.pid).get()
        let mock = try MockHTTPServer { MockLLM().respond($0) }
        let h = try await GatewayHarness.start(
            yaml: Self.yaml(mockPort: mock.port), extraEnvironment: ["TEST_DATABASE_URL": url])
        defer {
            h.stop()
            mock.stop()
        }
        let up = try await h.request("GET", "/readyz", key: nil)
        #expect(up.head.status == 200 && up.json?["store"]?["ok"] == true, "\(up.text)")

        lifeline.kill()
        let down = try await within(60, "the outage to show in /readyz") {
            while true {
                let r = try await h.request("GET", "/readyz", key: nil)
                if r.json?["store"]?["ok"] == false { return r }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        #expect(down.head.status == 200, "the store is detail, not readiness")
        #expect(down.json?["store"]?["error"] == "unavailable", "\(down.text)")
        // postgres://USER:PASSWORD@HOST…
        let credentials = try #require(url.split(separator: "@").first?.split(separator: ":").last)
        let password = String(credentials)
        #expect(password.count >= 8)
        #expect(!down.text.contains(password))
        #expect(!h.logs.captured.contains(password))
    }
}
