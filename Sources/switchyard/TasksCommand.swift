import ArgumentParser
import FoundationEssentials
import Glibc
import SwitchyardCore
import SwitchyardGateway
import SwitchyardStore
import SwitchyardTasks

/// `switchyard tasks list|show|pause|resume|cancel`: the task store of a configuration, opened
/// directly (no server needed).
///
/// Safe while the server runs. On SQLite the store is in WAL mode, so reads never block the server,
/// and a write waits up to the busy timeout (5 s) for the server's transaction; on PostgreSQL
/// (`store.url_env`) both are clients of the same database. The semantics are the API's, because
/// both commit the same transition to the same store: a pause stops the task at its next step
/// boundary (a step in flight finishes and its result is kept); a running server notices a resume or
/// a cancel made here at once (SQLite: it watches the file for writes, `SQLiteFileWatch`;
/// PostgreSQL: by LISTEN/NOTIFY), schedules the resumed task and aborts a cancelled task's
/// upstream call.
///
/// Why the store and not the server's HTTP API: the CLI then needs no client key, no reachable
/// listener (a container's port may not be reachable from where an operator runs it) and no second
/// code path; it works the same with or without a server running.
struct TasksCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tasks", abstract: "List, show, pause, resume or cancel durable tasks in the store.",
        discussion: """
            Opens the configuration's store directly (store.path, or the PostgreSQL database named by \
            store.url_env); safe while the server runs, with the same semantics as the API: pause stops \
            the task at its next step boundary (a step in flight finishes and its result is kept); a \
            running server picks up a resume or a cancel at once.
            """,
        subcommands: [List.self, Show.self, Pause.self, Resume.self, Cancel.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the owner's tasks, newest first.")
        @OptionGroup var store: TaskStoreOptions
        @Option(help: "Only tasks in this state (idle, planning, executing, paused, completed, failed, cancelled).")
        var state: String?
        @Option(help: "Only tasks of this agent.") var agent: String?
        @Option(help: "At most this many tasks (1-1000).") var limit = 20
        @Option(help: "Start after this task id (the last id of the previous page).") var after: String?
        @Flag(help: "Print the API's JSON list object instead of a table.") var json = false

        func run() async throws {
            var filter: TaskState?
            if let state {
                guard let s = TaskState(rawValue: state) else { throw ValidationError("unknown state '\(state)'") }
                filter = s
            }
            // No store yet (no server has run with this configuration): an empty list.
            let (service, owner) = try store.open(readOnly: true)
            var listing = TaskListing(tasks: [], hasMore: false)
            if let service {
                listing = try await TaskStoreOptions.run { () async throws(StoreError) in
                    try await service.list(
                        TaskQuery(owner: owner, state: filter, agent: agent, limit: limit, after: after))
                }
            }
            if json {
                print(JSON.object(TaskRendering.list(listing)).serializedString())
                return
            }
            print("ID\tSTATE\tAGENT\tSTEPS\tUPDATED")
            for s in listing.tasks {
                let done = s.steps.filter { $0.state == .completed }.count
                let columns = [s.task.id, s.task.state.rawValue, s.task.agent, "\(done)/\(s.steps.count)"]
                print((columns + [iso(s.task.updatedAt)]).joined(separator: "\t"))
            }
            if listing.hasMore, let last = listing.lastID { print("more: --after \(last)") }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a task with its steps as JSON.")
        @OptionGroup var store: TaskStoreOptions
        @Argument(help: "Task id.") var id: String

        func run() async throws {
            let (service, owner) = try store.open(readOnly: true)
            guard let service else { throw TaskStoreOptions.noSuchTask() }
            let snapshot = try await TaskStoreOptions.run { () async throws(StoreError) in
                try await service.task(id: id, owner: owner)
            }
            print(TaskRendering.task(snapshot).serializedString())
        }
    }

    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pause a task at its next step boundary; a step in flight finishes and is kept.")
        @OptionGroup var store: TaskStoreOptions
        @Argument(help: "Task id.") var id: String
        func run() async throws { try await store.apply(.pause, to: id) }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Resume a paused task; a running server picks it up at once.")
        @OptionGroup var store: TaskStoreOptions
        @Argument(help: "Task id.") var id: String
        func run() async throws { try await store.apply(.resume, to: id) }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cancel a task; a running server aborts its step in flight.")
        @OptionGroup var store: TaskStoreOptions
        @Argument(help: "Task id.") var id: String
        func run() async throws { try await store.apply(.cancel, to: id) }
    }
}

