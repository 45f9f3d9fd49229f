import Foundation
import Glibc
import SwitchyardCore
import SwitchyardTestSupport
import SwitchyardUpstream
import Testing

/// `switchyard tasks …` (the real binary) against a running `switchyard serve` (the real binary
/// too) on the same store: the CLI's pause, resume and cancel reach the server with the API's
/// semantics.
@Suite struct TasksCLITests {
    /// A `switchyard serve` child on a fresh store in front of a gated mock, and the CLI next to it.
    final class Rig: Sendable {
        let binary: String
        let llm: GatedLLM
        let files: TaskProcessConfig
        let config: String
        let server: SwitchyardProcess
        let base: String
        let client: CurlUpstream
        /// The store's URL variable when it is a scratch schema (`TestStore`); the CLI gets it too.
        let storeEnvironment: [String: String]

        init() async throws {
            binary = try #require(SwitchyardProcess.binaryPath(), "build the switchyard executable first")
            llm = try GatedLLM()
            let files = try await TaskProcessConfig(label: "cli", mockPort: llm.server.port)
            self.files = files
            config = files.path
            storeEnvironment = files.storeEnvironment
            server = try SwitchyardProcess(
                path: binary, arguments: ["serve", "--config", config],
                environment: ["TEST_CLIENT_KEY": TestSecrets.client, "TEST_PROVIDER_KEY": TestSecrets.provider]
                    .merging(storeEnvironment) { a, _ in a })
            client = try CurlUpstream()
            base = "http://127.0.0.1:\(try await server.port())"
        }

        func stop() {
            server.kill(SIGTERM)
            client.shutdown()
            llm.stop()
            files.remove()
        }

        @Sendable func call(_ method: String, _ path: String, _ body: String = "") async throws -> UpstreamResponse {
            try await client.perform(
                UpstreamRequest(
                    method: method, url: base + path,
                    headers: [
                        HeaderField("Authorization", "Bearer \(TestSecrets.client)"),
                        HeaderField("Content-Type", "application/json"),
                    ],
                    body: Array(body.utf8), timeout: .seconds(10)))
        }

