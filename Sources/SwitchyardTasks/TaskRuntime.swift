public import Logging
import SwitchyardCore
import SwitchyardThreads
import Synchronization

/// Runs durable tasks: each step through a `StepRunner` (the gateway's router: fallback per step)
/// on a bounded pool of workers (`tasks.workers`), checkpointing every finished step in a
/// `TaskStore` before the next one starts.
///
/// **Persist, then perform** (docs/architecture.md, "Decisions and effects"). A step is marked `running` (its attempt counted) in one
/// transaction before any byte goes upstream; its outcome (output, full response, usage, provider,
/// model, error class) and the task's next state are committed together in one transaction when
/// the call returns; only then does the next step start. Before each step the runtime re-reads the
/// task from the store, so a pause written by another process (`switchyard tasks`) takes effect at
/// the next step boundary; the store watcher (below) picks up that process's resumes and cancels.
///
/// **Delivery: at-least-once for the step in flight, never again for a checkpointed step.**
/// A step whose checkpoint committed is never sent upstream again, whatever happens later (pause,
/// resume, crash, restart); the next steps read its output from the store. The step that was in
/// flight when the process died (SIGKILL, OOM kill, panic, power loss) has no checkpoint: on the
/// next start it goes back to `pending` with its attempt count kept and runs again from the start,
/// with the same request and the same earlier outputs, so the upstream may receive that one request
/// twice (and bill it twice). The same holds for a step interrupted by a shutdown whose grace period
/// ran out. With the store's default `synchronous=NORMAL`, an OS crash or power loss (not a process crash)
/// can also roll back the last few commits; those steps run again too. Make steps safe to repeat.
///
/// **Pause, resume and cancel** are committed at once, by the API or by the CLI alike. A pause keeps
/// the next step from starting and nothing else: a step in flight runs on and its checkpoint lands
/// on the paused task (`TaskMachine`: paused + step_done → paused), so a finished, paid-for result
/// is never thrown away and the pause call does not wait for it. A resume schedules the task (or,
/// with its step still in flight, lets the worker go on after the checkpoint). A cancel also
/// cancels the in-flight step's Swift task, which aborts the upstream transfer; a late result is
/// dropped, as the caller asked.
///
/// **Other processes.** `switchyard tasks` commits to the same file. The watcher asks SQLite's
/// `data_version` (which changes only for other connections' commits) whether another process
/// committed, and on a change schedules every `planning`/`executing` task (a CLI resume) and
/// interrupts the in-flight step of a task that another process cancelled: the same semantics as
/// the API, a moment later. It asks when told that the file was written (`externalChangeHint`,
/// from the server's `SQLiteFileWatch`) and otherwise every `watchInterval` (the server's
/// backstop when the file is watched; without a watch, a poll).
///
/// **Replicas** (a store that implements `TaskClaims`, PostgreSQL's). Every unit of work starts
/// with a claim: a task another live process holds is left to it (`notHere`), so no step runs in
/// two processes at once; the store renews the claims this process holds while it lives, and a
/// worker releases a task's claim when it has nothing more to do with it. A process that dies
/// keeps its claims until their lease expires; no commit announces that, so the watcher also
/// sweeps for resumable tasks every `sweepInterval`, and the first process to claim such a task
/// requeues the step the dead one had in flight (at-least-once, as after a restart) and goes on
/// from the last checkpoint. A clean shutdown releases its claims (`ConfiguredStores.releaseClaims`).
///
/// **Concurrency.** One `Mutex` guards the schedule (queue, running set, in-flight calls); locks
/// are never held across an `await` or a store call. Store calls suspend (`TaskStore` keeps
/// blocking database work off the cooperative pool).
///
/// The operations behind the API and the CLI (create, pause, resume, cancel) are `TaskService`'s.
public final class TaskRuntime: Sendable {
    struct Job: Sendable {
        var taskID: String
        var owner: String
    }

    /// What a worker does with a task after one unit of work.
    enum Unit {
        case again, done
        /// Another live process holds the task's claim: nothing to release, nothing to re-run.
        case notHere
    }

    /// The upstream call of a task's step, while it runs in this process.
    struct InFlight {
        var stepID: String
        var call: Task<StepOutcome, Never>?
        var cancelRequested = false
    }

    struct State {
        var queue: [Job] = []
        var queued: Set<String> = []
        var running: Set<String> = []
        /// Tasks scheduled again while a worker held them: re-queued when that worker is done.
        var again: Set<String> = []
        var activeWorkers = 0
        var inFlight: [String: InFlight] = [:]
        var accepting = true
        var stopping = false
    }

