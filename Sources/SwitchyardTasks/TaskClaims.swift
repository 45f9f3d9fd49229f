/// What a `TaskStore` that several processes share adds: a task is run by one process at a time,
/// under a lease its holder renews while it works (the PostgreSQL store). A single process's store
/// (SQLite) does not need it: `TaskRuntime` claims only when its store conforms.
///
/// - `claim` before working on a task: true when this process now holds it (a step a dead holder
///   left `running` goes back to `pending` in the same transaction, attempts kept); false when
///   another live process holds it or the task is not `planning`/`executing`.
/// - `releaseClaim` after the last unit of work here; it returns the task's state, so a task
///   resumed meanwhile elsewhere (which could not be claimed while this process held it) runs again.
/// - `releaseAllClaims` on a clean shutdown, so other processes take over at once.
/// - A task whose holder died is claimable once its lease expired: the runtime looks for such tasks
///   (`resumableTasks`) every `sweepInterval`, since no commit announces a death.
public protocol TaskClaims: Sendable {
    func claim(taskID: String) async throws(StoreError) -> Bool
    @discardableResult
    func releaseClaim(taskID: String) async throws(StoreError) -> TaskState?
    func releaseAllClaims() async throws(StoreError)
    /// How often a runtime looks for tasks whose holder's lease expired.
    var sweepInterval: Duration { get }
}