        /// Polls `GET /v1/tasks/{id}` until `done` holds.
        func poll(_ id: String, _ what: String, until done: @escaping @Sendable (JSON) -> Bool) async throws -> JSON {
            try await within(30, what) {
                while true {
                    if let json = try? await self.call("GET", "/v1/tasks/\(id)").json, done(json) { return json }
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
        }

        /// Runs `switchyard tasks ARGS --config … --owner tests` (no keys in its environment, only
        /// a scratch schema's URL); returns its exit code and its stdout + stderr.
        func cli(_ arguments: String...) async throws -> (Int32, String) {
            let p = try SwitchyardProcess(
                path: binary, arguments: ["tasks"] + arguments + ["--config", config, "--owner", "tests"],
                environment: storeEnvironment, captureStdout: true)
            let code = await p.exitCode()
            return (code, p.stderr)
        }

        func create(_ steps: [JSON]) async throws -> String {
            let created = try await call("POST", "/v1/tasks", taskBody(steps))
            #expect(created.head.status == 202, "\(created.text)")
            return try #require(created.json?["id"]?.stringValue)
        }
    }

    @Test func cliPauseKeepsTheStepInFlightAndCliResumeContinuesOnTheRunningServer() async throws {
        let rig = try await Rig()
        defer { rig.stop() }
        let prompt = "paused from the cli"
        let gate = rig.llm.gate(prompt)
        defer { gate.open() }
        let id = try await rig.create([stepJSON("one", prompt), stepJSON("two", "{{steps.one.output}}")])
        await rig.llm.server.waitForRequests(1)

        let (code, output) = try await rig.cli("pause", id)
        #expect(code == 0, "\(output)")
        #expect(output.contains(#""state":"paused""#))

        // The step's answer arrives after the pause: checkpointed on the paused task, not dropped.
        gate.open()
        let paused = try await rig.poll(id, "the checkpoint of the step in flight") {
            $0.step(0)?["state"] == "completed"
        }
        #expect(paused.state == "paused")
        #expect(paused.step(0)?["output"] == .string("Hello from the mock: \(prompt)"))
        #expect(paused.step(1)?["state"] == "pending")
        #expect(!rig.server.stderr.contains("step result dropped"))

        let (again, refusal) = try await rig.cli("pause", id)
        #expect(again == 1)
        #expect(refusal.contains("cannot pause a task that is paused"))

        // A resume from the CLI is picked up by the running server: no restart, no API call.
        let (resumed, resumeOutput) = try await rig.cli("resume", id)
        #expect(resumed == 0, "\(resumeOutput)")
        let done = try await rig.poll(id, "the task to complete after the CLI resume") { $0.state == "completed" }
        #expect(done.step(0)?["attempts"] == 1)
        #expect(done.step(1)?["output"] == .string("Hello from the mock: Hello from the mock: \(prompt)"))
        // Step one went upstream exactly once (step two's body quotes its output, not its prompt).
        #expect(rig.llm.requests(containing: #""content":"\#(prompt)""#).count == 1)
        #expect(rig.llm.server.requestCount == 2)

        let (listed, table) = try await rig.cli("list")
        #expect(listed == 0)
        #expect(table.contains("\(id)\tcompleted\twriter\t2/2"))
        let (shown, json) = try await rig.cli("show", id)
        #expect(shown == 0)
        #expect((try? JSON.parse(json))?["id"] == .string(id))
        #expect(try await rig.cli("show", "task_missing").0 == 1)
        #expect(!rig.server.stderr.contains(TestSecrets.client))
        #expect(!rig.server.stderr.contains(TestSecrets.provider))
    }

    @Test func cliCancelAbortsTheRunningServersCallInFlight() async throws {
        let rig = try await Rig()
        defer { rig.stop() }
        let gate = rig.llm.gate("never answered")
        defer { gate.open() }
        let id = try await rig.create([stepJSON("slow", "never answered"), stepJSON("next", "x")])
        await rig.llm.server.waitForRequests(1)

        let (code, output) = try await rig.cli("cancel", id)
        #expect(code == 0, "\(output)")
        #expect(output.contains(#""state":"cancelled""#))
        // The server notices the other process's commit and aborts the upstream call it holds.
        try await within(30, "the upstream connection to close") { await rig.llm.server.waitForClosedConnections(1) }
        #expect(!gate.isOpen)
        let cancelled = try #require(try await rig.call("GET", "/v1/tasks/\(id)").json)
        #expect(cancelled.state == "cancelled")
        #expect(cancelled.step(0)?["state"] == "cancelled")
        #expect(rig.llm.server.requestCount == 1)
    }

    /// A client following the task's events on the server sees a CLI cancel and its stream ends:
    /// the server's watch of the store wakes every open stream, which reads the new history.
    @Test func cliCancelEndsTheServersOpenEventStream() async throws {
        let rig = try await Rig()
        defer { rig.stop() }
        let gate = rig.llm.gate("never answered")
        defer { gate.open() }
        let id = try await rig.create([stepJSON("slow", "never answered")])
        await rig.llm.server.waitForRequests(1)
        let response = try await rig.client.stream(
            UpstreamRequest(
                method: "GET", url: rig.base + "/v1/tasks/\(id)/events",
                headers: [HeaderField("Authorization", "Bearer \(TestSecrets.client)")], body: [], timeout: .seconds(60)
            ))
        let stream = SSEReader(response)
        _ = try await within(30, "the history so far") { try await stream.collect(until: "step_attempt") }

        let (code, output) = try await rig.cli("cancel", id)
        #expect(code == 0, "\(output)")
        let rest = try await within(30, "the cancellation on the open stream, then its end") {
            try await stream.drain()
        }
        #expect(rest.map(\.event).contains("cancelled"), "\(rest.map(\.event))")
    }

    /// A fresh install (a new container volume): no server has created the store yet. The CLI lists
    /// nothing, finds no task, and does not create a store itself.
    @Test func cliOnAStoreNoServerHasCreatedYet() async throws {
        let binary = try #require(SwitchyardProcess.binaryPath(), "build the switchyard executable first")
        let store = temporaryStorePath("cli-fresh")
        let config = store.replacingOccurrences(of: ".db", with: ".yaml")
        defer {
            unlink(config)
            removeStore(store)
        }
        try "store: {path: \"\(store)\"}\n".write(toFile: config, atomically: true, encoding: .utf8)
        func cli(_ arguments: String...) async throws -> (Int32, String) {
            let p = try SwitchyardProcess(
                path: binary, arguments: ["tasks"] + arguments + ["--config", config], environment: [:],
                captureStdout: true)
            return (await p.exitCode(), p.stderr)
        }
        let (listed, table) = try await cli("list")
        #expect(listed == 0, "\(table)")
        #expect(table.contains("ID\tSTATE\tAGENT\tSTEPS\tUPDATED"))
        #expect(table.contains("no task store at \(store) yet"))
        let (json, list) = try await cli("list", "--json")
        #expect(json == 0)
        #expect(list.contains(#"{"object":"list","data":[],"has_more":false,"first_id":null,"last_id":null}"#))
        let (shown, missing) = try await cli("show", "task_x")
        #expect(shown == 1)
        #expect(missing.contains("no such task"))
        #expect(try await cli("cancel", "task_x").0 == 1)
        #expect(access(store, F_OK) != 0, "the CLI created a store")
    }
}
