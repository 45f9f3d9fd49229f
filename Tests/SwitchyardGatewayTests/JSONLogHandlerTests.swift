import Glibc
import Logging
import SwitchyardCore
import Testing

@testable import SwitchyardGateway

/// The log line's bytes: fields sorted by key after `ts`, `level`, `msg` and `logger`; integers
/// bare, every other value a JSON string; the handler's own metadata merged under the event's.
/// These pin the format the access log is read in (log pipelines, the process tests).
@Suite struct JSONLogHandlerTests {
    static func line(_ handlerMetadata: Logger.Metadata = [:], _ log: (Logger) -> Void) -> String {
        let sink = LogSink(capture: true)
        var logger = Logger(label: "test") { label in
            var handler = JSONLogHandler(label: label, sink: sink)
            handler.metadata = handlerMetadata
            return handler
        }
        logger.logLevel = .debug
        log(logger)
        return sink.captured
    }

    /// The line with its timestamp checked and cut out.
    static func withoutTimestamp(_ line: String) throws -> String {
        let prefix = #"{"ts":""#
        #expect(line.hasPrefix(prefix))
        let ts = line.dropFirst(prefix.count).prefix(24)
        #expect(ts.wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/) != nil, "\(line)")
        return String(line.dropFirst(prefix.count + 24))
    }

    @Test func aRequestLineKeepsItsFieldsOrderAndValueShapes() throws {
        let line = Self.line { logger in
            logger.info(
                "request",
                metadata: [
                    "request_id": "req_1", "status": .stringConvertible(200), "stream": .stringConvertible(false),
                    "latency_ms": .string("1.25"), "prompt_tokens": .stringConvertible(-3),
                    "small": .stringConvertible(UInt8(7)), "ratio": .stringConvertible(0.5),
                    "model": .string("a \"quoted\"\nmodel"),
                    "targets": .array([
                        .dictionary([
                            "target": "openai/m", "attempt": .stringConvertible(1), "outcome": "ok", "ms": "0.5",
                        ])
                    ]),
                ])
        }
        #expect(
            try Self.withoutTimestamp(line)
                == #"","level":"info","msg":"request","logger":"test","latency_ms":"1.25","#
                + #""model":"a \"quoted\"\nmodel","prompt_tokens":-3,"ratio":"0.5","request_id":"req_1","#
                + #""small":7,"status":200,"stream":"false","#
                + #""targets":[{"attempt":1,"ms":"0.5","outcome":"ok","target":"openai/m"}]}"# + "\n")
    }

    @Test func theHandlersMetadataIsMergedUnderTheEvents() throws {
        let line = Self.line(["service": "gw", "status": "handler"]) { logger in
            logger.warning("x", metadata: ["status": .stringConvertible(503)])
        }
        #expect(
            try Self.withoutTimestamp(line)
                == #"","level":"warning","msg":"x","logger":"test","service":"gw","status":503}"# + "\n")
        let alone = Self.line(["service": "gw"]) { $0.error("y") }
        #expect(
            try Self.withoutTimestamp(alone) == #"","level":"error","msg":"y","logger":"test","service":"gw"}"# + "\n")
        let bare = Self.line { $0.debug("z") }
        #expect(try Self.withoutTimestamp(bare) == #"","level":"debug","msg":"z","logger":"test"}"# + "\n")
    }

    @Test func theTimestampIsTheWallClockInUTC() throws {
        // `WallClock` rather than `clock_gettime` here: whether `timespec`'s members count as
        // imported by `Glibc` depends on which files the compiler builds together
        // (MemberImportVisibility). (`time()` may read a coarser clock than the line's.)
        let before = WallClock.now().seconds
        let line = Self.line { $0.info("t") }
        let after = WallClock.now().seconds
        let ts = String(line.dropFirst(#"{"ts":""#.count).prefix(24))
        // Whole seconds since the epoch, read back from the text.
        let parts = ts.split(whereSeparator: { "-T:.Z".contains($0) }).map { Int($0)! }
        var tm = Glibc.tm()
        tm.tm_year = Int32(parts[0] - 1900)
        tm.tm_mon = Int32(parts[1] - 1)
        tm.tm_mday = Int32(parts[2])
        tm.tm_hour = Int32(parts[3])
        tm.tm_min = Int32(parts[4])
        tm.tm_sec = Int32(parts[5])
        let seconds = timegm(&tm)
        #expect(seconds >= before && seconds <= after, "\(ts)")
        #expect((0..<1000).contains(parts[6]))
    }
}
