import Foundation
import Glibc
import SwitchyardCore
import SwitchyardTasks
import SwitchyardTestSupport
import SwitchyardUpstream
import Testing

@testable import SwitchyardStore

/// Replicas: three real `switchyard serve` processes on one PostgreSQL database (a scratch schema
/// of the suite's server), as three pods of one deployment.
@Suite(.timeLimit(.minutes(3)))
struct ReplicaProcessTests {
    static let outlineText = "Outline the replica plan"

    /// A task started through A; the process holding it is SIGKILLed while its second step waits
    /// upstream; one of the other two takes it over once the lease expired and finishes it. Every
    /// checkpointed step reached the upstream exactly once, judged by the mock's own count.
    @Test func aTaskWhoseReplicaWasKilledIsFinishedByAnotherWithoutResendingACheckpointedStep() async throws {
        try #require(PostgresTestServer.enabled, "\(PostgresTestServer.reason ?? "")")
        let binary = try #require(SwitchyardProcess.binaryPath(), "build the switchyard executable first")
        guard case .success(let text) = PostgresTestServer.url, case .success(let server) = StoreURL.parse(text) else {
            Issue.record("no PostgreSQL server")
            return
        }
        let schema = "r_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let url = try await PostgresStore.createScratchSchema(url: server, name: schema)
        defer { Task { try? await PostgresStore.dropScratchSchema(url: server, name: schema) } }

        let llm = try GatedLLM()
        defer { llm.stop() }
        let draftGate = llm.gate("Expand:")
        defer { draftGate.open() }
        let config = temporaryStorePath("replicas").replacingOccurrences(of: ".db", with: ".yaml")
        defer { unlink(config) }
        try """
        listen: 127.0.0.1:0
        health_check_ms: 0
        auth: {keys: [{name: tests, key_env: TEST_CLIENT_KEY}]}
        providers:
          - {name: openai, kind: openai, base_url: "http://127.0.0.1:\(llm.server.port)/v1", api_key_env: TEST_PROVIDER_KEY}
        models:
          - {name: smart, targets: [{provider: openai, model: gpt-4o-mini}]}
        retry: {attempts_per_target: 1, initial_backoff_ms: 1, max_backoff_ms: 5, multiplier: 2}
        store: {url_env: TEST_DATABASE_URL, lease_ms: 2000}
        tasks: {workers: 2}
        shutdown_grace_ms: 2000
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let environment = [
            "TEST_CLIENT_KEY": TestSecrets.client, "TEST_PROVIDER_KEY": TestSecrets.provider,
            "TEST_DATABASE_URL": url.value,
        ]
        let client = try CurlUpstream()
        defer { client.shutdown() }
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
            try await within(60, what) {
                while true {
                    if let json = try? await call("GET", "\(base)/v1/tasks/\(id)").json, done(json) { return json }
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
        }
        func outlineRequests() -> Int { llm.requests(containing: #""content":"\#(Self.outlineText)""#).count }

        var processes: [(process: SwitchyardProcess, base: String)] = []
        defer { for p in processes { p.process.kill() } }
        for _ in 0..<3 {
            let process = try SwitchyardProcess(
                path: binary, arguments: ["serve", "--config", config], environment: environment)
            processes.append((process, "http://127.0.0.1:\(try await process.port())"))
        }

        let created = try await call(
            "POST", processes[0].base + "/v1/tasks",
            taskBody([
                stepJSON("outline", Self.outlineText),
                stepJSON("draft", "Expand: {{steps.outline.output}}"),
                stepJSON("polish", "Polish: {{steps.draft.output}}"),
            ]))
        #expect(created.head.status == 202, "\(created.text)")
        let id = try #require(created.json?["id"]?.stringValue)
        // Step 2 is held upstream: step 1 is checkpointed and its request is the first one.
        try await within(60, "step 2 to reach the upstream") { await llm.server.waitForRequests(2) }
        let midway = try await poll(processes[1].base, id, "step 2 to run") { $0.step(1)?["state"] == "running" }
        #expect(midway.step(0)?["state"] == "completed")
        #expect(outlineRequests() == 1)

        // Which process holds the task: the pid in its claim's `lease_owner` (`host/pid/suffix`).
        let observer = try await PostgresStore(url: url, configuration: .init(poolSize: 1, listen: false))
        defer { observer.close() }
        let holder = try await observer.perform { connection throws(StoreError) in
            try connection.queryOne("SELECT lease_owner FROM tasks WHERE id = $1", [.text(id)]) {
                $0.optionalText(0)
            }
        }
        let holderPID = try #require(holder??.split(separator: "/").dropFirst().first.flatMap { Int32($0) })
        let victim = try #require(
            processes.firstIndex { $0.process.pid == holderPID }, "holder \(String(describing: holder))")
        processes[victim].process.kill(SIGKILL)
        let survivors = processes.indices.filter { $0 != victim }.map { processes[$0] }

        // The upstream answers from now on; a survivor claims the task after the lease and retries step 2.
        llm.ungate("Expand:")
        draftGate.open()
        let done = try await poll(survivors[0].base, id, "a survivor to finish the task") { $0.state == "completed" }
        #expect(done.step(0)?["attempts"] == 1)
        #expect(done.step(1)?["attempts"] == 2, "the step in flight ran again, attempts kept")
        #expect(done.step(2)?["state"] == "completed")
        #expect(outlineRequests() == 1, "a checkpointed step was sent upstream again")
        let outline = "Hello from the mock: \(Self.outlineText)"
        for draft in llm.requests(containing: "Expand:") { #expect(draft.bodyText.contains("Expand: \(outline)")) }
        let draftOutput = try #require(done.step(1)?["output"]?.stringValue)
        #expect(llm.requests(containing: "Polish: \(draftOutput)").count == 1)
        let events = try await call("GET", "\(survivors[1].base)/v1/tasks/\(id)/events").text
        #expect(events.contains(#""reason":"lease_expired""#), "\(events)")

        for survivor in survivors {
            #expect(!survivor.process.stderr.contains(TestSecrets.client))
            #expect(!survivor.process.stderr.contains(TestSecrets.provider))
            let status = survivor.process.kill(SIGTERM)
            #expect(status & 0x7f == 0 && (status >> 8) & 0xff == 0, "exit status \(status)")
        }
    }
}