    public let store: any TaskStore
    /// The store's claims when several processes share it (nil for SQLite).
    let claims: (any TaskClaims)?
    let runner: any StepRunner
    let observer: (any TaskObserver)?
    let logger: Logger
    let hub = TaskEventHub()
    let workers: Int
    /// How often the watcher asks the store whether another process committed.
    let watchInterval: Duration
    private let state = Mutex(State())
    private let watcher = Mutex<Task<Void, Never>?>(nil)
    /// Rung by `externalChangeHint`: the watcher asks the store at once.
    private let doorbell = Doorbell()
    /// The store's change version as `recover()` found it, before reading the tasks: the watcher's
    /// starting point, so a change committed after that read is news to it, however late its task
    /// first runs (see `startWatching`).
    private let recoveredVersion = Mutex<Int64?>(nil)

    /// - Parameters:
    ///   - workers: steps run at once across all tasks (`tasks.workers`; at least 1).
    ///   - watchInterval: how often the store is asked whether another process committed.
    public init(
        store: any TaskStore, runner: any StepRunner, workers: Int, observer: (any TaskObserver)? = nil,
        logger: Logger, watchInterval: Duration = .milliseconds(500)
    ) {
        self.store = store
        self.claims = store as? any TaskClaims
        self.runner = runner
        self.observer = observer
        self.logger = logger
        self.workers = max(1, workers)
        self.watchInterval = watchInterval
    }

    /// Start-up recovery: requeues steps that were in flight when the last process stopped and
    /// schedules every task left in `planning` or `executing`. `paused` tasks stay paused.
    public func recover() async throws(StoreError) -> Int {
        let version = try? await store.externalChangeVersion()
        let points = try await store.resumeAfterRestart()
        recoveredVersion.withLock { $0 = version }
        for point in points {
            logger.info(
                "task resumed after restart",
                metadata: [
                    "task_id": .string(point.task.id), "state": .string(point.task.state.rawValue),
                    "next_step": .string(point.nextStep?.stepID ?? "-"),
                ])
            schedule(Job(taskID: point.task.id, owner: point.task.owner))
        }
        return points.count
    }

    /// Stops starting steps and ends event streams (drain); steps in flight carry on to their checkpoint.
    /// Tasks stay `executing` in the store, so the next start resumes them.
    public func quiesce() {
        stopWatching()
        state.withLock { s in
            s.accepting = false
            s.queue = []
            s.queued = []
        }
        hub.closeAll()
    }

    /// Workers still busy with a step (drain waits for zero within its grace period).
    public var busyWorkers: Int { state.withLock { $0.activeWorkers } }

    /// Cancels the calls still in flight without committing anything: their steps stay `running`
    /// in the store and run again on the next start (at-least-once). Call before the transport stops,
    /// so an aborted transfer is not mistaken for an upstream failure.
    public func stop() {
        stopWatching()
        let calls = state.withLock { s -> [Task<StepOutcome, Never>] in
            s.stopping = true
            s.accepting = false
            s.queue = []
            s.queued = []
            return s.inFlight.values.compactMap(\.call)
        }
        for call in calls { call.cancel() }
        hub.closeAll()
    }

    // MARK: Scheduling

    func schedule(_ job: Job) {
        let queued = state.withLock { s -> Bool in
            guard s.accepting else { return false }
            if s.running.contains(job.taskID) {
                s.again.insert(job.taskID)
                return false
            }
            if s.queued.insert(job.taskID).inserted { s.queue.append(job) }
            return true
        }
        if queued { pump() }
    }

    private func pump() {
        let jobs = state.withLock { s -> [Job] in
            var jobs: [Job] = []
            while s.accepting, s.activeWorkers < workers, !s.queue.isEmpty {
                let job = s.queue.removeFirst()
                s.queued.remove(job.taskID)
                s.running.insert(job.taskID)
                s.activeWorkers += 1
                jobs.append(job)
            }
            return jobs
        }
        for job in jobs { Task { await self.work(job) } }
    }

    /// One worker: runs a unit of `first`, then whatever is next in the queue, until it is empty.
    /// A task with more to do goes to the back of the queue after each step, so tasks share workers.
    private func work(_ first: Job) async {
        var job = first
        while true {
            let unit = await runUnit(job)
            var resumedElsewhere = false
            if unit == .done, let claims {
                // Done here: let go, and run it again if it was resumed meanwhile by a process
                // that could not claim it while this one held it.
                let after = try? await claims.releaseClaim(taskID: job.taskID)
                resumedElsewhere = after == .planning || after == .executing
            }
            let next = state.withLock { s -> Job? in
                s.running.remove(job.taskID)
                let rerun = s.again.remove(job.taskID) != nil || resumedElsewhere
                if s.accepting, unit == .again || rerun, s.queued.insert(job.taskID).inserted { s.queue.append(job) }
                guard s.accepting, !s.queue.isEmpty else {
                    s.activeWorkers -= 1
                    return nil
                }
                let j = s.queue.removeFirst()
                s.queued.remove(j.taskID)
                s.running.insert(j.taskID)
                return j
            }
            guard let next else { return }
            job = next
        }
    }

