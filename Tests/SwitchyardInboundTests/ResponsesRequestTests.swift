import SwitchyardCore
import SwitchyardInbound
import SwitchyardProviders
import Testing

/// `POST /v1/responses` bodies → the unified request, checked through the Chat Completions body an
/// OpenAI target in `responses_mode: chat` receives (`OpenAIChatEncoder`): golden files
/// `requests/<case>.responses.json` → `requests/<case>.chat.json`.
@Suite struct ResponsesRequestTests {
    static func parse(_ text: String) throws(APIError) -> ChatRequest {
        try ResponsesRequest.parse(body: Array(text.utf8))
    }

    @Test(arguments: ["text_input", "items_and_parts", "tool_round_trip", "json_schema"])
    func translatesGoldenRequest(_ name: String) throws {
        let request = try ResponsesRequest.parse(body: try InboundFixtures.bytes("requests/\(name).responses.json"))
        #expect(request.origin == .responses)
        #expect(request.untranslatable.isEmpty)
        let chat = OpenAIChatEncoder.body(request, model: "gpt-4o-mini")
        InboundFixtures.expectGolden(InboundFixtures.line(.object(chat)), "requests/\(name).chat.json")
    }

    @Test func rawKeepsTheClientBodyForANativeTarget() throws {
        let text = #"{"model":"smart","input":"hi","some_future_field":{"x":1},"tools":[{"type":"web_search"}]}"#
        let request = try Self.parse(text)
        #expect(request.raw == (try JSON.parse(text)).objectValue)
    }

    /// What only an OpenAI target in native mode can serve is recorded, not rejected, so that such a
    /// target still gets it; translating codecs answer 400 naming the field.
    @Test(arguments: [
        (#"{"model":"m","input":"x","tools":[{"type":"web_search"}]}"#, "tools[0]"),
        (
            #"{"model":"m","input":"x","tools":[{"type":"function","name":"f"},{"type":"file_search","vector_store_ids":["v"]}]}"#,
            "tools[1]"
        ),
        (
            #"{"model":"m","input":"x","tools":[{"type":"code_interpreter","container":{"type":"auto"}}],"tool_choice":{"type":"code_interpreter"}}"#,
            "tools[0]"
        ),
        (#"{"model":"m","input":[{"type":"item_reference","id":"msg_1"}]}"#, "input[0].type"),
        (#"{"model":"m","input":[{"type":"web_search_call","id":"ws_1","status":"completed"}]}"#, "input[0].type"),
        (
            #"{"model":"m","input":[{"role":"user","content":[{"type":"input_image","file_id":"file-1","detail":"auto"}]}]}"#,
            "input[0].content[0].file_id"
        ),
        (
            #"{"model":"m","input":[{"role":"user","content":[{"type":"input_file","file_url":"https://x/a.pdf"}]}]}"#,
            "input[0].content[0].file_url"
        ),
        (#"{"model":"m","input":"x","top_logprobs":3}"#, "top_logprobs"),
        (#"{"model":"m","input":"x","conversation":"conv_1"}"#, "conversation"),
        (#"{"model":"m","prompt":{"id":"pmpt_1"},"input":"x"}"#, "prompt"),
    ])
    func nativeOnlyFieldsAreUntranslatable(_ body: String, _ param: String) throws {
        let request = try Self.parse(body)
        #expect(request.untranslatable.first?.param == param)
        for (codec, context) in [
            (AnthropicCodec() as any ProviderCodec, TargetContext(providerName: "anthropic", upstreamModel: "c")),
            (GeminiCodec(), TargetContext(providerName: "gemini", upstreamModel: "g")),
            (OpenAICodec(), TargetContext(providerName: "compat", upstreamModel: "o", responsesMode: .chat)),
        ] {
            #expect(throws: APIError.self) { try codec.encode(request, for: context) }
            do {
                _ = try codec.encode(request, for: context)
            } catch {
                #expect(error.status == 400 && error.param == param && error.code == "unsupported_parameter")
                #expect(error.message.contains(context.providerName))
            }
        }
        let native = try OpenAICodec().encode(request, for: TargetContext(providerName: "openai", upstreamModel: "o"))
        #expect(native.path == "/responses")
    }

    @Test(
        arguments: [
            (#"{"input":"x"}"#, "model", "missing_required_parameter"),
            (#"{"model":"m"}"#, "input", "missing_required_parameter"),
            (#"{"model":"m","input":5}"#, "input", "invalid_type"),
            (#"{"model":"m","input":[{"role":"robot","content":"x"}]}"#, "input[0].role", "invalid_value"),
            (#"{"model":"m","input":[{"role":"user"}]}"#, "input[0].content", "missing_required_parameter"),
            (
                #"{"model":"m","input":[{"role":"user","content":[{"type":"input_text"}]}]}"#,
                "input[0].content[0].text", "missing_required_parameter"
            ),
            (
                #"{"model":"m","input":[{"type":"function_call","name":"f","arguments":"{}"}]}"#, "input[0].call_id",
                "missing_required_parameter"
            ),
            (
                #"{"model":"m","input":[{"type":"function_call_output","call_id":"c"}]}"#, "input[0].output",
                "missing_required_parameter"
            ),
            (#"{"model":"m","input":["x"]}"#, "input[0]", "invalid_type"),
            (#"{"model":"m","input":"x","temperature":3}"#, "temperature", "invalid_value"),
            (#"{"model":"m","input":"x","max_output_tokens":0}"#, "max_output_tokens", "invalid_value"),
            (
                #"{"model":"m","input":"x","tools":[{"type":"function"}]}"#, "tools[0].name",
                "missing_required_parameter"
            ),
            (
                #"{"model":"m","input":"x","tools":[{"type":"function","name":"bad name"}]}"#, "tools[0].name",
                "invalid_value"
            ),
            (#"{"model":"m","input":"x","tool_choice":"required"}"#, "tool_choice", nil),
            (
                #"{"model":"m","input":"x","text":{"format":{"type":"json_schema","schema":{}}}}"#, "text.format.name",
                "missing_required_parameter"
            ),
            (#"{"model":"m","input":"x","text":{"format":{"type":"xml"}}}"#, "text.format.type", "invalid_value"),
            (#"{"model":"m","input":"x","background":true}"#, "background", "unsupported_parameter"),
            (#"{"model":"m","input":"x","stream":"yes"}"#, "stream", "invalid_type"),
        ] as [(String, String, String?)])
    func rejectsWithTheParameterNamed(_ body: String, _ param: String, _ code: String?) {
        do {
            _ = try Self.parse(body)
            Issue.record("accepted \(body)")
        } catch {
            #expect(error.status == 400)
            #expect(error.param == param)
            #expect(error.code == code)
        }
    }

    @Test func malformedJSONIsA400() {
        #expect(throws: APIError.self) { try Self.parse("{") }
    }
}
