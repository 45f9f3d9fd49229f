import ArgumentParser
import Foundation
import SwitchyardCore
import SwitchyardGateway
import SwitchyardStore
import SwitchyardTasks

/// `switchyard tasks list|show|pause|resume|cancel`: the task store of a configuration, opened
/// directly (no server needed).
///
/// Safe while the server runs: the store is in WAL mode, so reads never block the server, and a
/// write waits up to the busy timeout (5 s) for the server's transaction. The semantics are the
/// API's, because both commit the same transition to the same store: a pause stops the task at its
/// next step boundary (a step in flight finishes and its result is kept); a running server notices
/// a resume or a cancel made here within about half a second (it watches the file for other
/// processes' commits), schedules the resumed task and aborts a cancelled task's upstream call.
///
/// Why the store and not the server's HTTP API: the CLI then needs no client key, no reachable
/// listener (a container's port may not be reachable from where an operator runs it) and no second
/// code path; it works the same with or without a server running.
struct TasksCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tasks", abstract: "List, show, pause, resume or cancel durable tasks in the store.",
        discussion: """
            Opens store.path of the configuration directly; safe while the server runs, with the same \
            semantics as the API: pause stops the task at its next step boundary (a step in flight \
            finishes and its result is kept); a running server picks up a resume or a cancel within \
            about half a second.
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
            guard let (db, owner) = try store.open(readOnly: true) else {
                // No store yet (no server has run with this configuration): an empty list.
                if json {
                    print(#"{"object":"list","data":[],"has_more":false,"first_id":null,"last_id":null}"#)
                } else {
                    print("ID\tSTATE\tAGENT\tSTEPS\tUPDATED")
                }
                return
            }
            try TaskStoreOptions.run { () throws(StoreError) in
                let page = try db.listTasks(owner: owner, state: filter, agent: agent, limit: limit, after: after)
                var snapshots: [TaskSnapshot] = []
                for task in page.tasks {
                    if let s = try db.task(id: task.id, owner: owner) { snapshots.append(s) }
                }
                if json {
                    let list: JSON = [
                        "object": "list", "data": .array(snapshots.map(TaskRendering.task)),
                        "has_more": .bool(page.hasMore), "first_id": page.firstID.map(JSON.string) ?? .null,
                        "last_id": page.lastID.map(JSON.string) ?? .null,
                    ]
                    print(list.serializedString())
                    return
                }
                print("ID\tSTATE\tAGENT\tSTEPS\tUPDATED")
                for s in snapshots {
                    let done = s.steps.filter { $0.state == .completed }.count
                    let columns = [s.task.id, s.task.state.rawValue, s.task.agent, "\(done)/\(s.steps.count)"]
                    print((columns + [iso(s.task.updatedAt)]).joined(separator: "\t"))
                }
                if page.hasMore, let last = page.lastID { print("more: --after \(last)") }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a task with its steps as JSON.")
        @OptionGroup var store: TaskStoreOptions
        @Argument(help: "Task id.") var id: String

        func run() async throws {
            guard let (db, owner) = try store.open(readOnly: true) else { throw TaskStoreOptions.noSuchTask() }
            try TaskStoreOptions.run { () throws(StoreError) in
                guard let snapshot = try db.task(id: id, owner: owner) else {
                    throw StoreError(kind: .notFound, message: "no such task", path: db.path)
                }
                print(TaskRendering.task(snapshot).serializedString())
            }
        }
    }

    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pause a task at its next step boundary; a step in flight finishes and is kept.")
        @OptionGroup var store: TaskStoreOptions
        @Argument(help: "Task id.") var id: String
        func run() async throws { try store.apply(.pause, to: id) }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Resume a paused task; a running server picks it up at once.")
        @OptionGroup var store: TaskStoreOptions
        @Argument(help: "Task id.") var id: String
        func run() async throws { try store.apply(.resume, to: id) }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cancel a task; a running server aborts its step in flight.")
        @OptionGroup var store: TaskStoreOptions
        @Argument(help: "Task id.") var id: String
        func run() async throws { try store.apply(.cancel, to: id) }
    }
}

/// `--config`, `--owner` and opening the store they name.
struct TaskStoreOptions: ParsableArguments {
    @OptionGroup var options: ConfigOptions

    @Option(help: "Client key NAME owning the tasks. Default: the only configured key, or 'anonymous' without keys.")
    var owner: String?

    /// The store of the configuration and the owner to act for; exits 2 for a bad configuration,
    /// 3 for a store that cannot be opened. `nil` when the file does not exist yet: no server has
    /// run with this configuration, so there are no tasks, and the CLI never creates a store (a
    /// `docker run IMAGE tasks list` on a fresh volume lists nothing instead of failing).
    func open(readOnly: Bool) throws -> (TaskStore, String)? {
        let config: SwitchyardConfig
        do {
            config = try options.load(environment: ProcessInfo.processInfo.environment).0
        } catch {
            printErrors(error)
            throw ExitCode(configExitCode)
        }
        if config.store.kind == .postgres {
            printErrors(ConfigErrors([SwitchyardServer.postgresNotServed]))
            throw ExitCode(configExitCode)
        }
        let owner: String
        if let o = self.owner {
            owner = o
        } else if config.auth.keys.isEmpty {
            owner = "anonymous"
        } else if config.auth.keys.count == 1 {
            owner = config.auth.keys[0].name
        } else {
            throw ValidationError(
                "several client keys are configured (" + config.auth.keys.map(\.name).joined(separator: ", ")
                    + "); pass --owner NAME")
        }
        guard FileManager.default.fileExists(atPath: config.store.path) else {
            FileHandle.standardError.write(
                Data("note: no task store at \(config.store.path) yet; the server creates it when it starts\n".utf8))
            return nil
        }
        do {
            return (try TaskStore(path: config.store.path, configuration: .init(readOnly: readOnly)), owner)
        } catch {
            FileHandle.standardError.write(Data("error: cannot open the task store: \(error)\n".utf8))
            throw ExitCode(storeExitCode)
        }
    }

    /// Commits `event` for the task and prints the task; 409-style refusals exit 1 with the reason.
    func apply(_ event: TaskEvent, to id: String) throws {
        guard let (db, owner) = try open(readOnly: false) else { throw Self.noSuchTask() }
        try Self.run { () throws(StoreError) in
            try db.transition(taskID: id, owner: owner, event: event)
            guard let snapshot = try db.task(id: id, owner: owner) else { return }
            print(TaskRendering.task(snapshot).serializedString())
        }
    }

    /// "no such task" (exit 1), as for a task of another owner.
    static func noSuchTask() -> ExitCode {
        FileHandle.standardError.write(Data("error: no such task for this owner\n".utf8))
        return ExitCode(1)
    }

    /// Runs a store body, turning `StoreError` into a one-line message and exit code 1.
    static func run(_ body: () throws(StoreError) -> Void) throws {
        do {
            try body()
        } catch {
            let text: String
            switch error.kind {
            case .notFound: text = "no such task for this owner"
            case .rejected: text = error.rejection?.reason ?? error.message
            default: text = error.description
            }
            FileHandle.standardError.write(Data("error: \(text)\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// Unix milliseconds as `2025-01-31T12:00:00Z`.
func iso(_ ms: Int64) -> String {
    let formatter = ISO8601DateFormatter()
    return formatter.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
}
