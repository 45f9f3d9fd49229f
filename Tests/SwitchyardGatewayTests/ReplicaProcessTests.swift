import Foundation
import Glibc
import SwitchyardCore
import SwitchyardTestSupport
import Testing

/// Replicas: real `switchyard serve` processes on one PostgreSQL database (`Replicas`), as the
/// pods of one deployment, running tasks.
@Suite(.timeLimit(.minutes(3)))
struct ReplicaProcessTests {
    static let outlineText = "Outline the replica plan"

    static let threeSteps = taskBody([
        stepJSON("outline", outlineText),
        stepJSON("draft", "Expand: {{steps.outline.output}}"),
        stepJSON("polish", "Polish: {{steps.draft.output}}"),
    ])

    /// A task started through A; the process holding it is SIGKILLed while its second step waits
    /// upstream; one of the other two takes it over once the lease expired and finishes it. Every
    /// checkpointed step reached the upstream exactly once, judged by the mock's own count.
    @Test func aTaskWhoseReplicaWasKilledIsFinishedByAnotherWithoutResendingACheckpointedStep() async throws {
        try #require(PostgresTestServer.enabled, "\(PostgresTestServer.reason ?? "")")
        let llm = try GatedLLM()
        defer { llm.stop() }
        let draftGate = llm.gate("Expand:")
        defer { draftGate.open() }
        let replicas = try await Replicas(count: 3, upstreamPort: llm.server.port)
        defer { replicas.stop() }
        func outlineRequests() -> Int { llm.requests(containing: #""content":"\#(Self.outlineText)""#).count }

        let created = try await replicas.call(0, "POST", "/v1/tasks", Self.threeSteps)
        #expect(created.head.status == 202, "\(created.text)")
        let id = try #require(created.json?["id"]?.stringValue)
        // Step 2 is held upstream: step 1 is checkpointed and its request is the first one.
        try await within(60, "step 2 to reach the upstream") { await llm.server.waitForRequests(2) }
        let midway = try await replicas.poll(1, task: id, "step 2 to run") { $0.step(1)?["state"] == "running" }
        #expect(midway.step(0)?["state"] == "completed")
        #expect(outlineRequests() == 1)

        let victim = try #require(try await replicas.holder(of: id), "no replica holds the task")
        replicas[victim].process.kill(SIGKILL)
        let survivors = [0, 1, 2].filter { $0 != victim }

        // The upstream answers from now on; a survivor claims the task after the lease and retries step 2.
        llm.ungate("Expand:")
        draftGate.open()
        let done = try await replicas.poll(survivors[0], task: id, "a survivor to finish the task") {
            $0.state == "completed"
        }
        #expect(done.step(0)?["attempts"] == 1)
        #expect(done.step(1)?["attempts"] == 2, "the step in flight ran again, attempts kept")
        #expect(done.step(2)?["state"] == "completed")
        #expect(outlineRequests() == 1, "a checkpointed step was sent upstream again")
        let outline = "Hello from the mock: \(Self.outlineText)"
        for draft in llm.requests(containing: "Expand:") { #expect(draft.bodyText.contains("Expand: \(outline)")) }
        let draftOutput = try #require(done.step(1)?["output"]?.stringValue)
        #expect(llm.requests(containing: "Polish: \(draftOutput)").count == 1)
        let events = try await replicas.call(survivors[1], "GET", "/v1/tasks/\(id)/events").text
        #expect(events.contains(#""reason":"lease_expired""#), "\(events)")

        replicas.expectNoSecretsLogged()
        for survivor in survivors {
            let status = replicas[survivor].process.kill(SIGTERM)
            #expect(status & 0x7f == 0 && (status >> 8) & 0xff == 0, "exit status \(status)")
        }
    }

    /// A replica drained by SIGTERM while its task's step waits upstream releases the task and
    /// announces it: the other replica claims it at once and finishes it. The lease is ten minutes
    /// (a sweep every 200 s), so only the announcement explains a take-over within a minute.
    @Test func aDrainedReplicaHandsItsTaskToAnotherWithoutWaitingForTheLease() async throws {
        try #require(PostgresTestServer.enabled, "\(PostgresTestServer.reason ?? "")")
        let llm = try GatedLLM()
        defer { llm.stop() }
        let draftGate = llm.gate("Expand:")
        defer { draftGate.open() }
        let replicas = try await Replicas(
            count: 2, upstreamPort: llm.server.port, store: "{url_env: TEST_DATABASE_URL, lease_ms: 600000}")
        defer { replicas.stop() }

        let created = try await replicas.call(0, "POST", "/v1/tasks", Self.threeSteps)
        #expect(created.head.status == 202, "\(created.text)")
        let id = try #require(created.json?["id"]?.stringValue)
        try await within(60, "step 2 to reach the upstream") { await llm.server.waitForRequests(2) }
        let drained = try #require(try await replicas.holder(of: id), "no replica holds the task")
        let successor = 1 - drained

        replicas[drained].process.signal(SIGTERM)
        try await within(60, "the other replica to claim the task") {
            while try await replicas.holder(of: id) != successor { try await Task.sleep(for: .milliseconds(50)) }
        }
        let exitCode = try await within(60, "the drained replica to exit") {
            await replicas[drained].process.exitCode()
        }
        #expect(exitCode == 0)
        llm.ungate("Expand:")
        draftGate.open()
        let done = try await replicas.poll(successor, task: id, "the successor to finish the task") {
            $0.state == "completed"
        }
        #expect(done.step(0)?["attempts"] == 1)
        #expect(done.step(1)?["attempts"] == 2, "the step cut short by the drain ran again")
        #expect(llm.requests(containing: #""content":"\#(Self.outlineText)""#).count == 1)
        replicas.expectNoSecretsLogged()
    }
}