    /// Reads the task and does the next thing its stored state calls for.
    private func runUnit(_ job: Job) async -> Unit {
        do {
            // Shared store: one process runs a task at a time. Claiming also requeues a step a
            // dead holder left in flight.
            if let claims, try await !claims.claim(taskID: job.taskID) { return .notHere }
            guard let snapshot = try await store.task(id: job.taskID, owner: job.owner) else { return .done }
            switch snapshot.task.state {
            case .planning:
                // Steps are planned in the same transaction as `start`; only the event is left.
                try await commit(job, event: .plan)
                return .again
            case .executing:
                guard let step = snapshot.firstUnfinishedStep else {
                    try await commit(job, event: .complete)
                    return .done
                }
                return try await runStep(job, snapshot: snapshot, step: step)
            case .idle, .paused, .completed, .failed, .cancelled:
                return .done
            }
        } catch {
            if error.kind == .rejected || error.kind == .notFound {
                // Someone else (the API, the CLI) moved the task first; its new state decides.
                logger.debug("task changed under the runtime", metadata: ["task_id": .string(job.taskID)])
                return .done
            }
            logger.error(
                "task store failure; the task waits for the next start or resume",
                metadata: ["task_id": .string(job.taskID), "error": .string(error.kind.rawValue)])
            return .done
        }
    }

    // MARK: One step

    private func runStep(_ job: Job, snapshot: TaskSnapshot, step: StepRecord) async throws(StoreError) -> Unit {
        let registered = state.withLock { s -> Bool in
            guard !s.stopping else { return false }
            s.inFlight[job.taskID] = InFlight(stepID: step.stepID)
            return true
        }
        guard registered else { return .done }
        do {
            try await commit(job, event: nil, steps: [.start(stepID: step.stepID)])
        } catch {
            endInFlight(job.taskID)
            throw error
        }

        let requestID = "\(job.taskID)-\(step.stepID)-\(step.attempts + 1)"
        let outcome: StepOutcome
        if let request = prepare(step, in: snapshot) {
            let call = Task { await self.runner.run(request, requestID: requestID) }
            let cancelNow = state.withLock { s -> Bool in
                s.inFlight[job.taskID]?.call = call
                return s.stopping || (s.inFlight[job.taskID]?.cancelRequested ?? true)
            }
            if cancelNow { call.cancel() }
            outcome = await call.value
        } else {
            outcome = StepOutcome(state: .failed, errorClass: "invalid_request")
        }

        let abandoned = state.withLock { s in s.stopping || (s.inFlight[job.taskID]?.cancelRequested ?? true) }
        if abandoned {
            // Cancelled (already committed by the canceller) or shutting down (the step stays
            // `running` and is requeued on the next start): nothing to checkpoint.
            endInFlight(job.taskID)
            return .done
        }
        return try await finishStep(job, step: step, last: snapshot.steps.last?.stepID == step.stepID, outcome: outcome)
    }

    /// The checkpoint: the step's outcome and the task's next state in one transaction. A task
    /// paused meanwhile takes the checkpoint and stays paused (or completes after its last step).
    private func finishStep(
        _ job: Job, step: StepRecord, last: Bool, outcome: StepOutcome
    ) async throws(StoreError)
        -> Unit
    {
        defer { endInFlight(job.taskID) }
        let event: TaskEvent = outcome.state == .completed ? (last ? .complete : .stepDone) : .fail
        let record: TaskRecord
        do {
            record = try await commit(
                job, event: event, steps: [.finish(stepID: step.stepID, outcome: outcome)])
        } catch {
            if error.kind == .rejected {
                // Only a terminal task refuses a checkpoint: another process cancelled (or failed) it
                // before the watcher aborted the call. The caller asked for the result to be dropped.
                logger.info(
                    "step result dropped: the task ended while the step ran",
                    metadata: ["task_id": .string(job.taskID), "step_id": .string(step.stepID)])
                return .done
            }
            throw error
        }
        logger.info(
            "task step finished",
            metadata: [
                "task_id": .string(job.taskID), "step_id": .string(step.stepID),
                "state": .string(outcome.state.rawValue), "provider": .string(outcome.provider ?? "-"),
                "error": .string(outcome.errorClass ?? "-"), "task_state": .string(record.state.rawValue),
            ])
        return record.state == .executing ? .again : .done
    }

