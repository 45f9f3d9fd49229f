import Foundation
import SwitchyardCore
import SwitchyardInbound
import SwitchyardProviders
import Testing

/// `POST /v1/messages` bodies → the unified request, checked through what a translating target
/// receives: golden files `messages/requests/<case>.messages.json` → `<case>.chat.json` (the Chat
/// Completions body of an OpenAI reasoning model) and `<case>.gemini.json` (the generateContent
/// body of a Gemini 2.5 model, or the 400 it answers instead).
@Suite struct MessagesRequestTests {
    static func parse(_ text: String) throws(APIError) -> ChatRequest {
        try MessagesRequest.parse(body: Array(text.utf8))
    }

    static let openAI = TargetContext(providerName: "openai", upstreamModel: "o3-mini")
    static let gemini = TargetContext(providerName: "gemini", upstreamModel: "gemini-2.5-flash")
    static let anthropic = TargetContext(providerName: "anthropic", upstreamModel: "claude-sonnet-4-5")

    @Test(arguments: ["system_and_settings", "tool_round_trip", "images_and_documents"])
    func translatesGoldenRequest(_ name: String) throws {
        let request = try MessagesRequest.parse(
            body: try InboundFixtures.bytes("requests/\(name).messages.json", root: "messages"))
        #expect(request.origin == .anthropicMessages)
        #expect(request.untranslatable.isEmpty)
        let chat = try OpenAICodec().encode(request, for: Self.openAI)
        InboundFixtures.expectGolden(
            InboundFixtures.line(try JSON.parse(chat.body)), "requests/\(name).chat.json", root: "messages")
        let gemini: JSON
        do {
            gemini = try JSON.parse(try GeminiCodec().encode(request, for: Self.gemini).body)
        } catch let error as APIError {
            gemini = ["error": .string(error.message), "param": error.param.map(JSON.string) ?? .null]
        }
        InboundFixtures.expectGolden(InboundFixtures.line(gemini), "requests/\(name).gemini.json", root: "messages")
    }

