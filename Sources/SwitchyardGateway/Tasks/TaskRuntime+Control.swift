import Logging
import SwitchyardCore
import SwitchyardStore
import SwitchyardTasks

/// The operations behind the Tasks API. Each persists first (one store transaction), then acts:
/// schedules, interrupts, wakes event streams. `owner` is the caller's key NAME; another owner's
/// task is `.notFound`, exactly like a missing one.
extension TaskRuntime {
    /// Creates the task with its steps planned (`executing`) in one store transaction, then
    /// schedules it: a crash leaves either no task (the client got no 202) or one the next start
    /// resumes.
    func create(
        owner: String, agent: String, metadata: JSON, steps: [PlannedStep]
    ) async throws(StoreError)
        -> TaskSnapshot
    {
        let id = Self.newTaskID()
        let elapsed = try await store.perform { store throws(StoreError) in
            let started = ContinuousClock.now
            _ = try store.createPlannedTask(id: id, owner: owner, agent: agent, metadata: metadata, steps: steps)
            return ContinuousClock.now - started
        }
        metrics.checkpointCommit(elapsed)
        hub.notify(id)
        schedule(Job(taskID: id, owner: owner))
        return try await snapshotOrNotFound(id: id, owner: owner)
    }

    func snapshot(id: String, owner: String) async throws(StoreError) -> TaskSnapshot? {
        try await store.perform { store throws(StoreError) in try store.task(id: id, owner: owner) }
    }

    /// Commits the pause at once and returns the paused task. No further step starts; a step of the
    /// task in flight runs on and is checkpointed on the paused task (its result is kept), so the
    /// snapshot may still show it `running`. Throws `.rejected` (409) when the state machine refuses.
    func pause(id: String, owner: String) async throws(StoreError) -> TaskSnapshot {
        try await commit(Job(taskID: id, owner: owner), event: .pause)
        return try await snapshotOrNotFound(id: id, owner: owner)
    }

    /// Commits the resume and schedules the task; with its step still in flight, the worker that
    /// runs it goes on to the next step after the checkpoint.
    func resume(id: String, owner: String) async throws(StoreError) -> TaskSnapshot {
        let job = Job(taskID: id, owner: owner)
        try await commit(job, event: .resume)
        schedule(job)
        return try await snapshotOrNotFound(id: id, owner: owner)
    }

    /// Commits `cancelled` (open steps cancelled in the same transaction), then cancels the
    /// in-flight step's Swift task, which aborts its upstream transfer.
    func cancel(id: String, owner: String) async throws(StoreError) -> TaskSnapshot {
        try await commit(Job(taskID: id, owner: owner), event: .cancel)
        interruptInFlight(id)
        return try await snapshotOrNotFound(id: id, owner: owner)
    }

    func snapshotOrNotFound(id: String, owner: String) async throws(StoreError) -> TaskSnapshot {
        guard let snapshot = try await snapshot(id: id, owner: owner) else {
            throw StoreError(kind: .notFound, message: "no such task", path: store.path)
        }
        return snapshot
    }

    /// `task_` + 24 hex digits from the system's CSPRNG.
    static func newTaskID() -> String {
        var g = SystemRandomNumberGenerator()
        return "task_" + RequestID.hex(g.next(), 16) + RequestID.hex(UInt64(g.next() as UInt32), 8)
    }
}
