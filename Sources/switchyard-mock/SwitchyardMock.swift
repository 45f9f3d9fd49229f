import ArgumentParser
import Glibc
import SwitchyardCore
import SwitchyardTestSupport

/// The mock upstream the tests use, started by hand: one port that speaks OpenAI, Anthropic and
/// Gemini wire formats, with optional faults to watch Switchyard fail over.
@main
struct SwitchyardMock: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchyard-mock",
        abstract: "A fake OpenAI/Anthropic/Gemini upstream for demos, tests and benchmarks.")

    @Option(help: "Port to listen on (127.0.0.1).")
    var port = 4010

    @Option(
        help:
            "Comma-separated provider kinds (openai, anthropic, gemini) that answer every call as overloaded (503; Anthropic 529)."
    )
    var fail = ""

    @Option(help: "Fixed reply text instead of echoing the last user message.")
    var reply: String?

    @Option(help: "Milliseconds between stream events.")
    var eventPauseMs = 0

    @Option(
        help:
            "Cut every stream after this many events (continuations of a prefilled answer are not cut): shows mid-stream recovery."
    )
    var cutStreamsAfter: Int?

    func run() throws {
        let failing = Set(fail.split(separator: ",").compactMap { MockProviderKind(rawValue: String($0)) })
        var llm = MockLLM(reply: reply)
        if eventPauseMs > 0 { llm.eventPause = .milliseconds(eventPauseMs) }
        let model = llm
        let cutStreamsAfter = cutStreamsAfter
        let server = try MockHTTPServer(port: port, recordRequests: false) { request in
            if let kind = MockProviderKind(path: request.path), failing.contains(kind) {
                return MockLLM.overloaded(kind)
            }
            if let cut = cutStreamsAfter, !MockLLM.hasPrefill(request) {
                return model.respond(request, breakingAfter: cut, .cut)
            }
            return model.respond(request)
        }
        let line =
            "switchyard-mock listening on http://127.0.0.1:\(server.port) (failing: \(failing.map(\.rawValue).sorted()))\n"
        _ = line.utf8CString.withUnsafeBufferPointer { Glibc.write(1, $0.baseAddress, $0.count - 1) }
        while true { pause() }
    }
}
