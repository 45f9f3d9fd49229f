import Foundation
import Logging
import SwitchyardCore
import SwitchyardTasks
import Synchronization
import Testing

@testable import SwitchyardStore

/// The task runtime on its two seams, with no router and no network: a real store behind
/// `TaskStore` (SQLite, or PostgreSQL with `SWITCHYARD_TEST_STORE=postgres`), and a scripted
/// `StepRunner` that answers each step from a table.
@Suite struct TaskRuntimeTests {
    /// Answers every step with `answers[<text of its last message>]`, or fails it with `failure`.
    final class ScriptedRunner: StepRunner {
        let answers: [String: String]
        let failure: String
        let seen = Mutex<[(requestID: String, text: String)]>([])

        init(answers: [String: String], failure: String = "http_503") {
            self.answers = answers
            self.failure = failure
        }

        func run(_ request: JSON, requestID: String) async -> StepOutcome {
            let text = request["messages"]?.arrayValue?.last?["content"]?.stringValue ?? ""
            seen.withLock { $0.append((requestID, text)) }
            guard let answer = answers[text] else { return StepOutcome(state: .failed, errorClass: failure) }
            return StepOutcome(state: .completed, provider: "scripted", model: "m", output: answer)
        }
    }

    final class Commits: TaskObserver {
        let count = Atomic<Int>(0)
        func checkpointCommitted(duration: Duration) { count.add(1, ordering: .relaxed) }
    }

    static func step(_ id: String, _ text: String) -> JSON {
        ["id": .string(id), "request": ["model": "m", "messages": [["role": "user", "content": .string(text)]]]]
    }

    static func create(_ steps: [JSON]) throws -> TaskCreateRequest {
        let body = JSON.object(["agent": "a", "steps": .array(steps)]).serialized()
        return try TaskCreateRequest.parse(body: body) { _ in true }
    }

    /// Waits on the runtime's wake-ups (no sleeping) until the task is terminal.
    static func finished(_ service: TaskService, _ id: String, owner: String) async throws -> TaskSnapshot {
        let changes = service.changes(of: id)
        var snapshot = try await service.task(id: id, owner: owner)
        if snapshot.task.state.isTerminal { return snapshot }
        for await _ in changes {
            snapshot = try await service.task(id: id, owner: owner)
            if snapshot.task.state.isTerminal { break }
        }
        return snapshot
    }

    static func runtime(_ store: any TaskStore, _ runner: ScriptedRunner, _ observer: Commits) -> TaskRuntime {
        TaskRuntime(
            store: store, runner: runner, workers: 2, observer: observer,
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    @Test func stepsRunInOrderWithEarlierOutputsSubstitutedAndEachCommitObserved() async throws {
        try await withSelectedTaskStore { store in
            let runner = ScriptedRunner(answers: ["draft": "A-OUT", "review A-OUT": "B-OUT"])
            let commits = Commits()
            let runtime = Self.runtime(store, runner, commits)
            defer { runtime.stop() }
            let service = TaskService(runtime: runtime)

            let created = try await service.create(
                owner: "alice", try Self.create([Self.step("a", "draft"), Self.step("b", "review {{steps.a.output}}")]))
            let done = try await Self.finished(service, created.task.id, owner: "alice")

            #expect(done.task.state == .completed)
            #expect(done.steps.map(\.output) == ["A-OUT", "B-OUT"])
            #expect(done.steps.map(\.attempts) == [1, 1])
            let seen = runner.seen.withLock { $0 }
            #expect(seen.map(\.text) == ["draft", "review A-OUT"])
            #expect(seen.map(\.requestID) == ["\(created.task.id)-a-1", "\(created.task.id)-b-1"])
            // The creation (one transaction), then start and finish per step.
            #expect(commits.count.load(ordering: .relaxed) == 5)
        }
    }

    @Test func aFailedStepFailsTheTaskWithItsErrorClassAndNothingAfterItRuns() async throws {
        try await withSelectedTaskStore { store in
            let runner = ScriptedRunner(answers: [:], failure: "timeout_first_byte")
            let runtime = Self.runtime(store, runner, Commits())
            defer { runtime.stop() }
            let service = TaskService(runtime: runtime)

            let created = try await service.create(
                owner: "alice", try Self.create([Self.step("a", "x"), Self.step("b", "y")]))
            let done = try await Self.finished(service, created.task.id, owner: "alice")

            #expect(done.task.state == .failed)
            #expect(done.steps.map(\.state) == [.failed, .cancelled], "fail cancels the open steps")
            #expect(done.steps.first?.errorClass == "timeout_first_byte")
            #expect(runner.seen.withLock { $0.count } == 1)
        }
    }

    /// The CLI's service has no runtime: it commits, and another owner's task is "no such task".
    @Test func theStoreOnlyServiceCommitsAndKeepsOwnersApart() async throws {
        try await withSelectedTaskStore { store in
            let service = TaskService(store: store)

            let created = try await service.create(owner: "alice", try Self.create([Self.step("a", "x")]))
            #expect(created.task.state == .executing, "planned and waiting for a server's runtime")
            let paused = try await service.control(.pause, id: created.task.id, owner: "alice")
            #expect(paused.task.state == .paused)

            var other: StoreError?
            do { _ = try await service.control(.cancel, id: created.task.id, owner: "bob") } catch {
                other = error as? StoreError
            }
            #expect(other?.kind == .notFound)
            var rejected: StoreError?
            do { _ = try await service.control(.pause, id: created.task.id, owner: "alice") } catch {
                rejected = error as? StoreError
            }
            #expect(rejected?.kind == .rejected)
            let page = try await service.list(TaskQuery(owner: "alice"))
            #expect(page.tasks.map(\.task.id) == [created.task.id] && !page.hasMore)
            #expect(try await service.list(TaskQuery(owner: "bob")).tasks.isEmpty)
        }
    }
}
