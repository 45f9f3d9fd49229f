/// Hooks the gateway implements for logs and metrics. Every method has an empty default;
/// routing never depends on them. Calls happen outside the router's lock, on the request's task.
/// Arguments are payload-free: target keys, attempt numbers, outcome labels, durations.
/// Class-bound: the router calls it through an optional existential several times per attempt,
/// and a class reference is copied with a retain where an open existential went through its
/// value witnesses.
public protocol RouterObserver: AnyObject, Sendable {
    func attemptStarted(requestID: String, target: String, attempt: Int)
    func attemptFinished(requestID: String, record: AttemptRecord)
    /// A retry of the same target will be sent after `delay`.
    func retryScheduled(requestID: String, target: String, attempt: Int, delay: Duration)
    /// The request moved on from `from` to `to` after `reason`, the last failed call's outcome
    /// (nil when no call failed: the earlier targets were skipped).
    func fallback(requestID: String, from: String, to: String, reason: AttemptOutcome?)
    /// A target was not tried.
    func targetSkipped(requestID: String, target: String, reason: SkipReason)
    func breakerChanged(target: String, from: BreakerState, to: BreakerState)
    func budgetExhausted(requestID: String, target: String)
    func allTargetsUnavailable(requestID: String, retryAfterSeconds: Int)
    /// `count` more unparseable stream events were skipped (the decoder's running count grew).
    func malformedStreamEvents(requestID: String, target: String, count: Int)
    /// A stream broken mid-way at `from` was handed to `to` (`none` when no target was tried).
    func continuation(requestID: String, from: String, to: String, outcome: ContinuationOutcome)
}

extension RouterObserver {
    public func attemptStarted(requestID: String, target: String, attempt: Int) {}
    public func attemptFinished(requestID: String, record: AttemptRecord) {}
    public func retryScheduled(requestID: String, target: String, attempt: Int, delay: Duration) {}
    public func fallback(requestID: String, from: String, to: String, reason: AttemptOutcome?) {}
    public func targetSkipped(requestID: String, target: String, reason: SkipReason) {}
    public func breakerChanged(target: String, from: BreakerState, to: BreakerState) {}
    public func budgetExhausted(requestID: String, target: String) {}
    public func allTargetsUnavailable(requestID: String, retryAfterSeconds: Int) {}
    public func malformedStreamEvents(requestID: String, target: String, count: Int) {}
    public func continuation(requestID: String, from: String, to: String, outcome: ContinuationOutcome) {}
}
