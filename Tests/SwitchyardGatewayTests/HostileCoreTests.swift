import Foundation
import SwitchyardCore
import SwitchyardGateway
import SwitchyardTestSupport
import Testing

/// Hostile input and faults through the real gateway over loopback:
/// large bodies, schema fan-out, tool-call ids. Each failed on the code before its fix.
@Suite struct HostileCoreTests {
    static let models = """
          - {name: g, targets: [{provider: gemini, model: gemini-2.0-flash}]}
          - {name: o, targets: [{provider: openai, model: gpt-4o-mini}]}
        """

    static let tools =
        #"[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}]"#

    static func toolIDs(_ r: UpstreamResponse) -> [String] {
        r.json?["choices"]?.arrayValue?.first?["message"]?["tool_calls"]?.arrayValue?.compactMap {
            $0["id"]?.stringValue
        } ?? []
    }

    /// A 3 KB tool schema whose `$ref`s fan out 10 ways over 8 levels is refused at once with a
    /// 400 naming the tool; nothing is sent upstream and the process keeps answering.
    @Test func refFanOutIsRefusedWithoutAnUpstreamCall() async throws {
        let mock = try MockHTTPServer { MockLLM().respond($0) }
        let h = try await GatewayHarness.start(yaml: yaml(mock: mock, models: Self.models))
        defer {
            h.stop()
            mock.stop()
        }
        var defs: [String] = []
        for level in 0..<8 {
            let props = (0..<10).map { i in
                level < 7 ? ##""p\##(i)":{"$ref":"#/$defs/d\##(level + 1)"}"## : #""p\#(i)":{"type":"string"}"#
            }
            defs.append(#""d\#(level)":{"type":"object","properties":{\#(props.joined(separator: ","))}}"#)
        }
        let schema =
            ##"{"type":"object","properties":{"root":{"$ref":"#/$defs/d0"}},"$defs":{\##(defs.joined(separator: ","))}}"##
        let body =
            #"{"model":"g","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"fan","parameters":\#(schema)}}]}"#
        #expect(body.utf8.count < 3_000)
        for stream in [false, true] {
            let r = try await h.chat(
                stream ? body.replacingOccurrences(of: #""model":"g""#, with: #""model":"g","stream":true"#) : body)
            #expect(r.head.status == 400)
            #expect(r.json?["error"]?["param"] == "tools[0].function.parameters")
            #expect(r.json?["error"]?["code"] == "schema_too_large")
        }
        #expect(mock.requestCount == 0)
        #expect(try await h.request("GET", "/healthz", key: nil).head.status == 200)
    }

    /// A body whose `metadata` has 160,000 members (1.8 MB) is forwarded and answered: object
    /// members were inserted by a linear scan, 37 s in a release build (far longer in a debug one).
    @Test func aBodyWith160000MembersIsAnswered() async throws {
        let mock = try MockHTTPServer { MockLLM().respond($0) }
        let config = yaml(mock: mock, models: Self.models)
            .replacingOccurrences(of: "max_body_bytes: 65536", with: "max_body_bytes: 8388608")
        let h = try await GatewayHarness.start(yaml: config)
        defer {
            h.stop()
            mock.stop()
        }
        var body = #"{"model":"o","messages":[{"role":"user","content":"hi"}],"metadata":{"#
        body += (0..<160_000).map { #""k\#($0)":\#($0 % 10)"# }.joined(separator: ",")
        body += #","k7":"last"}}"#
        #expect(body.utf8.count > 1_800_000)
        let r = try await h.chat(body)
        #expect(r.head.status == 200)
        // Forwarded once, in order, with the duplicate's last value in its first position.
        let forwarded = try #require(mock.requests.last.flatMap { try? JSON.parse($0.body) })
        let metadata = try #require(forwarded["metadata"]?.objectValue)
        #expect(metadata.count == 160_000)
        #expect(metadata.keys.prefix(3) == ["k0", "k1", "k2"])
        #expect(metadata["k7"] == "last")
    }

    /// Synthesised Gemini tool-call ids: new for every request and every turn, stable within one
    /// stream and its idempotent replay.
    @Test func geminiToolCallIdsAreUniquePerCall() async throws {
        // Gemini calling a function (without an id) whatever the conversation holds.
        let candidate =
            #"{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}}]},"finishReason":"STOP","index":0}]}"#
        let mock = try MockHTTPServer { r in
            r.path.contains(":streamGenerateContent")
                ? .sse(events: ["data: " + candidate]) : .json(Array(candidate.utf8))
        }
        let h = try await GatewayHarness.start(yaml: yaml(mock: mock, models: Self.models))
        defer {
            h.stop()
            mock.stop()
        }
        let ask = #"{"model":"g","messages":[{"role":"user","content":"weather?"}],"tools":\#(Self.tools)}"#
        let first = Self.toolIDs(try await h.chat(ask))
        let second = Self.toolIDs(try await h.chat(ask, headers: [HeaderField("x-request-id", "fixed")]))
        let third = Self.toolIDs(try await h.chat(ask, headers: [HeaderField("x-request-id", "fixed")]))
        #expect(first.count == 1 && second.count == 1 && third.count == 1)
        #expect(Set(first + second + third).count == 3)

        // The next turn of the same conversation asks again: a new call, a new id.
        let callID = try #require(first.first)
        let nextTurn = #"""
            {"model":"g","tools":\#(Self.tools),"messages":[{"role":"user","content":"weather?"},
            {"role":"assistant","content":null,"tool_calls":[{"id":"\#(callID)","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
            {"role":"tool","tool_call_id":"\#(callID)","content":"sunny"},{"role":"user","content":"and tomorrow?"}]}
            """#
        let again = Self.toolIDs(try await h.chat(nextTurn))
        #expect(again.count == 1 && again.first != callID)

        // One stream names its call once, with one id; a replay returns the same bytes.
        let streamed =
            #"{"model":"g","stream":true,"messages":[{"role":"user","content":"weather?"}],"tools":\#(Self.tools)}"#
        let idem = [HeaderField("Idempotency-Key", "ids-1")]
        let live = try await h.chat(streamed, headers: idem)
        let replay = try await h.chat(streamed, headers: idem)
        #expect(replay.header("x-switchyard-replayed") == "true")
        let liveIDs = Self.streamToolIDs(live.text)
        #expect(liveIDs.count == 1 && !Set(liveIDs).isSubset(of: Set(first + second + third)))
        #expect(Self.streamToolIDs(replay.text) == liveIDs)
    }

    /// Tool-call ids named in a stream's chunks, in order of first appearance.
    static func streamToolIDs(_ text: String) -> [String] {
        var ids: [String] = []
        for line in text.split(separator: "\n") where line.hasPrefix("data: {") {
            let chunk = try? JSON.parse(String(line.dropFirst(6)))
            for call in chunk?["choices"]?.arrayValue?.first?["delta"]?["tool_calls"]?.arrayValue ?? [] {
                if let id = call["id"]?.stringValue, !ids.contains(id) { ids.append(id) }
            }
        }
        return ids
    }
}
