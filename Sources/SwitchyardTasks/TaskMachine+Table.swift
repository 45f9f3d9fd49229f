extension TaskMachine {
    /// The transition table as GitHub markdown, rows = states, columns = events, cells = next state
    /// or "—" for a rejection. Generated from `transition(from:on:)`, so it cannot drift from the code.
    public static func markdownTable() -> String {
        var lines = ["| state \\ event | " + TaskEvent.allCases.map(\.rawValue).joined(separator: " | ") + " |"]
        lines.append("|---|" + String(repeating: "---|", count: TaskEvent.allCases.count))
        for state in TaskState.allCases {
            let cells = TaskEvent.allCases.map { nextState(from: state, on: $0)?.rawValue ?? "—" }
            lines.append("| \(state.rawValue) | " + cells.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
