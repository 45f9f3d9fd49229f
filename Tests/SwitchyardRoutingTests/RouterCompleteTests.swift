import SwitchyardCore
import SwitchyardProviders
import SwitchyardRouting
import Synchronization
import Testing

/// A fault on the primary `a`; `b` answers. `calls` = upstream calls on `a`.
struct FailoverRow: Sendable, CustomTestStringConvertible {
    var name: String
    var reply: Reply
    var callsOnPrimary: Int
    var outcome: String
    var testDescription: String { name }
}

let failoverTable: [FailoverRow] = [
    .init(name: "connect failure", reply: .fail(.connect("refused")), callsOnPrimary: 2, outcome: "connect"),
    .init(name: "connection reset", reply: .fail(.transport("reset")), callsOnPrimary: 2, outcome: "transport"),
    .init(name: "408", reply: .http(408, [], errorBody()), callsOnPrimary: 2, outcome: "http_408"),
    .init(
        name: "429", reply: .http(429, [], errorBody(type: "rate_limit_error")), callsOnPrimary: 2, outcome: "http_429"),
    .init(name: "500", reply: .http(500, [], errorBody()), callsOnPrimary: 2, outcome: "http_500"),
    .init(name: "502", reply: .http(502, [], errorBody()), callsOnPrimary: 2, outcome: "http_502"),
    .init(name: "503", reply: .http(503, [], errorBody()), callsOnPrimary: 2, outcome: "http_503"),
    .init(name: "504", reply: .http(504, [], errorBody()), callsOnPrimary: 2, outcome: "http_504"),
    .init(
        name: "529", reply: .http(529, [], errorBody(type: "overloaded_error")), callsOnPrimary: 2, outcome: "http_529"),
    .init(
        name: "malformed 200 body", reply: .http(200, [], bytes("<html>")), callsOnPrimary: 2,
        outcome: "malformed_response"),
    .init(
        name: "first-byte timeout", reply: .fail(.timeout(.firstByte)), callsOnPrimary: 1, outcome: "timeout_first_byte"
    ),
    .init(name: "total timeout", reply: .fail(.timeout(.total)), callsOnPrimary: 1, outcome: "timeout_total"),
    .init(
        name: "401", reply: .http(401, [], errorBody(type: "invalid_request_error", code: "invalid_api_key")),
        callsOnPrimary: 1, outcome: "http_401"),
    .init(
        name: "403", reply: .http(403, [], errorBody(type: "permission_error")), callsOnPrimary: 1, outcome: "http_403"),
    .init(
        name: "404", reply: .http(404, [], errorBody(type: "invalid_request_error", code: "model_not_found")),
        callsOnPrimary: 1, outcome: "http_404"),
    .init(
        name: "context length 400",
        reply: .http(400, [], errorBody(type: "invalid_request_error", code: "context_length_exceeded")),
        callsOnPrimary: 1, outcome: "http_400"),
    .init(
        name: "insufficient_quota 429",
        reply: .http(429, [], errorBody(type: "insufficient_quota", code: "insufficient_quota")), callsOnPrimary: 1,
        outcome: "http_429"),
    .init(
        name: "503 + x-should-retry false", reply: .http(503, [HeaderField("x-should-retry", "false")], errorBody()),
        callsOnPrimary: 1, outcome: "http_503"),
]

