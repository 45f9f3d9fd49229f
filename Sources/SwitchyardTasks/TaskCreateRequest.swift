public import SwitchyardCore

/// A validated `POST /v1/tasks` body. Every step is checked before anything is stored; a
/// rejection is a 400 whose `param` names the step and field (`steps[1].request.messages`).
public struct TaskCreateRequest: Sendable {
    public var agent: String
    public var metadata: JSON
    public var steps: [PlannedStep]

    public static let maximumSteps = 64

    /// - Parameter modelExists: whether a model name resolves on this gateway (configured, or
    ///   reachable through `provider/model` or a prefix route); an unknown one is refused here
    ///   rather than failing the step later.
    public static func parse(
        body: [UInt8], modelExists: (String) -> Bool
    ) throws(APIError) -> TaskCreateRequest {
        let json: JSON
        do {
            json = try JSON.parse(body)
        } catch {
            throw .invalidRequest("We could not parse the JSON body of your request (\(error)).", code: "invalid_json")
        }
        guard case .object(let o) = json else {
            throw .invalidRequest("The request body must be a JSON object.", code: "invalid_json")
        }
        for key in o.keys where !["agent", "steps", "metadata"].contains(key) {
            throw .invalidRequest("Unknown field `\(key)`; a task has `agent`, `steps` and `metadata`.", param: key)
        }
        var agent = "default"
        if let value = o["agent"], !value.isNull {
            guard let s = value.stringValue, !s.isEmpty, s.utf8.count <= 128 else {
                throw .invalidRequest("`agent` must be a non-empty string of at most 128 bytes.", param: "agent")
            }
            agent = s
        }
        var metadata = JSON.object([:])
        if let value = o["metadata"], !value.isNull {
            guard case .object = value else { throw wrongType("metadata", expected: "object", got: value) }
            metadata = value
        }
        guard let stepsValue = o["steps"], !stepsValue.isNull else {
            throw .invalidRequest(
                "Missing required parameter: 'steps'.", param: "steps", code: "missing_required_parameter")
        }
        guard case .array(let items) = stepsValue else {
            throw wrongType("steps", expected: "array", got: stepsValue)
        }
        guard (1...maximumSteps).contains(items.count) else {
            throw .invalidRequest("`steps` must hold 1 to \(maximumSteps) steps.", param: "steps")
        }
        var steps: [PlannedStep] = []
        var seen: Set<String> = []
        for (i, item) in items.enumerated() {
            steps.append(try parseStep(item, index: i, earlier: seen, modelExists: modelExists))
            seen.insert(steps[i].id)
        }
        return TaskCreateRequest(agent: agent, metadata: metadata, steps: steps)
    }

    static func parseStep(
        _ item: JSON, index i: Int, earlier: Set<String>, modelExists: (String) -> Bool
    ) throws(APIError)
        -> PlannedStep
    {
        let path = "steps[\(i)]"
        guard case .object(let step) = item else { throw wrongType(path, expected: "object", got: item) }
        guard let id = step["id"]?.stringValue else {
            throw .invalidRequest("Step \(i) needs a string `id`.", param: "\(path).id")
        }
        guard TaskTemplate.isValidStepID(id) else {
            throw .invalidRequest("Step ids are 1 to 64 of A-Z, a-z, 0-9, `_` and `-`.", param: "\(path).id")
        }
        guard !earlier.contains(id) else {
            throw .invalidRequest("Step id `\(id)` is used twice.", param: "\(path).id")
        }
        guard let request = step["request"], case .object = request else {
            throw .invalidRequest(
                "Step `\(id)` needs a `request` object (a chat completion body).", param: "\(path).request")
        }
        let chat: ChatRequest
        do {
            chat = try ChatRequest.parse(request)
        } catch {
            var e = error
            e.param = "\(path).request" + (error.param.map { "." + $0 } ?? "")
            e.message = "Step `\(id)`: " + error.message
            throw e
        }
        if chat.stream {
            throw .invalidRequest(
                "Step `\(id)`: steps run non-streaming; drop `stream` (watch progress on /v1/tasks/{id}/events).",
                param: "\(path).request.stream")
        }
        if !modelExists(chat.model) {
            throw .invalidRequest(
                "Step `\(id)`: the model `\(chat.model)` does not exist or is not configured on this gateway.",
                param: "\(path).request.model", code: "model_not_found")
        }
        for reference in TaskTemplate.references(in: request) {
            let param = "\(path).request.\(reference.path)"
            guard let target = reference.stepID else {
                throw .invalidRequest(
                    "Step `\(id)`: a reference must be written `{{steps.<id>.output}}`.", param: param,
                    code: "invalid_step_reference")
            }
            guard earlier.contains(target) else {
                throw .invalidRequest(
                    "Step `\(id)` references `\(target)`, which is not an earlier step of this task.", param: param,
                    code: "invalid_step_reference")
            }
        }
        return PlannedStep(id: id, request: request)
    }

    static func wrongType(_ param: String, expected: String, got: JSON) -> APIError {
        .invalidRequest(
            "Invalid type for '\(param)': expected \(expected), but got \(got.kindName).", param: param,
            code: "invalid_type")
    }
}
