import SwitchyardCore
import SwitchyardProviders
import SwitchyardRouting
import Synchronization

/// A monotonic clock the fake sleep advances; no real waiting anywhere in these tests.
final class ManualClock: Sendable {
    let base = ContinuousClock.now
    private let offset = Mutex<Duration>(.zero)

    var now: ContinuousClock.Instant { base + offset.withLock { $0 } }
    var elapsed: Duration { offset.withLock { $0 } }
    func advance(_ d: Duration) { offset.withLock { $0 += d } }
    /// Unix seconds matching `now` (1 700 000 000 at the start).
    var wall: Double { 1_700_000_000 + seconds(elapsed) }
}

func seconds(_ d: Duration) -> Double { d.inSeconds }

/// Records each requested sleep and advances the clock by it.
final class FakeSleeper: Sendable {
    let clock: ManualClock
    private let log = Mutex<[Duration]>([])
    /// Cancel the sleeping task, as a client disconnect during a backoff would.
    let cancelOnSleep = Mutex(false)
    init(clock: ManualClock) { self.clock = clock }
    var sleeps: [Duration] { log.withLock { $0 } }
    func sleep(_ d: Duration) async throws {
        log.withLock { $0.append(d) }
        if cancelOnSleep.withLock({ $0 }) { withUnsafeCurrentTask { $0?.cancel() } }
        clock.advance(d)
        try Task.checkCancellation()
    }
}

/// Random values from a list, cycling; 0 when empty.
final class ScriptedRandom: Sendable {
    private let state: Mutex<(values: [Double], index: Int)>
    init(_ values: [Double]) { state = Mutex((values, 0)) }
    func next() -> Double {
        state.withLock { s in
            guard !s.values.isEmpty else { return 0 }
            defer { s.index += 1 }
            return s.values[s.index % s.values.count]
        }
    }
}

/// One scripted upstream answer.
enum Reply: Sendable {
    case http(Int, [HeaderField] = [], [UInt8])
    case fail(UpstreamFailure)
    /// Streaming head, then chunks, then the body ends (`nil`) or breaks with the failure.
    case stream(Int = 200, [HeaderField] = [], [[UInt8]], then: UpstreamFailure? = nil)
    /// Never answers; throws `.cancelled` when the calling task is cancelled.
    case hang
    /// Takes `d` of (manual) time, then gives the reply.
    indirect case slow(Duration, Reply)
}

/// A scripted `Upstream`: replies per base URL in order; records every call.
final class ScriptedUpstream: Upstream {
    struct Call: Sendable {
        var url: String
        var request: UpstreamRequest
        var at: Duration
    }

    private let state = Mutex<(scripts: [String: [Reply]], calls: [Call])>(([:], []))
    let clock: ManualClock

    init(clock: ManualClock, _ scripts: [String: [Reply]] = [:]) {
        self.clock = clock
        state.withLock { $0.scripts = scripts }
    }

    var calls: [Call] { state.withLock { $0.calls } }
    /// Hosts called, in order (`a`, `b`, …).
    var hosts: [String] { calls.map { host($0.url) } }

    func script(_ host: String, _ replies: [Reply]) { state.withLock { $0.scripts[host, default: []] += replies } }

    private func host(_ url: String) -> String {
        String(url.dropFirst("http://".count).prefix(while: { $0 != "/" }))
    }

    private func take(_ request: UpstreamRequest) -> Reply {
        let h = host(request.url)
        let at = clock.elapsed
        return state.withLock { s in
            s.calls.append(Call(url: request.url, request: request, at: at))
            guard var list = s.scripts[h], !list.isEmpty else { return .http(599, [], Array("unscripted".utf8)) }
            let r = list.removeFirst()
            s.scripts[h] = list
            return r
        }
    }

    func perform(_ request: UpstreamRequest) async throws(UpstreamFailure) -> UpstreamResponse {
        var reply = take(request)
        while true {
            switch reply {
            case .slow(let d, let r):
                clock.advance(d)
                reply = r
                continue
            case .http(let status, let headers, let body):
                return UpstreamResponse(head: UpstreamHead(status: status, headers: headers), body: body)
            case .fail(let f): throw f
            case .stream(let status, let headers, let chunks, let failure):
                if let failure { throw failure }
                return UpstreamResponse(
                    head: UpstreamHead(status: status, headers: headers), body: chunks.flatMap { $0 })
            case .hang:
                try await hang()
            }
        }
    }

    func stream(_ request: UpstreamRequest) async throws(UpstreamFailure) -> UpstreamStreamingResponse {
        var reply = take(request)
        while true {
            switch reply {
            case .slow(let d, let r):
                clock.advance(d)
                reply = r
                continue
            case .http(let status, let headers, let body):
                return response(status, headers, [body], nil)
            case .fail(let f): throw f
            case .stream(let status, let headers, let chunks, let failure):
                return response(status, headers, chunks, failure)
            case .hang:
                try await hang()
            }
        }
    }

    private func response(
        _ status: Int, _ headers: [HeaderField], _ chunks: [[UInt8]], _ failure: UpstreamFailure?
    ) -> UpstreamStreamingResponse {
        let (stream, continuation) = AsyncThrowingStream<[UInt8], any Error>.makeStream()
        for c in chunks { continuation.yield(c) }
        if failure == .timeout(.idle) {
            // A stall: the transport's idle timer fires.
            continuation.finish(throwing: UpstreamFailure.timeout(.idle))
        } else if failure == .cancelled {
            // Leave the body open: the consumer must be cancelled to get out.
        } else {
            continuation.finish(throwing: failure)
        }
        return UpstreamStreamingResponse(
            head: UpstreamHead(status: status, headers: headers), body: UpstreamBodyStream(stream))
    }