    /// The machine's `interruptInFlight`, after a committed cancel: the step's call is cancelled and
    /// its late result dropped.
    func interruptInFlight(_ taskID: String) {
        let call = state.withLock { s -> Task<StepOutcome, Never>? in
            s.inFlight[taskID]?.cancelRequested = true
            return s.inFlight[taskID]?.call
        }
        call?.cancel()
    }

    private func endInFlight(_ taskID: String) {
        _ = state.withLock { $0.inFlight.removeValue(forKey: taskID) }
    }

    /// The step's request with earlier steps' outputs substituted; nil when the step has none.
    private func prepare(_ step: StepRecord, in snapshot: TaskSnapshot) -> JSON? {
        guard let template = step.request else { return nil }
        var outputs: [String: String] = [:]
        for s in snapshot.steps where s.state == .completed { outputs[s.stepID] = s.output ?? "" }
        return TaskTemplate.substitute(template, outputs: outputs)
    }

    // MARK: Commits

    /// One checkpoint transaction, timed for the observer (`switchyard_checkpoint_commit_seconds`);
    /// wakes the task's event streams after the commit.
    @discardableResult
    func commit(
        _ job: Job, event: TaskEvent?, steps: [StepUpdate] = []
    ) async throws(StoreError) -> TaskRecord {
        let started = ContinuousClock.now
        let record = try await store.transition(taskID: job.taskID, owner: job.owner, event: event, stepUpdates: steps)
        observer?.checkpointCommitted(duration: ContinuousClock.now - started)
        hub.notify(job.taskID)
        return record
    }

    // MARK: Other processes and the tasks gauge

    /// Some process may have committed to the store (its file was written): the watcher asks the
    /// store now rather than at its next interval. Any thread; cheap; a burst counts as one.
    public func externalChangeHint() { doorbell.ring() }

    /// Starts the store watcher (see the type's doc); call after `recover()`. `interval` replaces
    /// `watchInterval` (a server whose store file is watched asks less often).
    public func startWatching(interval: Duration? = nil) {
        let interval = interval ?? watchInterval
        let doorbell = self.doorbell
        let t = Task { [weak self] in
            // Changes count from recover()'s read of the tasks, not from this task's first run:
            // on a loaded machine that can come after another process's commit (a replica's
            // release of its tasks at shutdown, announced once), which would otherwise be taken
            // for the starting point and wait for the next sweep.
            var seen = self?.recoveredVersion.withLock { $0 }
            if seen == nil { seen = try? await self?.store.externalChangeVersion() }
            var lastSweep = ContinuousClock.now
            while !Task.isCancelled {
                _ = await doorbell.wait(upTo: interval)
                guard let self, !Task.isCancelled else { return }
                let version = try? await self.store.externalChangeVersion()
                // A shared store: no commit announces a dead process, so look for tasks whose
                // holder's lease expired every sweep interval too.
                let sweep = self.claims.map { ContinuousClock.now - lastSweep >= $0.sweepInterval } ?? false
                let changed = version != nil && version != seen
                guard sweep || changed else { continue }
                seen = version ?? seen
                if sweep { lastSweep = ContinuousClock.now }
                await self.reconcile(wakeStreams: changed)
            }
        }
        watcher.withLock { $0 = t }
    }

    private func stopWatching() { watcher.withLock { $0?.cancel() } }

    /// Another process committed a change of the task (a shared store's notification): wakes its
    /// event streams here, as this process's own commits do.
    public func changedElsewhere(taskID: String) { hub.notify(taskID) }

    /// After another process committed, or a shared store's sweep: schedule every task that should
    /// be running (a CLI resume; `schedule` ignores tasks already queued or running here) and abort
    /// the in-flight call of a task that is now over (a CLI cancel). `wakeStreams` (the store's
    /// change counter moved: SQLite, which cannot say which task changed) also wakes every open
    /// event stream, which would otherwise wait for this process's next commit of its task (after
    /// a CLI cancel, none comes). A shared store names each changed task (`changedElsewhere`), so
    /// its sweeps wake no stream.
    func reconcile(wakeStreams: Bool) async {
        if wakeStreams { hub.notifyAll() }
        let inFlight = state.withLock { Array($0.inFlight.keys) }
        do {
            let resumable = try await store.resumableTasks()
            let states = try await store.taskStates(ids: inFlight)
            for (id, state) in states where state.isTerminal {
                logger.info(
                    "task ended by another process; aborting its step", metadata: ["task_id": .string(id)])
                interruptInFlight(id)
            }
            for task in resumable { schedule(Job(taskID: task.id, owner: task.owner)) }
        } catch {
            logger.error("task store watch failed", metadata: ["error": .string(error.kind.rawValue)])
        }
    }
}
