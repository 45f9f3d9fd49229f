public import SwitchyardCore

/// The wire shape of tasks and their events, shared by the HTTP API and `switchyard tasks`.
///
/// Times are Unix seconds (OpenAI's `created_at` convention); the store keeps milliseconds.
/// Nothing here can carry a key: tasks hold the owner's key NAME, and step records hold request and
/// response bodies, which never contain the client's or the provider's credentials.
public enum TaskRendering {
    /// `{"id", "object": "task", "agent", "state", "created_at", "updated_at", "metadata", "steps": [...]}`.
    public static func task(_ snapshot: TaskSnapshot) -> JSON {
        var o: JSONObject = [
            "id": .string(snapshot.task.id), "object": "task", "agent": .string(snapshot.task.agent),
            "state": .string(snapshot.task.state.rawValue), "created_at": .int(Int(snapshot.task.createdAt / 1000)),
            "updated_at": .int(Int(snapshot.task.updatedAt / 1000)), "metadata": snapshot.task.metadata,
        ]
        o["steps"] = .array(snapshot.steps.map(step))
        return .object(o)
    }

    /// `{"object": "list", "data": [task…], "has_more", "first_id", "last_id"}`: a page of `GET /v1/tasks`.
    public static func list(_ listing: TaskListing) -> JSONObject {
        [
            "object": "list", "data": .array(listing.tasks.map(task)), "has_more": .bool(listing.hasMore),
            "first_id": listing.firstID.map(JSON.string) ?? .null, "last_id": listing.lastID.map(JSON.string) ?? .null,
        ]
    }

    /// `{"id", "state", "attempts", "provider", "model", "output", "response", "usage", "error"}`;
    /// `error` is `{"code": <stable error class>}` or null.
    public static func step(_ s: StepRecord) -> JSON {
        [
            "id": .string(s.stepID), "state": .string(s.state.rawValue), "attempts": .int(s.attempts),
            "provider": s.provider.map(JSON.string) ?? .null, "model": s.model.map(JSON.string) ?? .null,
            "output": s.output.map(JSON.string) ?? .null, "response": s.response ?? .null, "usage": s.usage ?? .null,
            "error": s.errorClass.map { ["code": .string($0)] } ?? .null,
        ]
    }

    /// A history entry under its public event name, with its payload:
    ///
    /// | store history | event |
    /// |---|---|
    /// | `task.created`, `step.planned`, `step.requeued`, `step.cancelled` | `state_changed` |
    /// | `task.transition` start / resume / pause / complete / fail / cancel | `started` / `resumed` / `paused` / `completed` / `failed` / `cancelled` |
    /// | `task.transition` plan | `state_changed` |
    /// | `task.transition` step_done (a finished step was checkpointed) | `checkpoint` |
    /// | `step.started` | `step_attempt` |
    /// | `step.finished` completed | `step_completed` |
    /// | `step.finished` failed or cancelled | `state_changed` |
    public static func event(_ e: HistoryEvent) -> (name: String, payload: JSON) {
        let data = e.data.objectValue ?? [:]
        var name = "state_changed"
        var payload = data
        switch e.type {
        case "task.created":
            payload["to"] = "idle"
        case "task.transition":
            switch data["event"]?.stringValue.flatMap(TaskEvent.init(rawValue:)) {
            case .start?: name = "started"
            case .resume?: name = "resumed"
            case .pause?: name = "paused"
            case .complete?: name = "completed"
            case .fail?: name = "failed"
            case .cancel?: name = "cancelled"
            case .stepDone?: name = "checkpoint"
            case .plan?, nil: name = "state_changed"
            }
        case "step.started":
            name = "step_attempt"
        case "step.finished":
            if data["state"] == "completed" { name = "step_completed" }
        case "step.requeued":
            payload["state"] = "pending"
        case "step.cancelled":
            payload["state"] = "cancelled"
        default:
            break
        }
        var envelope: JSONObject = [
            "seq": .number(String(e.seq)), "type": .string(name), "task_id": .string(e.taskID),
            "at": .int(Int(e.at / 1000)),
        ]
        envelope["data"] = .object(payload)
        return (name, .object(envelope))
    }

    /// Whether `e` moved its task into a terminal state (the event stream ends after it).
    public static func isTerminal(_ e: HistoryEvent) -> Bool {
        guard e.type == "task.transition", let to = e.data["to"]?.stringValue else { return false }
        return TaskState(rawValue: to)?.isTerminal ?? false
    }
}
