public import SwitchyardCore

/// Sends one step's request to a model: the runtime's only way upstream. The gateway implements it
/// over its router (retries, breakers and fallback per step); tests script it.
public protocol StepRunner: Sendable {
    /// Runs `request` (a chat completion body with earlier steps' outputs already substituted) and
    /// says how it ended: `completed` with the answering provider and model, the assistant text
    /// (`output`), the whole response and its usage; or `failed` with a stable, payload-free
    /// `errorClass` (the last upstream outcome such as `http_503`, else the error code).
    /// Cancelling the calling task aborts the upstream call; its result is then dropped.
    /// - Parameter requestID: `<task>-<step>-<attempt>`, for the router's logs.
    func run(_ request: JSON, requestID: String) async -> StepOutcome
}

/// Hooks the gateway implements for metrics. Calls happen after the commit, outside every lock.
public protocol TaskObserver: Sendable {
    /// A checkpoint transaction committed after `duration` (the store call as the runtime waited for it).
    func checkpointCommitted(duration: Duration)
}
