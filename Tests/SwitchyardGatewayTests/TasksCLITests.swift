import Foundation
import SwitchyardCore
import SwitchyardTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `switchyard tasks …` (the real binary) against the store of a running in-process gateway.
@Suite struct TasksCLITests {
    @Test func cliPauseTakesEffectAtTheNextStepBoundaryOfARunningServer() async throws {
        let binary = try #require(SwitchyardProcess.binaryPath(), "build the switchyard executable first")
        let llm = try GatedLLM()
        defer { llm.stop() }
        let gate = llm.gate("paused from the cli")
        defer { gate.open() }
        let store = temporaryStorePath("cli")
        let h = try startTaskGateway(mock: llm.server, storePath: store)
        defer { h.stop() }
        let config = store.replacingOccurrences(of: ".db", with: ".yaml")
        defer { unlink(config) }
        try "store: {path: \"\(store)\"}\n".write(toFile: config, atomically: true, encoding: .utf8)
        func cli(_ arguments: String...) async throws -> (Int32, String) {
            let p = try SwitchyardProcess(
                path: binary, arguments: ["tasks"] + arguments + ["--config", config, "--owner", "tests"],
                environment: [:], captureStdout: true)
            let code = await p.exitCode()
            return (code, p.stderr)
        }

        let created = try await h.request(
            "POST", "/v1/tasks",
            body: taskBody([stepJSON("one", "paused from the cli"), stepJSON("two", "{{steps.one.output}}")]))
        let id = try #require(created.json?["id"]?.stringValue)
        await llm.server.waitForRequests(1)

        let (code, output) = try await cli("pause", id)
        #expect(code == 0, "\(output)")
        #expect(output.contains(#""state":"paused""#))
        gate.open()
        // The server's step result arrives after the pause: it is dropped, the step waits for resume.
        try await h.waitForLog("step result dropped")
        let paused = try #require(try await h.task(id).json)
        #expect(paused.state == "paused")
        #expect(paused.step(0)?["state"] == "pending")
        #expect(llm.server.requestCount == 1)

        let (again, refusal) = try await cli("pause", id)
        #expect(again == 1)
        #expect(refusal.contains("cannot pause a task that is paused"))

        #expect(try await h.request("POST", "/v1/tasks/\(id)/resume").head.status == 200)
        let done = try await h.waitForTask(id) { $0.state == "completed" }
        #expect(done.step(0)?["attempts"] == 2)
        let (listed, table) = try await cli("list")
        #expect(listed == 0)
        #expect(table.contains("\(id)\tcompleted\twriter\t2/2"))
        let (shown, json) = try await cli("show", id)
        #expect(shown == 0)
        #expect((try? JSON.parse(json))?["id"] == .string(id))
        #expect(try await cli("show", "task_missing").0 == 1)
    }
}
