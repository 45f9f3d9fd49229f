import ArgumentParser
import Foundation
import SwitchyardCore
import SwitchyardProviders

/// `switchyard-bench bodies`: how long the request path's parsing and translation take on large
/// and hostile bodies: an object with 160,000 members (1.8 MB) and one
/// with 600,000 (7 MB), a long escaped string, a long array, a nesting bomb, 60,000 tool calls
/// with their results and a Gemini tool schema whose `$ref`s fan out 10 ways over 8 levels. Each
/// row is the best of `--rounds` in CPU time of one core, for `JSON.parse` alone and for the
/// whole translation (parse the client body, encode the upstream body for the row's provider).
struct BodiesBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bodies",
        abstract: "Parse and translation time of large and hostile request bodies (best of N rounds).")

    @Option(help: "Rounds per body; the best is printed.")
    var rounds = 3

    @Option(help: "Members of the large objects (comma-separated).")
    var keys = "160000,600000"

    @Flag(help: "Leave out the Gemini $ref fan-out row (before its bound, it does not finish).")
    var skipFanOut = false

    func validate() throws {
        guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1") }
        guard !memberCounts.isEmpty else { throw ValidationError("--keys needs at least one count") }
    }

    var memberCounts: [Int] { keys.split(separator: ",").compactMap { Int($0) }.filter { $0 > 0 } }

    @Flag(help: .hidden) var redactionOnly = false

    func run() throws {
        if redactionOnly {
            for _ in 0..<10 { redactionRows() }
            return
        }
        for count in memberCounts {
            let body = Self.objectBody(keys: count)
            row("object \(count) keys", body) { try ChatRequest.parse(body: body) }
        }
        let escaped = Self.chat(content: String(repeating: #"\n\"\u00e9"#, count: 500_000))
        row("string with 1.5M escapes", escaped) { try ChatRequest.parse(body: escaped) }
        let array = Self.chat(
            extra: #","stop":["# + Array(repeating: "1", count: 1_000_000).joined(separator: ",") + "]")
        row("array of 1M numbers", array) { try ChatRequest.parse(body: array) }
        let nesting = Array((String(repeating: "[", count: 4_000_000) + String(repeating: "]", count: 4_000_000)).utf8)
        row("nesting 4M deep", nesting) { try ChatRequest.parse(body: nesting) }
        let calls = Self.toolCallPairs(60_000)
        row("anthropic 60000 tool calls and results", calls) { try ChatRequest.parse(body: calls) }
        row("gemini 60000 tool calls and results", calls) { try ChatRequest.parse(body: calls) }
        redactionRows()
        guard !skipFanOut else { return }
        let fanOut = Self.fanOutSchemaBody(width: 10, depth: 8)
        row("gemini $ref fan-out 10^8", fanOut) { try ChatRequest.parse(body: fanOut) }
    }

    /// Prints the JSON parse time and the time to the upstream body (OpenAI for most rows, Gemini
    /// for the schema row), or what the translation answered when it refused the body.
    func row(_ name: String, _ body: [UInt8], parse: () throws -> ChatRequest) {
        let parseTime = best { _ = try? JSON.parse(body) }
        let kind: ProviderKind =
            name.hasPrefix("gemini") ? .gemini : name.hasPrefix("anthropic") ? .anthropic : .openai
        let codec = kind.codec
        let target = TargetContext(providerName: kind.rawValue, upstreamModel: "bench-model")
        var outcome = ""
        let translateTime = best {
            do {
                let request = try parse()
                let encoded = try codec.encode(request, for: target)
                outcome = "\(encoded.body.count) bytes upstream"
            } catch let error as APIError {
                outcome = "\(error.status) \(error.code ?? error.type)"
            } catch {
                outcome = "\(error)"
            }
        }
        print(
            "\(name): \(body.count) bytes, JSON.parse \(formatMillis(parseTime)), "
                + "to \(kind.rawValue) upstream body \(formatMillis(translateTime)) (\(outcome))")
    }

    /// What `RedactingUpstream` costs: a 1 MiB stream body and the bench's 300-byte answer,
    /// with three configured secrets none of which occurs (the usual case).
    func redactionRows() {
        let redactor = Redactor(secrets: [
            "sk-proj-Q7v2LmN9xR4tW8yZ1aB3cD5eF6gH0jKlMnOpQrStUvWx", "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789",
            "AIzaSyD4mPq9R7sT2uV5wX8yZ0aB1cD3eF6gH7j",
        ])
        let event =
            Array(#"data: {"choices":[{"index":0,"delta":{"content":"some words of an answer "}}]}"#.utf8) + [10, 10]
        var body: [UInt8] = []
        while body.count < 1 << 20 { body += event }
        var total = 0
        let stream = best {
            var s = StreamRedaction(redactor)
            var i = 0
            while i < body.count {
                total &+= s.feed(Array(body[i..<min(body.count, i + event.count * 4)])).count
                i += event.count * 4
            }
        }
        let answer = Array(CodecBench.answers[.openai]!.utf8)
        let started = ContinuousClock.now
        for _ in 0..<100_000 { total &+= redactor.redact(answer).count }
        let perAnswer = (ContinuousClock.now - started) / 100_000
        let (_, atto) = perAnswer.components
        print(
            "redaction, 3 secrets: 1 MiB of SSE in 4-event chunks \(formatMillis(stream)); "
                + "the \(answer.count)-byte codec answer \(atto / 1_000_000_000) ns"
                + (total == 0 ? " (no output)" : ""))
    }

    /// The least CPU time of this thread `body` took over `rounds` runs: on a machine shared with
    /// other work, wall time measures the neighbours too.
    func best(_ body: () -> Void) -> Duration {
        var fastest = Duration.seconds(Int64.max)
        for _ in 0..<rounds {
            let started = Self.threadCPUTime()
            body()
            fastest = min(fastest, Self.threadCPUTime() - started)
        }
        return fastest
    }

    static func threadCPUTime() -> Duration {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return .seconds(Int64(ts.tv_sec)) + .nanoseconds(Int64(ts.tv_nsec))
    }

    /// A chat request whose `metadata` has `keys` members `"k<n>":<digit>` (about 11 bytes each,
    /// the shape of bench/hostile's 1.8 MB body).
    static func objectBody(keys: Int) -> [UInt8] {
        var out = Array(#"{"model":"bench","messages":[{"role":"user","content":"hi"}],"metadata":{"#.utf8)
        out.reserveCapacity(keys * 12 + 100)
        for i in 0..<keys {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: "\"k\(i)\":\(i % 10)".utf8)
        }
        out.append(contentsOf: "}}".utf8)
        return out
    }

    static func chat(content: String = "hi", extra: String = "") -> [UInt8] {
        Array(#"{"model":"bench","messages":[{"role":"user","content":"\#(content)"}]\#(extra)}"#.utf8)
    }

    /// An assistant message with `n` tool calls, each answered by a tool message: the codecs pair
    /// calls and results (about 8 MB for 60,000).
    static func toolCallPairs(_ n: Int) -> [UInt8] {
        var out = Array(
            #"{"model":"bench","messages":[{"role":"user","content":"go"},{"role":"assistant","content":null,"tool_calls":["#
                .utf8)
        for i in 0..<n {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out += Array(#"{"id":"c\#(i)","type":"function","function":{"name":"f","arguments":"{}"}}"#.utf8)
        }
        out += Array("]}".utf8)
        for i in 0..<n { out += Array(#",{"role":"tool","tool_call_id":"c\#(i)","content":"x"}"#.utf8) }
        out += Array(#"],"tools":[{"type":"function","function":{"name":"f"}}]}"#.utf8)
        return out
    }

    /// One tool whose schema's `$defs` d0…d(depth-1) each have `width` properties referring to the
    /// next definition: about 3 KB that inline to width^depth nodes.
    static func fanOutSchemaBody(width: Int, depth: Int) -> [UInt8] {
        var defs: [String] = []
        for level in 0..<depth {
            let props = (0..<width).map { i in
                level + 1 < depth ? ##""p\##(i)":{"$ref":"#/$defs/d\##(level + 1)"}"## : #""p\#(i)":{"type":"string"}"#
            }
            defs.append(#""d\#(level)":{"type":"object","properties":{\#(props.joined(separator: ","))}}"#)
        }
        let schema =
            ##"{"type":"object","properties":{"root":{"$ref":"#/$defs/d0"}},"$defs":{\##(defs.joined(separator: ","))}}"##
        let tool = #"{"type":"function","function":{"name":"fan","parameters":\#(schema)}}"#
        return chat(extra: #","tools":[\#(tool)]"#)
    }
}

/// "12.3 ms".
func formatMillis(_ duration: Duration) -> String {
    let (seconds, attoseconds) = duration.components
    return String(format: "%.1f ms", Double(seconds) * 1e3 + Double(attoseconds) / 1e15)
}
