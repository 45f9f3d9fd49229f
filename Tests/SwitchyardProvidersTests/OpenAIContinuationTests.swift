import SwitchyardCore
import SwitchyardProviders
import Testing

/// How the OpenAI codec asks an OpenAI-compatible server to continue the final assistant
/// message, per the target's `continuation` dialect.
@Suite struct OpenAIContinuationTests {
    func continuing(_ continues: Bool = true) throws -> ChatRequest {
        var r = try ChatRequest.parse(
            body: Array(
                #"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"Hello from"}]}"#
                    .utf8))
        r.continuesFinalMessage = continues
        return r
    }

    func encoded(_ r: ChatRequest, _ mode: ContinuationMode) throws -> JSON {
        var context = TargetContext(providerName: "compat", upstreamModel: "local-x")
        context.continuation = mode
        return try JSON.parse(OpenAICodec().encode(r, for: context).body)
    }

    @Test func prefillSendsTheMessageAlone() throws {
        let body = try encoded(try continuing(), .prefill)
        #expect(body["messages"]?.arrayValue?.last == ["role": "assistant", "content": "Hello from"])
        #expect(body["continue_final_message"] == nil)
        #expect(body["add_generation_prompt"] == nil)
    }

    @Test func continueFinalMessageSetsBothBodyFlags() throws {
        let body = try encoded(try continuing(), .continueFinalMessage)
        #expect(body["continue_final_message"] == true)
        #expect(body["add_generation_prompt"] == false)
        #expect(body["messages"]?.arrayValue?.last?["prefix"] == nil)
        #expect(body["model"] == "local-x")
    }

    @Test func prefixMarksTheFinalMessage() throws {
        let body = try encoded(try continuing(), .prefix)
        #expect(body["messages"]?.arrayValue?.last == ["role": "assistant", "content": "Hello from", "prefix": true])
        #expect(body["messages"]?.arrayValue?.first?["prefix"] == nil)
        #expect(body["continue_final_message"] == nil)
    }

    /// A client's own trailing assistant message is passed through untouched: only the router's
    /// continuations carry flags.
    @Test(arguments: ContinuationMode.allCases)
    func aClientRequestGetsNoFlags(_ mode: ContinuationMode) throws {
        let body = try encoded(try continuing(false), mode)
        #expect(body["continue_final_message"] == nil)
        #expect(body["add_generation_prompt"] == nil)
        #expect(body["messages"]?.arrayValue?.last?["prefix"] == nil)
    }
}
