import Logging
import SwitchyardCore
import SwitchyardEdge
import SwitchyardRouting
import Testing

@testable import SwitchyardGateway

/// The access line the gateway writes straight into its `JSONLogHandler`'s line
/// (`RequestLog.writeFields`) is byte for byte the line swift-log's path writes for the same
/// request (`RequestLog.emit`): keys, their order, the forms of numbers, flags and milliseconds,
/// escaping, `msg` and `logger`. Any other handler, or one with metadata of its own, gets the
/// swift-log line.
@Suite struct AccessLineTests {
    typealias Lines = (fast: String, swiftLog: String)

    /// Both lines of `log`, their timestamps cut out.
    static func lines(_ log: RequestLog, status: Int, outcome: RequestOutcome, elapsed: Duration) throws -> Lines {
        let fastSink = LogSink(capture: true)
        JSONLogHandler(label: "switchyard", sink: fastSink).write(level: .info, message: "request") { o in
            log.writeFields(into: &o, status: status, outcome: outcome, elapsed: elapsed)
        }
        let sink = LogSink(capture: true)
        let logger = Logger(label: "switchyard") { JSONLogHandler(label: $0, sink: sink) }
        log.emit(to: logger, status: status, outcome: outcome, elapsed: elapsed)
        return (
            try JSONLogHandlerTests.withoutTimestamp(fastSink.captured),
            try JSONLogHandlerTests.withoutTimestamp(sink.captured)
        )
    }

    static func attempt(_ target: String, _ n: Int, _ outcome: AttemptOutcome, _ d: Duration) -> AttemptRecord {
        AttemptRecord(
            target: target, provider: String(target.prefix { $0 != "/" }), model: "m", attempt: n, outcome: outcome,
            status: nil, duration: d)
    }

    @Test func aRichRequestsLineIsSwiftLogsLine() throws {
        // A model name of more than 128 characters, some of several bytes and one of several
        // scalars, with quotes, a backslash and control characters: cut at 128 characters.
        let oddModel = "gpt-\"4o\"\\mini\n\t\u{1}é🇫🇷" + String(repeating: "añ👍🏽", count: 60)
        var log = RequestLog(requestID: "req_\"odd\"\u{7f}", keyName: "app key \"β\"\u{0}")
        log.api = .responses
        log.model = oddModel
        log.configuredModel = "fast"
        log.stream = true
        log.provider = "anthropic"
        log.upstreamModel = "claude-\u{1b}[31m"
        log.attempts = [
            Self.attempt("openai/gpt-4o", 1, .http(503), .milliseconds(12.3456)),
            Self.attempt("openai/gpt-4o", 2, .timeout(.firstByte), .seconds(30)),
            Self.attempt("anthropic/claude\"x\"", 1, .ok, .nanoseconds(1)),
        ]
        log.continuations = [
            ContinuationRecord(from: "anthropic/claude\"x\"", to: "gemini/g", outcome: .failed),
            ContinuationRecord(from: "gemini/g", to: "none", outcome: .unavailable),
        ]
        log.usage = Usage(promptTokens: 1_234_567, completionTokens: -1)
        log.ttft = .microseconds(999_999.5)
        log.errorCode = "rate_limit_exceeded"
        log.streamError = "upstream\nbroke"
        log.operation = "count_tokens"
        let (fast, swiftLog) = try Self.lines(
            log, status: 499, outcome: .clientDisconnected, elapsed: .seconds(7261.0005))
        #expect(fast == swiftLog)
        // Every field is there (the comparison is not between two short lines).
        for key in [
            "api", "client_key", "completion_tokens", "continuations", "error", "latency_ms", "model", "operation",
            "outcome", "prompt_tokens", "provider", "request_id", "status", "stream", "stream_error", "targets",
            "ttft_ms", "upstream_model",
        ] {
            #expect(fast.contains("\"\(key)\":"), "\(key) in \(fast)")
        }
        #expect(fast.contains(#""ttft_ms":"1000.0""#), "\(fast)")
    }

