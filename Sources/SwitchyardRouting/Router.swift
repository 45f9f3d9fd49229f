public import Logging
public import SwitchyardCore
import SwitchyardProviders
import Synchronization

/// Sends a chat request to an ordered list of targets with retries, Retry-After, a retry
/// budget, circuit breakers and a request deadline (docs/translation.md §8, docs/architecture.md, "Decisions and effects").
///
/// Decisions come from pure parts (`classify`, `Backoff`, `RetryAfter`, `TargetPlan`,
/// `CircuitBreaker`, `RetryBudget`); this driver performs them and is the only code that
/// sleeps, through the injected `sleep`. Time comes from the injected clocks.
public final class Router: Sendable {
    let upstream: any Upstream
    let logger: Logger
    /// `logger.logLevel`, read once (see `RequestLogger`).
    let logLevel: Logger.Level
    let observer: (any RouterObserver)?
    let sleep: @Sendable (Duration) async throws -> Void
    let now: @Sendable () -> ContinuousClock.Instant
    let wallClock: @Sendable () -> Double
    let random: @Sendable () -> Double
    let state: Mutex<RouterState>
    /// `state`'s breakers all calm, read without the lock (`recordSuccess(_:)`).
    let calm = BreakersCalm()
    /// `TargetContext.idSeed` of each upstream call: this process's random nonce and a counter.
    let idNonce: String
    let idCounter = Atomic<UInt64>(0)

    /// - Parameters:
    ///   - logger: attempts at debug, breaker changes at info/warning; metadata carries
    ///     `request_id`, `target`, `attempt`, never headers or message text. Default: discards.
    ///   - sleep: waits between attempts; must throw (or return early) on task cancellation.
    ///   - now: monotonic time for deadlines, breakers, cooldowns and the budget window.
    ///   - wallClock: Unix seconds, for HTTP-date Retry-After and `created`.
    ///   - random: values in `[0, 1)` for jitter and weighted pools.
    public init(
        upstream: any Upstream, policy: RoutingPolicy,
        logger: Logger = Logger(label: "switchyard.router", factory: { _ in SwiftLogNoOpLogHandler() }),
        observer: (any RouterObserver)? = nil,
        sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
        now: @escaping @Sendable () -> ContinuousClock.Instant = { .now },
        wallClock: @escaping @Sendable () -> Double = WallClock.seconds,
        random: @escaping @Sendable () -> Double = { .random(in: 0..<1) }
    ) {
        self.upstream = upstream
        self.logger = logger
        self.logLevel = logger.logLevel
        self.observer = observer
        self.sleep = sleep
        self.now = now
        self.wallClock = wallClock
        self.random = random
        self.state = Mutex(RouterState(policy: policy, calm: calm))
        var g = SystemRandomNumberGenerator()
        self.idNonce = String(g.next() as UInt64, radix: 36)
    }

    /// A seed no other upstream call of any Switchyard process uses: a process nonce from the
    /// system's CSPRNG and a per-call counter (the client's `x-request-id` is not unique enough:
    /// clients may reuse it).
    func nextIDSeed() -> String {
        Self.idSeed(nonce: idNonce, counter: idCounter.wrappingAdd(1, ordering: .relaxed).newValue)
    }

    /// `nonce + "." + String(counter, radix: 36)`, written into one string of its size (every
    /// Gemini call makes one: the radix string and two concatenations were 0.06 us of it,
    /// `switchyard-bench gateway --provider gemini`).
    static func idSeed(nonce: String, counter: UInt64) -> String {
        var digits = 1
        var rest = counter / 36
        while rest > 0 {
            digits += 1
            rest /= 36
        }
        var nonce = nonce
        return nonce.withUTF8 { head in
            String(unsafeUninitializedCapacity: head.count + 1 + digits) { out in
                if let base = head.baseAddress { out.baseAddress!.initialize(from: base, count: head.count) }
                out[head.count] = UInt8(ascii: ".")
                var n = counter
                var i = head.count + digits
                repeat {
                    let d = UInt8(truncatingIfNeeded: n % 36)
                    n /= 36
                    out[i] = d < 10 ? UInt8(ascii: "0") + d : UInt8(ascii: "a") + d - 10
                    i -= 1
                } while n > 0
                return head.count + 1 + digits
            }
        }
    }

    /// Breaker state per target key (`provider/model`) that has seen traffic; an open breaker
    /// whose open time has passed reads `halfOpen`.
    public func breakerSnapshot() -> [String: BreakerState] {
        let t = now()
        return state.withLock { $0.snapshot(now: t) }
    }

    /// Replaces the policy (config reload). Breakers, cooldowns and the budget window carry over.
    public func updatePolicy(_ policy: RoutingPolicy) {
        state.withLock { $0.policy = policy }
    }

    /// Sends a non-streaming request. `requestID` names the response (`chatcmpl-<requestID>`)
    /// and goes into log metadata.
    public nonisolated(nonsending) func complete(
        _ request: ChatRequest, targets: [RouteTarget], requestID: String
    ) async -> Result<RouteSuccess, RouteFailure> {
        let outcome = await drive(request: request, targets: targets, requestID: requestID, streaming: false) {
            request, target, upstreamRequest in
            await self.completeAttempt(request, target: target, upstreamRequest: upstreamRequest, requestID: requestID)
        }
        return outcome.map { won in
            RouteSuccess(response: won.value.0, target: won.target, attempts: won.attempts, head: won.value.1)
        }
    }

    private nonisolated(nonsending) func completeAttempt(
        _ request: ChatRequest, target: RouteTarget, upstreamRequest: UpstreamRequest, requestID: String
    ) async -> AttemptResult<(DecodedResponse, UpstreamHead)> {
        let response: UpstreamResponse
        do {
            response = try await upstream.perform(upstreamRequest)
        } catch {
            return .failure(AttemptFailure(.transport(error)))
        }
        let status = response.head.status
        guard (200..<300).contains(status) else {
            return .failure(providerFailure(target, head: response.head, body: response.body))
        }
        do {
            let decoded = try target.codec.decodeResponse(
                response.body, request: request, target: target.context, id: "chatcmpl-" + requestID,
                created: Int(wallClock()))
            return .success((decoded, response.head), status: status)
        } catch {
            var e = error
            e.status = status
            return .failure(AttemptFailure(.provider(e), outcome: .malformedResponse))
        }
    }

    /// Reports a success of a target this request was admitted to (so its breaker exists). While
    /// every breaker is calm that changes nothing, and the flag says so without the lock and the
    /// key's hash: the lock section was 1% of a plain request's CPU in process (perf of
    /// `switchyard-bench gateway`). A failure another request records meanwhile is then ordered
    /// after this success, as the lock could have ordered it.
    func recordSuccess(_ key: String) -> CircuitBreaker.Transition? {
        if calm.value.load(ordering: .acquiring) { return nil }
        return state.withLock { $0.recordSuccess(key) }
    }

    /// Decodes a non-2xx answer and folds the header Retry-After into the error's hint.
    func providerFailure(_ target: RouteTarget, head: UpstreamHead, body: [UInt8]) -> AttemptFailure {
        var e = target.codec.decodeError(status: head.status, headers: head.headers, body: body)
        e.retryAfterSeconds = RetryAfter.seconds(headers: head.headers, bodyHint: e.retryAfterSeconds, now: wallClock())
        return AttemptFailure(.provider(e))
    }
}
