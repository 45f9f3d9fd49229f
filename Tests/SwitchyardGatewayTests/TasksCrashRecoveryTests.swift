import Foundation
import Glibc
import SwitchyardCore
import SwitchyardTestSupport
import SwitchyardUpstream
import Testing

/// The acceptance test of durable tasks: the real `switchyard` binary, SIGKILLed twice under a
/// 3-step task, restarted on the same store each time.
@Suite struct TasksCrashRecoveryTests {
    static let outlineText = "Outline the launch plan"

    @Test func taskSurvivesTwoKillsWithoutResendingACheckpointedStep() async throws {
        let binary = try #require(SwitchyardProcess.binaryPath(), "build the switchyard executable first")
        let llm = try GatedLLM()
        defer { llm.stop() }
        let draftGate = llm.gate("Expand:")
        defer { draftGate.open() }
        let files = try await TaskProcessConfig(label: "e2e", mockPort: llm.server.port, workers: 2)
        defer { files.remove() }
        let config = files.path
        let environment = ["TEST_CLIENT_KEY": TestSecrets.client, "TEST_PROVIDER_KEY": TestSecrets.provider].merging(
            files.storeEnvironment
        ) { a, _ in a }
        let client = try CurlUpstream()
        defer { client.shutdown() }

        func start() async throws -> (SwitchyardProcess, String) {
            let process = try SwitchyardProcess(
                path: binary, arguments: ["serve", "--config", config], environment: environment)
            return (process, "http://127.0.0.1:\(try await process.port())")
        }
        @Sendable func call(_ method: String, _ url: String, _ body: String = "") async throws -> UpstreamResponse {
            try await client.perform(
                UpstreamRequest(
                    method: method, url: url,
                    headers: [
                        HeaderField("Authorization", "Bearer \(TestSecrets.client)"),
                        HeaderField("Content-Type", "application/json"),
                    ],
                    body: Array(body.utf8), timeout: .seconds(10)))
        }
        func poll(
            _ base: String, _ id: String, _ what: String, until done: @escaping @Sendable (JSON) -> Bool
        )
            async throws -> JSON
        {
            try await within(30, what) {
                while true {
                    if let json = try? await call("GET", "\(base)/v1/tasks/\(id)").json, done(json) { return json }
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
        }
        /// Upstream requests that were step 1 itself (step 2's body quotes step 1's output, not its prompt).
        func outlineRequests() -> Int { llm.requests(containing: #""content":"\#(Self.outlineText)""#).count }

        // Run 1: step 1 completes, step 2 is held upstream; SIGKILL once step 1 is checkpointed.
        var (process, base) = try await start()
        let created = try await call(
            "POST", base + "/v1/tasks",
            taskBody([
                stepJSON("outline", Self.outlineText),
                stepJSON("draft", "Expand: {{steps.outline.output}}"),
                stepJSON("polish", "Polish: {{steps.draft.output}}"),
            ]))
        #expect(created.head.status == 202, "\(created.text)")
        let id = try #require(created.json?["id"]?.stringValue)
        _ = try await poll(base, id, "step 1 to complete") { $0.step(0)?["state"] == "completed" }
        process.kill(SIGKILL)
        #expect(outlineRequests() == 1)

        // Run 2: resumes at step 2 (step 1 is not sent again); SIGKILL while step 2 is held upstream.
        let before = llm.server.requestCount
        (process, base) = try await start()
        try await within(30, "step 2 to reach the upstream again") { await llm.server.waitForRequests(before + 1) }
        let midway = try #require(try await call("GET", "\(base)/v1/tasks/\(id)").json)
        #expect(midway.state == "executing")
        #expect(midway.step(0)?["state"] == "completed")
        #expect(midway.step(1)?["state"] == "running")
        process.kill(SIGKILL)
        #expect(outlineRequests() == 1)

        // Run 3: the upstream answers now; the task completes.
        llm.ungate("Expand:")
        draftGate.open()
        (process, base) = try await start()
        let done = try await poll(base, id, "the task to complete") { $0.state == "completed" }
        #expect(done.step(0)?["attempts"] == 1)
        #expect(done.step(1)?["attempts"]?.intValue ?? 0 >= 2)
        #expect(done.step(2)?["state"] == "completed")

        let outline = "Hello from the mock: \(Self.outlineText)"
        #expect(done.step(0)?["output"] == .string(outline))
        #expect(outlineRequests() == 1, "a checkpointed step was sent upstream again")
        let drafts = llm.requests(containing: "Expand:")
        #expect(drafts.count >= 2)
        for draft in drafts { #expect(draft.bodyText.contains("Expand: \(outline)")) }
        let draftOutput = try #require(done.step(1)?["output"]?.stringValue)
        #expect(llm.requests(containing: "Polish: \(draftOutput)").count == 1)

        // The history shows the requeue of the in-flight step: at the restart on a file of one
        // process, when the dead process's lease expired on a shared store.
        let events = try await call("GET", "\(base)/v1/tasks/\(id)/events").text
        let reason = TestStore.onPostgres(files.storePath) ? "lease_expired" : "restart"
        #expect(events.contains(#""reason":"\#(reason)""#))
        #expect(!process.stderr.contains(TestSecrets.client))
        #expect(!process.stderr.contains(TestSecrets.provider))

        // A graceful stop exits 0.
        let status = process.kill(SIGTERM)
        #expect(status & 0x7f == 0 && (status >> 8) & 0xff == 0, "exit status \(status)")
    }

    @Test func unopenableStoreExitsWithCode3() async throws {
        let binary = try #require(SwitchyardProcess.binaryPath())
        let config = temporaryStorePath("bad-store").replacingOccurrences(of: ".db", with: ".yaml")
        defer { unlink(config) }
        try """
        listen: 127.0.0.1:0
        health_check_ms: 0
        providers: [{name: openai, kind: openai, api_key_env: NONE_SET}]
        store: {path: "/nonexistent-dir/switchyard.db"}
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let process = try SwitchyardProcess(path: binary, arguments: ["serve", "--config", config], environment: [:])
        let line = await process.line(containing: "cannot open the task store")
        #expect(line?.contains("/nonexistent-dir/switchyard.db") == true)
        let status = process.kill(0)
        #expect((status >> 8) & 0xff == 3, "exit status \(status)")
    }
}