    @Test func aPlainRequestsLineIsSwiftLogsLine() throws {
        var log = RequestLog(requestID: "req_1", keyName: "app")
        log.model = "fast"
        log.provider = "openai"
        log.upstreamModel = "gpt-4o-mini"
        log.attempts = [Self.attempt("openai/gpt-4o-mini", 1, .ok, .microseconds(1500))]
        log.usage = Usage(promptTokens: 3, completionTokens: 1)
        let (fast, swiftLog) = try Self.lines(log, status: 200, outcome: .ok, elapsed: .microseconds(2047))
        #expect(fast == swiftLog)
        #expect(
            fast
                == #"","level":"info","msg":"request","logger":"switchyard","api":"chat","client_key":"app","#
                + #""completion_tokens":1,"latency_ms":"2.047","model":"fast","outcome":"ok","prompt_tokens":3,"#
                + #""provider":"openai","request_id":"req_1","status":200,"stream":"false","#
                + #""targets":[{"attempt":1,"ms":"1.5","outcome":"ok","target":"openai/gpt-4o-mini"}],"#
                + #""upstream_model":"gpt-4o-mini"}"# + "\n")
        // A request refused before any attempt: the fewest fields.
        let bare = try Self.lines(
            RequestLog(requestID: "", keyName: ""), status: 400, outcome: .error, elapsed: .zero)
        #expect(bare.fast == bare.swiftLog)
    }

    /// The milliseconds are `String(Double)`'s form of the value rounded to the microsecond, for
    /// every microsecond of the first two seconds, and for durations with sub-microsecond parts
    /// up to days and beyond the fast form's range.
    @Test func millisecondsAreStringDoublesForm() {
        func expected(_ d: Duration) -> String {
            "\"" + String((d.inMilliseconds * 1000).rounded() / 1000) + "\""
        }
        func written(_ d: Duration) -> String {
            var o: [UInt8] = []
            RequestLog.milliseconds(d, into: &o)
            return String(decoding: o, as: UTF8.self)
        }
        var mismatches: [String] = []
        for micros in 0..<500_000 {
            let d = Duration.microseconds(micros)
            if written(d) != expected(d) { mismatches.append("\(micros) us: \(written(d)) vs \(expected(d))") }
            if mismatches.count > 5 { break }
        }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<100_000 {
            let d = Duration(
                secondsComponent: Int64.random(in: 0...400_000, using: &generator),
                attosecondsComponent: Int64.random(in: 0..<1_000_000_000_000_000_000, using: &generator))
            if written(d) != expected(d) { mismatches.append("\(d): \(written(d)) vs \(expected(d))") }
        }
        for d: Duration in [
            .nanoseconds(499), .nanoseconds(500), .nanoseconds(1499), .seconds(1_125_899_906), .seconds(1_125_899_907),
            .seconds(Int64(1) << 50), .seconds(Int64(1) << 60), .seconds(-1), .nanoseconds(-400),
        ] where written(d) != expected(d) {
            mismatches.append("\(d): \(written(d)) vs \(expected(d))")
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(10))")
    }

    /// The gateway writes the line itself only into a `JSONLogHandler` with no metadata of its
    /// own; the handler's metadata is merged in (through swift-log) when it has some, and a
    /// handler of another kind gets the line through swift-log.
    @Test func onlyAPlainJSONHandlerGetsTheLineWrittenInPlace() async throws {
        let plain = LogSink(capture: true)
        let gateway = try Self.gateway(Logger(label: "gate") { JSONLogHandler(label: $0, sink: plain) })
        #expect(gateway.accessLogHandler != nil)

        let tagged = LogSink(capture: true)
        let withMetadata = try Self.gateway(
            Logger(label: "gate") { label in
                var handler = JSONLogHandler(label: label, sink: tagged)
                handler.metadata = ["service": "gw", "status": "the handler's"]
                return handler
            })
        #expect(withMetadata.accessLogHandler == nil)

        let other = try Self.gateway(Logger(label: "gate") { _ in SwiftLogNoOpLogHandler() })
        #expect(other.accessLogHandler == nil)

        for g in [gateway, withMetadata] {
            let answers = LogLevelGateTests.Answers()
            await g.handle(LogLevelGateTests.request, responder: HTTPResponder(sink: answers))
            #expect(answers.statuses == [200])
        }
        let line = try JSONLogHandlerTests.withoutTimestamp(plain.captured)
        #expect(line.hasPrefix(#"","level":"info","msg":"request","logger":"gate","api":"chat","client_key":"app","#))
        #expect(line.contains(#""status":200,"stream":"false","#), "\(line)")
        let merged = try JSONLogHandlerTests.withoutTimestamp(tagged.captured)
        #expect(merged.contains(#""request_id":"#), "\(merged)")
        #expect(merged.contains(#""service":"gw","status":200,"#), "the request's status over the handler's: \(merged)")
    }

    static func gateway(_ logger: Logger) throws -> Gateway {
        var logger = logger
        logger.logLevel = .info
        return try Gateway.inProcess(
            config: try ConfigLoader.parse(yaml: LogLevelGateTests.config),
            environment: ["GATE_CLIENT_KEY": "sk-gate-client", "GATE_OPENAI_KEY": "sk-gate-upstream"],
            upstream: LogLevelGateTests.Canned(body: LogLevelGateTests.answer), logger: logger, sleep: { _ in })
    }
}