    private func hang() async throws(UpstreamFailure) -> Never {
        while true {
            do {
                try await Task.sleep(for: .seconds(3600))
            } catch {
                throw .cancelled
            }
        }
    }
}

/// Everything the observer saw, as short strings.
final class RecordingObserver: RouterObserver {
    private let log = Mutex<[String]>([])
    var events: [String] { log.withLock { $0 } }
    private func add(_ s: String) { log.withLock { $0.append(s) } }

    func attemptFinished(requestID: String, record: AttemptRecord) {
        add("attempt \(record.target)#\(record.attempt) \(record.outcome.rawValue)")
    }
    func retryScheduled(requestID: String, target: String, attempt: Int, delay: Duration) { add("retry \(target)") }
    func fallback(requestID: String, from: String, to: String, reason: AttemptOutcome?) {
        add("fallback \(from)->\(to) \(reason?.rawValue ?? "unavailable")")
    }
    func targetSkipped(requestID: String, target: String, reason: SkipReason) {
        add("skip \(target) \(reason.rawValue)")
    }
    func breakerChanged(target: String, from: BreakerState, to: BreakerState) {
        add("breaker \(target) \(from.rawValue)->\(to.rawValue)")
    }
    func budgetExhausted(requestID: String, target: String) { add("budget \(target)") }
    func allTargetsUnavailable(requestID: String, retryAfterSeconds: Int) { add("unavailable \(retryAfterSeconds)") }
    func malformedStreamEvents(requestID: String, target: String, count: Int) { add("malformed \(target) \(count)") }
    func continuation(requestID: String, from: String, to: String, outcome: ContinuationOutcome) {
        add("continuation \(from)->\(to) \(outcome.rawValue)")
    }
}

/// A router wired to a manual clock, fake sleep, scripted random and a recording observer.
struct Harness {
    let clock = ManualClock()
    let sleeper: FakeSleeper
    let upstream: ScriptedUpstream
    let observer = RecordingObserver()
    let router: Router

    init(policy: RoutingPolicy = RoutingPolicy(), random: [Double] = [0.5], _ scripts: [String: [Reply]] = [:]) {
        sleeper = FakeSleeper(clock: clock)
        upstream = ScriptedUpstream(clock: clock, scripts)
        let clock = self.clock
        let sleeper = self.sleeper
        let rnd = ScriptedRandom(random)
        router = Router(
            upstream: upstream, policy: policy, observer: observer, sleep: { try await sleeper.sleep($0) },
            now: { clock.now }, wallClock: { clock.wall }, random: { rnd.next() })
    }

    func complete(
        _ targets: [RouteTarget] = [target("a"), target("b", priority: 1)], id: String = "req1"
    ) async
        -> Result<RouteSuccess, RouteFailure>
    {
        await router.complete(chatRequest(), targets: targets, requestID: id)
    }

    func stream(
        _ targets: [RouteTarget] = [target("a"), target("b", priority: 1)], id: String = "req1"
    ) async
        -> Result<RoutedStream, RouteFailure>
    {
        await router.stream(chatRequest(stream: true), targets: targets, requestID: id)
    }
}

func target(
    _ name: String, priority: Int = 0, weight: Int = 1, timeouts: TargetTimeouts = TargetTimeouts()
) -> RouteTarget {
    RouteTarget(
        provider: name, model: "m", priority: priority, weight: weight, codec: OpenAICodec(),
        baseURL: "http://\(name)/v1", headers: [HeaderField("Authorization", "Bearer sk-secret-\(name)")],
        timeouts: timeouts)
}

func chatRequest(stream: Bool = false) -> ChatRequest {
    var r = ChatRequest(
        model: "gpt", messages: [],
        raw: ["model": "gpt", "messages": .array([["role": "user", "content": "hi"]]), "stream": .bool(stream)])
    r.stream = stream
    return r
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

func okBody(_ text: String = "hello") -> [UInt8] {
    bytes(
        #"{"id":"chatcmpl-up","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"\#(text)"},"finish_reason":"stop"}]}"#
    )
}

func errorBody(type: String = "server_error", code: String? = nil) -> [UInt8] {
    let c = code.map { "\"\($0)\"" } ?? "null"
    return bytes(#"{"error":{"message":"upstream says no","type":"\#(type)","param":null,"code":\#(c)}}"#)
}

let ok = Reply.http(200, [], okBody())

/// OpenAI SSE chunks.
func chunk(_ content: String? = nil, finish: String? = nil) -> [UInt8] {
    let c = content.map { #""content":"\#($0)""# } ?? ""
    let f = finish.map { "\"\($0)\"" } ?? "null"
    return bytes(
        #"data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{\#(c)},"finish_reason":\#(f)}]}"#
            + "\n\n")
}

let doneChunk = bytes("data: [DONE]\n\n")

extension Result {
    var success: Success? { if case .success(let s) = self { s } else { nil } }
    var failure: Failure? { if case .failure(let f) = self { f } else { nil } }
}