    /// An Anthropic target gets the client's body with only `model` replaced: byte for byte for a
    /// compact body, whatever it holds (cache_control, thinking signatures, unknown fields).
    @Test func anthropicTargetReceivesTheBodyWithOnlyModelReplaced() throws {
        let body =
            #"{"model":"smart","max_tokens":64,"system":[{"type":"text","text":"S","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral","ttl":"1h"}}]},{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"c2ln"},{"type":"text","text":"ok"}]},{"role":"user","content":"more"}],"thinking":{"type":"enabled","budget_tokens":1024},"some_future_field":{"x":1.50}}"#
        let request = try Self.parse(body)
        var sent = try AnthropicCodec().encode(request, for: Self.anthropic)
        #expect(sent.path == "/v1/messages")
        #expect(
            String(decoding: sent.body, as: UTF8.self)
                == body.replacingOccurrences(of: #""model":"smart""#, with: #""model":"claude-sonnet-4-5""#))
        // The client's Anthropic headers ride along; the betas join the provider's configured ones.
        var withHeaders = request
        withHeaders.nativeHeaders = [
            HeaderField("anthropic-version", "2023-06-01"), HeaderField("anthropic-beta", "b2, b3"),
        ]
        var context = Self.anthropic
        context.configuredHeaders = [HeaderField("anthropic-beta", "b1,b2")]
        sent = try AnthropicCodec().encode(withHeaders, for: context)
        #expect(sent.headers.value(for: "anthropic-version") == "2023-06-01")
        #expect(sent.headers.value(for: "anthropic-beta") == "b1,b2,b3")
        // A count goes to the count endpoint the same way.
        var count = try MessagesRequest.parse(
            body: Array(#"{"model":"m","messages":[{"role":"user","content":"x"}]}"#.utf8), countsTokens: true)
        #expect(count.maxTokens == nil && count.countsTokens)
        #expect(try AnthropicCodec().encode(count, for: Self.anthropic).path == "/v1/messages/count_tokens")
        count.origin = .chatCompletions
        #expect(throws: APIError.self) { try AnthropicCodec().encode(count, for: Self.anthropic) }
    }

    /// What only Anthropic can serve is recorded, not rejected: an Anthropic target still gets it,
    /// translating codecs answer 400 naming the field (and never send a generation for a count).
    @Test(arguments: [
        (
            #""tools":[{"type":"web_search_20250305","name":"web_search"}],"messages":[{"role":"user","content":"x"}]"#,
            "tools[0]"
        ),
        (#""container":"cntr_1","messages":[{"role":"user","content":"x"}]"#, "container"),
        (
            #""mcp_servers":[{"type":"url","url":"https://x","name":"x"}],"messages":[{"role":"user","content":"x"}]"#,
            "mcp_servers"
        ),
        (
            #""messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"file_1"}}]}]"#,
            "messages[0].content[0].source"
        ),
        (
            #""messages":[{"role":"user","content":[{"type":"document","source":{"type":"url","url":"https://x/a.pdf"}}]}]"#,
            "messages[0].content[0].source"
        ),
        (
            #""messages":[{"role":"user","content":[{"type":"search_result","source":"s","title":"t","content":[]}]}]"#,
            "messages[0].content[0]"
        ),
        (
            #""messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{}}]}]"#,
            "messages[1].content[0]"
        ),
    ])
    func nativeOnlyFieldsAreUntranslatable(_ fields: String, _ param: String) throws {
        let request = try Self.parse(#"{"model":"m","max_tokens":10,"# + fields + "}")
        #expect(request.untranslatable.first?.param == param)
        #expect(throws: Never.self) { try AnthropicCodec().encode(request, for: Self.anthropic) }
        for (codec, context) in [(OpenAICodec() as any ProviderCodec, Self.openAI), (GeminiCodec(), Self.gemini)] {
            do {
                _ = try codec.encode(request, for: context)
                Issue.record("\(codec.kind) accepted \(param)")
            } catch {
                #expect(error.status == 400 && error.param == param)
                #expect(error.message.contains("Anthropic targets"))
            }
        }
    }

    @Test(arguments: [
        (#"{"max_tokens":1,"messages":[{"role":"user","content":"x"}]}"#, "model"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}]}"#, "max_tokens"),
        (#"{"model":"m","max_tokens":1,"messages":[]}"#, "messages"),
        (#"{"model":"m","max_tokens":1,"messages":[{"role":"tool","content":"x"}]}"#, "messages[0].role"),
        (#"{"model":"m","max_tokens":1,"temperature":1.5,"messages":[{"role":"user","content":"x"}]}"#, "temperature"),
        (
            #"{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/bmp","data":"x"}}]}]}"#,
            "messages[0].content[0].source.media_type"
        ),
        (
            #"{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_use","id":"t","name":"f","input":{}}]}]}"#,
            "messages[0].content[0].type"
        ),
        (
            #"{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result"}]}]}"#,
            "messages[0].content[0].tool_use_id"
        ),
        (
            #"{"model":"m","max_tokens":1,"tool_choice":{"type":"any"},"messages":[{"role":"user","content":"x"}]}"#,
            "tool_choice"
        ),
        (
            #"{"model":"m","max_tokens":1,"tools":[{"name":"f"}],"messages":[{"role":"user","content":"x"}]}"#,
            "tools[0].input_schema"
        ),
        (
            #"{"model":"m","max_tokens":1,"thinking":{"type":"enabled"},"messages":[{"role":"user","content":"x"}]}"#,
            "thinking.budget_tokens"
        ),
        (
            #"{"model":"m","max_tokens":1,"system":[{"type":"image"}],"messages":[{"role":"user","content":"x"}]}"#,
            "system[0].type"
        ),
    ])
    func invalidBodiesAreRejectedNamingTheField(_ body: String, _ param: String) {
        #expect {
            _ = try Self.parse(body)
        } throws: { error in
            guard let e = error as? APIError else { return false }
            return e.status == 400 && e.param == param
        }
    }

    @Test func anthropicOnlySettingsReachTheTranslatedFields() throws {
        let request = try Self.parse(
            #"{"model":"m","max_tokens":10,"top_k":3,"thinking":{"type":"adaptive"},"metadata":{"user_id":"u1"},"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"auto","disable_parallel_tool_use":true},"messages":[{"role":"system","content":"Be kind."},{"role":"user","content":"x"}]}"#
        )
        #expect(request.topK == 3)
        #expect(request.thinking == .adaptive)
        #expect(request.user == "u1")
        #expect(request.toolChoice == .auto && request.parallelToolCalls == false)
        #expect(request.messages.first == ChatMessage(role: .system, content: .text("Be kind.")))
        // Non-reasoning OpenAI models never get reasoning_effort (they would answer 400).
        let plain = OpenAIChatEncoder.body(request, model: "gpt-4o-mini")
        #expect(plain["reasoning_effort"] == nil && plain["top_k"] == nil)
        #expect(OpenAIChatEncoder.body(request, model: "gpt-5")["reasoning_effort"] == "medium")
    }
}
