import SwitchyardCore
import SwitchyardProviders
import Testing

extension GeminiTests {
    /// `$ref` inlining is bounded by what it adds (`GeminiSchema.maximumInlinedBytes`), not only by
    /// depth: a few KB that fan out must be refused with a 400 naming the tool, at once.
    @Suite struct SchemaBudget {
        /// `$defs` d0…d(depth-1), each with `width` properties referring to the next.
        static func fanOutTool(name: String, width: Int, depth: Int, description: String? = nil) -> String {
            var defs: [String] = []
            for level in 0..<depth {
                let props = (0..<width).map { i in
                    level + 1 < depth
                        ? ##""p\##(i)":{"$ref":"#/$defs/d\##(level + 1)"}"## : #""p\#(i)":{"type":"string"}"#
                }
                let text = description.map { #","description":"\#($0)""# } ?? ""
                defs.append(
                    #""d\#(level)":{"type":"object"\#(text),"properties":{\#(props.joined(separator: ","))}}"#)
            }
            let schema =
                ##"{"type":"object","properties":{"root":{"$ref":"#/$defs/d0"}},"$defs":{\##(defs.joined(separator: ","))}}"##
            return #"{"type":"function","function":{"name":"\#(name)","parameters":\#(schema)}}"#
        }

        /// The error encoding gave, or nil (never the encoded body, which can be large).
        static func refusal(tools: [String]) -> APIError? {
            do {
                _ = try encode(tools: tools)
                return nil
            } catch {
                return error
            }
        }

        static func encode(tools: [String]) throws(APIError) -> EncodedRequest {
            let body =
                #"{"model":"m","messages":[{"role":"user","content":"Hi"}],"tools":[\#(tools.joined(separator: ","))]}"#
            let request = try ChatRequest.parse(body: Array(body.utf8))
            return try GeminiCodec().encode(request, for: GeminiFixture.target)
        }

        @Test func fanOutOfTenOverEightLevelsIsRefusedNamingTheTool() {
            let tool = Self.fanOutTool(name: "fan", width: 10, depth: 8)
            #expect(tool.utf8.count < 3_000)
            let error = Self.refusal(tools: [#"{"type":"function","function":{"name":"plain"}}"#, tool])
            #expect(error?.status == 400)
            #expect(error?.param == "tools[1].function.parameters")
            #expect(error?.code == "schema_too_large")
            #expect(error?.message.contains("256 KiB") == true)
        }

        @Test func modestFanOutIsStillInlined() throws {
            // 4 ways over 4 levels: 64 leaves, a few KB once inlined.
            let encoded = try Self.encode(tools: [Self.fanOutTool(name: "ok", width: 4, depth: 4)])
            let json = try JSON.parse(encoded.body)
            let declaration = json["tools"]?.arrayValue?.first?["functionDeclarations"]?.arrayValue?.first
            let root = declaration?["parameters"]?["properties"]?["root"]
            #expect(
                root?["properties"]?["p3"]?["properties"]?["p0"]?["properties"]?["p2"]?["properties"]?["p1"]
                    == ["type": "string"])
            #expect(encoded.body.count < 256 << 10)
        }

        /// Bytes count, not only nodes: a long description copied by every reference is charged.
        @Test func longTextCopiedByEveryReferenceIsCharged() {
            let text = String(repeating: "x", count: 30_000)
            // 3 ways over 3 levels: 13 copies of a definition with 30 KB of description, few nodes.
            let tool = Self.fanOutTool(name: "wordy", width: 3, depth: 3, description: text)
            let error = Self.refusal(tools: [tool])
            #expect(error?.param == "tools[0].function.parameters")
        }

        /// The budget is per request: tools that fit alone can exceed it together, and the tool
        /// that crossed it is named.
        @Test func theBudgetIsSharedByTheRequestsTools() throws {
            let tool = { (name: String) in Self.fanOutTool(name: name, width: 6, depth: 5) }
            _ = try Self.encode(tools: [tool("a")])
            let error = Self.refusal(tools: [tool("a"), tool("b"), tool("c"), tool("d"), tool("e")])
            let param = try #require(error?.param)
            #expect(param.hasPrefix("tools[") && param != "tools[0].function.parameters")
        }
    }
}