/// `--config`, `--owner` and opening the store they name.
struct TaskStoreOptions: ParsableArguments {
    @OptionGroup var options: ConfigOptions

    @Option(help: "Client key NAME owning the tasks. Default: the only configured key, or 'anonymous' without keys.")
    var owner: String?

    /// The task service over the configuration's store and the owner to act for; exits 2 for a
    /// bad configuration, 3 for a store that cannot be opened. The service is nil when the store
    /// does not exist yet: no server has run with this configuration, so there are no tasks, and the
    /// CLI never creates a store (a `docker run IMAGE tasks list` on a fresh volume lists nothing
    /// instead of failing).
    func open(readOnly: Bool) throws -> (TaskService?, String) {
        let config: SwitchyardConfig
        do {
            config = try options.load(environment: ProcessInfo.processInfo.environment).0
        } catch {
            printErrors(error)
            throw ExitCode(configExitCode)
        }
        let environment = ProcessInfo.processInfo.environment
        if case .failure(let problem)? = config.store.resolvedURL(environment: environment) {
            printErrors(ConfigErrors([problem]))
            throw ExitCode(configExitCode)
        }
        let keyNames = config.auth.keys.map(\.name)
        guard let owner = Owner.resolve(explicit: self.owner, keyNames: keyNames) else {
            throw ValidationError(
                "several client keys are configured (" + keyNames.joined(separator: ", ") + "); pass --owner NAME")
        }
        guard ConfiguredStores.exists(config.store) else {
            writeStandardError(
                "note: no task store at \(config.store.path) yet; the server creates it when it starts\n")
            return (nil, owner)
        }
        do {
            let stores = try ConfiguredStores.open(config.store, environment: environment, readOnly: readOnly)
            return (TaskService(store: stores.tasks), owner)
        } catch {
            writeStandardError("error: cannot open the task store: \(error)\n")
            throw ExitCode(storeExitCode)
        }
    }

    /// Pauses, resumes or cancels the task and prints it; 409-style refusals exit 1 with the reason.
    func apply(_ action: TaskControl, to id: String) async throws {
        let (service, owner) = try open(readOnly: false)
        guard let service else { throw Self.noSuchTask() }
        let snapshot = try await Self.run { () async throws(StoreError) in
            try await service.control(action, id: id, owner: owner)
        }
        print(TaskRendering.task(snapshot).serializedString())
    }

    /// "no such task" (exit 1), as for a task of another owner.
    static func noSuchTask() -> ExitCode {
        writeStandardError("error: no such task for this owner\n")
        return ExitCode(1)
    }

    /// Runs a store call, turning `StoreError` into a one-line message and exit code 1.
    static func run<T>(_ body: () async throws(StoreError) -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            let text: String
            switch error.kind {
            case .notFound: text = "no such task for this owner"
            case .rejected: text = error.rejection?.reason ?? error.message
            default: text = error.description
            }
            writeStandardError("error: \(text)\n")
            throw ExitCode(1)
        }
    }
}

/// Unix milliseconds as `2025-01-31T12:00:00Z`.
func iso(_ ms: Int64) -> String {
    var t = time_t(ms / 1000)  // whole seconds, as ISO8601DateFormatter wrote them
    var tm = Glibc.tm()
    gmtime_r(&t, &tm)
    func pad(_ n: Int32, _ width: Int = 2) -> String {
        let digits = String(n)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
    return "\(pad(tm.tm_year + 1900, 4))-\(pad(tm.tm_mon + 1))-\(pad(tm.tm_mday))T\(pad(tm.tm_hour)):"
        + "\(pad(tm.tm_min)):\(pad(tm.tm_sec))Z"
}