@Suite struct RouterCompleteTests {
    @Test(arguments: failoverTable)
    func faultOnPrimaryEndsInSuccessFromNextTarget(_ row: FailoverRow) async throws {
        let h = Harness(["a": [row.reply, row.reply], "b": [ok]])
        let success = try #require(await h.complete().success)
        #expect(success.target.key == "b/m")
        #expect(h.upstream.hosts == Array(repeating: "a", count: row.callsOnPrimary) + ["b"])
        #expect(success.upstreamCalls == row.callsOnPrimary + 1)
        #expect(
            success.attempts.map(\.outcome.rawValue) == Array(repeating: row.outcome, count: row.callsOnPrimary) + [
                "ok"
            ])
        #expect(success.attempts.map(\.attempt) == Array(1...row.callsOnPrimary) + [1])
        #expect(success.attempts.last?.target == "b/m")
        #expect(success.attempts.last?.status == 200)
        #expect(h.observer.events.contains { $0.hasPrefix("fallback a/m->b/m") })
    }

    @Test(arguments: [
        ("400", errorBody(type: "invalid_request_error"), 400, "invalid_request_error"),
        (
            "content policy 400", errorBody(type: "invalid_request_error", code: "content_policy_violation"), 400,
            "invalid_request_error"
        ),
    ])
    func clientErrorIsFinalAfterOneCall(name: String, body: [UInt8], status: Int, type: String) async throws {
        let h = Harness(["a": [.http(400, [], body)], "b": [ok]])
        let failure = try #require(await h.complete().failure)
        #expect(h.upstream.hosts == ["a"])
        #expect(failure.upstreamCalls == 1)
        #expect(failure.error.status == status)
        #expect(failure.error.type == type)
        #expect(failure.error.message == "upstream says no")
    }

    @Test(arguments: [413, 422])
    func otherClientErrorsAreFinal(status: Int) async throws {
        let h = Harness(["a": [.http(status, [], errorBody(type: "invalid_request_error"))], "b": [ok]])
        let failure = try #require(await h.complete().failure)
        #expect(h.upstream.hosts == ["a"])
        #expect(failure.error.status == status)
    }

    @Test func xShouldRetryTrueRetriesAClientError() async throws {
        let reply = Reply.http(400, [HeaderField("x-should-retry", "true")], errorBody(type: "invalid_request_error"))
        let h = Harness(["a": [reply, ok]])
        let success = try #require(await h.complete().success)
        #expect(h.upstream.hosts == ["a", "a"])
        #expect(success.target.key == "a/m")
    }

    @Test func successOnFirstTry() async throws {
        let h = Harness(["a": [ok]])
        let success = try #require(await h.complete(id: "abc").success)
        #expect(success.upstreamCalls == 1)
        #expect(success.response.response.choices.first?.content == "hello")
        #expect(success.response.passthroughBody == okBody())
        #expect(h.upstream.calls[0].url == "http://a/v1/chat/completions")
        let headers = h.upstream.calls[0].request.headers
        #expect(headers.value(for: "content-type") == "application/json")
        #expect(headers.value(for: "authorization") == "Bearer sk-secret-a")
        #expect(h.sleeper.sleeps.isEmpty)
    }

    @Test func backoffBetweenRetriesUsesPolicyAndJitter() async throws {
        let h = Harness(random: [0.0], ["a": [.http(500, [], errorBody()), ok]])
        let success = try #require(await h.complete([target("a")]).success)
        #expect(success.upstreamCalls == 2)
        #expect(h.sleeper.sleeps == [.seconds(1)])
        #expect(h.upstream.calls[1].at == .seconds(1))
    }

    @Test func shortRetryAfterIsWaitedOutOnThePrimary() async throws {
        let h = Harness([
            "a": [.http(429, [HeaderField("retry-after", "2")], errorBody(type: "rate_limit_error")), ok], "b": [ok],
        ])
        let success = try #require(await h.complete().success)
        #expect(h.sleeper.sleeps.count == 1)
        #expect(try #require(h.sleeper.sleeps.first) >= .seconds(2))
        #expect(h.upstream.hosts == ["a", "a"])
        #expect(h.upstream.calls[1].at >= .seconds(2))
        #expect(success.target.key == "a/m")
    }

    @Test func retryAfterMsAndBodyHintAreHonoured() async throws {
        let h = Harness(["a": [.http(503, [HeaderField("retry-after-ms", "1500")], errorBody()), ok]])
        _ = try #require(await h.complete().success)
        #expect(h.sleeper.sleeps == [.milliseconds(1500)])
    }

    @Test func longRetryAfterCoolsDownAndFallsBackAtOnce() async throws {
        let h = Harness([
            "a": [.http(429, [HeaderField("retry-after", "30")], errorBody(type: "rate_limit_error"))], "b": [ok, ok],
        ])
        let success = try #require(await h.complete().success)
        #expect(success.target.key == "b/m")
        #expect(h.sleeper.sleeps.isEmpty)
        #expect(h.upstream.hosts == ["a", "b"])
        // Cooling down, not a breaker failure: the next request skips `a` without calling it.
        #expect(h.router.breakerSnapshot()["a/m"] == .closed)
        _ = try #require(await h.complete(id: "req2").success)
        #expect(h.upstream.hosts == ["a", "b", "b"])
        #expect(h.observer.events.contains("skip a/m cooldown"))
    }

    @Test func retryAfterHTTPDateUsesWallClock() async throws {
        // Wall clock starts at 1_700_000_000 = Tue, 14 Nov 2023 22:13:20 GMT.
        let date = "Tue, 14 Nov 2023 22:13:23 GMT"
        let h = Harness(["a": [.http(503, [HeaderField("retry-after", date)], errorBody()), ok]])
        _ = try #require(await h.complete().success)
        #expect(h.sleeper.sleeps == [.seconds(3)])
    }

    @Test func allFailingReturnsLastErrorWithShouldRetryFalse() async throws {
        let e503 = Reply.http(503, [], errorBody())
        let h = Harness(["a": [e503, e503], "b": [e503, e503]])
        let failure = try #require(await h.complete().failure)
        #expect(failure.upstreamCalls == 4)
        #expect(failure.error.status == 503)
        #expect(failure.error.shouldRetry == false)
        #expect(failure.error.retryAfterSeconds ?? 0 >= 1)
        #expect(failure.attempts.map(\.target) == ["a/m", "a/m", "b/m", "b/m"])
        #expect(failure.attempts.map(\.attempt) == [1, 2, 1, 2])
    }

    @Test func allFailingWithAuthErrorsIs502() async throws {
        let e401 = Reply.http(401, [], errorBody(type: "invalid_request_error", code: "invalid_api_key"))
        let h = Harness(["a": [e401], "b": [e401]])
        let failure = try #require(await h.complete().failure)
        #expect(failure.upstreamCalls == 2)
        #expect(failure.error.status == 502)
        #expect(failure.error.code == "upstream_auth_failed")
        #expect(failure.error.shouldRetry == false)
        #expect(String(decoding: failure.error.body, as: UTF8.self).contains("upstream_error"))
    }

    @Test func unreachableEverywhereIs502Unreachable() async throws {
        let h = Harness(
            policy: RoutingPolicy(attemptsPerTarget: 1), ["a": [.fail(.connect("x"))], "b": [.fail(.connect("x"))]])
        let failure = try #require(await h.complete().failure)
        #expect(failure.error.status == 502)
        #expect(failure.error.code == "upstream_unreachable")
        #expect(failure.error.shouldRetry == false)
    }

    @Test func deadlineCapsWaits() async throws {
        // 3 s deadline: a 2 s Retry-After fits once; the 8 s backoff that would follow does not.
        let policy = RoutingPolicy(attemptsPerTarget: 3, initialBackoff: .seconds(8), deadline: .seconds(3))
        let slow503 = Reply.slow(.milliseconds(500), .http(503, [HeaderField("retry-after", "2")], errorBody()))
        let h = Harness(policy: policy, ["a": [slow503, .http(500, [], errorBody()), ok]])
        let failure = try #require(await h.complete([target("a")]).failure)
        #expect(h.sleeper.sleeps == [.seconds(2)])
        #expect(h.upstream.hosts == ["a", "a"])
        #expect(h.clock.elapsed <= .seconds(3))
        #expect(failure.error.status == 502)
    }

    @Test func attemptTimeoutsShrinkToTheRemainingDeadline() async throws {
        let policy = RoutingPolicy(deadline: .seconds(5))
        let h = Harness(policy: policy, ["a": [.slow(.seconds(2), .http(500, [], errorBody())), ok]])
        _ = try #require(await h.complete([target("a")]).success)
        let first = h.upstream.calls[0].request
        #expect(first.timeout == .seconds(5))
        #expect(first.connectTimeout == .seconds(5))
        let second = h.upstream.calls[1].request
        // 2 s spent in the first call, then a backoff of 0.875 s (jitter 0.5).
        #expect(second.timeout == .seconds(5) - .seconds(2) - .milliseconds(875))
    }

    @Test func deadlinePassedBeforeAnyCallIs504() async throws {
        let policy = RoutingPolicy(deadline: .zero)
        let h = Harness(policy: policy, ["a": [ok]])
        let failure = try #require(await h.complete().failure)
        #expect(failure.error.status == 504)
        #expect(h.upstream.calls.isEmpty)
    }

    @Test func weightedPoolOrderFollowsInjectedRandom() async throws {
        let targets = [target("a", weight: 1), target("b", weight: 3), target("c", priority: 1)]
        // r = 0.1 → 0.4 of 4 → a first; r = 0.5 → 2.0 of 4 → b first.
        let h1 = Harness(random: [0.1], ["a": [ok], "b": [ok]])
        #expect(try #require(await h1.complete(targets).success).target.key == "a/m")
        let h2 = Harness(random: [0.5], ["a": [ok], "b": [ok]])
        #expect(try #require(await h2.complete(targets).success).target.key == "b/m")
        let down = Reply.fail(.timeout(.firstByte))
        let h3 = Harness(random: [0.5], ["a": [down], "b": [down], "c": [ok]])
        _ = try #require(await h3.complete(targets).success)
        #expect(h3.upstream.hosts == ["b", "a", "c"])
    }

    @Test func cancellationStopsAllWork() async throws {
        let h = Harness(["a": [.hang], "b": [ok]])
        let task = Task { await h.complete() }
        while h.upstream.calls.isEmpty { await Task.yield() }
        task.cancel()
        let failure = try #require(await task.value.failure)
        #expect(failure.error.code == "client_cancelled")
        #expect(h.upstream.hosts == ["a"])
        #expect(failure.attempts.map(\.outcome) == [.cancelled])
        #expect(h.router.breakerSnapshot()["a/m"] == .closed)
    }

    @Test func cancellationDuringBackoffStopsAllWork() async throws {
        let h = Harness(["a": [.http(500, [], errorBody()), ok], "b": [ok]])
        h.sleeper.cancelOnSleep.withLock { $0 = true }
        let failure = try #require(await h.complete().failure)
        #expect(failure.error.code == "client_cancelled")
        #expect(h.sleeper.sleeps.count == 1)
        #expect(h.upstream.hosts == ["a"])
    }

    @Test func alreadyCancelledMakesNoCall() async throws {
        let h = Harness(["a": [ok]])
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await h.complete()
        }
        let failure = try #require(await task.value.failure)
        #expect(failure.error.code == "client_cancelled")
        #expect(h.upstream.calls.isEmpty)
    }

    @Test func updatePolicyTakesEffect() async throws {
        let h = Harness(["a": [.http(500, [], errorBody()), ok], "b": [ok]])
        h.router.updatePolicy(RoutingPolicy(attemptsPerTarget: 1))
        let success = try #require(await h.complete().success)
        #expect(success.target.key == "b/m")
        #expect(h.upstream.hosts == ["a", "b"])
    }
}
