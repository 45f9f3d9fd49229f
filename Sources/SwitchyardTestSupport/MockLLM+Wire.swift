import SwitchyardCore

extension MockLLM {
    // MARK: OpenAI Chat Completions

    /// OpenAI's 401 for a request without a `Bearer` key (Chat Completions and Responses alike).
    func openAIUnauthorized(_ r: RecordedRequest) -> MockResponse? {
        guard let auth = r.headers.value(for: "authorization"), auth.hasPrefix("Bearer "), auth.count > 7 else {
            return error(.openai, status: 401, message: "Incorrect API key provided.")
        }
        return nil
    }

    func openAI(_ r: RecordedRequest, _ body: JSONObject) -> MockResponse {
        if let refusal = openAIUnauthorized(r) { return refusal }
        guard let model = body["model"]?.stringValue else {
            return error(.openai, status: 400, message: "you must provide a model parameter")
        }
        guard let messages = body["messages"]?.arrayValue, !messages.isEmpty else {
            return error(.openai, status: 400, message: "'messages' is a required property")
        }
        let lastUser = messages.last { $0["role"]?.stringValue == "user" }
        let toolResult = messages.last?["role"]?.stringValue == "tool" ? Self.text(of: messages.last?["content"]) : nil
        let firstTool = body["tools"]?.arrayValue?.first?["function"]?["name"]?.stringValue
        let jsonMode = body["response_format"]?["type"]?.stringValue.map { $0 != "text" } ?? false
        var answer = decide(
            lastUserText: Self.text(of: lastUser?["content"]), toolResult: toolResult, firstTool: firstTool,
            jsonMode: jsonMode,
            userTexts: messages.filter { $0["role"]?.stringValue == "user" }.map { Self.text(of: $0["content"]) },
            images: Self.imageCount(lastUser?["content"]))
        switch openAIContinued(body, messages) {
        case .failure(let refusal):
            return refusal.response
        case .success(let prefill?):
            if case .text(let t) = answer, t.hasPrefix(prefill.text) {
                answer = .text((prefill.echo ? prefill.text : "") + String(t.dropFirst(prefill.text.count)))
            }
        case .success(nil):
            break
        }
        let (p, c) = usage(body, answer)
        let usageJSON: JSON = ["prompt_tokens": .int(p), "completion_tokens": .int(c), "total_tokens": .int(p + c)]
        let id = "chatcmpl-mock"
        if body["stream"]?.boolValue == true {
            var events: [String] = []
            func chunk(_ delta: JSON, finish: String?) -> String {
                let o: JSON = [
                    "id": .string(id), "object": "chat.completion.chunk", "created": 1_700_000_000,
                    "model": .string(model),
                    "choices": [
                        ["index": 0, "delta": delta, "logprobs": nil, "finish_reason": finish.map(JSON.string) ?? nil]
                    ],
                ]
                return "data: " + o.serializedString()
            }
            switch answer {
            case .text(let t):
                events.append(chunk(["role": "assistant", "content": ""], finish: nil))
                for w in Self.words(t, per: wordsPerEvent) {
                    events.append(chunk(["content": .string(w)], finish: nil))
                }
                events.append(chunk([:], finish: "stop"))
            case .toolCall(let name, let args):
                events.append(
                    chunk(
                        [
                            "role": "assistant", "content": nil,
                            "tool_calls": [
                                [
                                    "index": 0, "id": "call_mock1", "type": "function",
                                    "function": ["name": .string(name), "arguments": ""],
                                ]
                            ],
                        ], finish: nil))
                events.append(
                    chunk(["tool_calls": [["index": 0, "function": ["arguments": .string(args)]]]], finish: nil))
                events.append(chunk([:], finish: "tool_calls"))
            }
            if body["stream_options"]?["include_usage"]?.boolValue == true {
                let o: JSON = [
                    "id": .string(id), "object": "chat.completion.chunk", "created": 1_700_000_000,
                    "model": .string(model),
                    "choices": [], "usage": usageJSON,
                ]
                events.append("data: " + o.serializedString())
            }
            events.append("data: [DONE]")
            return .sse(events: events, pause: eventPause)
        }
        var message: JSONObject = ["role": "assistant"]
        let finish: String
        switch answer {
        case .text(let t):
            message["content"] = .string(t)
            finish = "stop"
        case .toolCall(let name, let args):
            message["content"] = nil
            message["content"] = .null
            message["tool_calls"] = [
                [
                    "id": "call_mock1", "type": "function",
                    "function": ["name": .string(name), "arguments": .string(args)],
                ]
            ]
            finish = "tool_calls"
        }
        message["refusal"] = .null
        return .json([
            "id": .string(id), "object": "chat.completion", "created": 1_700_000_000, "model": .string(model),
            "choices": [["index": 0, "message": .object(message), "logprobs": nil, "finish_reason": .string(finish)]],
            "usage": usageJSON,
        ])
    }

    struct Refusal: Error {
        var response: MockResponse
    }

    /// The final assistant message to continue, if this server's dialect (`openAIContinuation`)
    /// recognises the request as a continuation; a vLLM-style 400 for contradictory flags.
    func openAIContinued(_ body: JSONObject, _ messages: [JSON]) -> Result<(text: String, echo: Bool)?, Refusal> {
        guard let mode = openAIContinuation, messages.count > 1, let last = messages.last,
            last["role"]?.stringValue == "assistant"
        else { return .success(nil) }
        let text = Self.text(of: last["content"])
        switch mode {
        case .trailingMessage:
            return .success((text, false))
        case .continueFinalMessage:
            guard body["continue_final_message"]?.boolValue == true else { return .success(nil) }
            guard body["add_generation_prompt"]?.boolValue == false else {
                return .failure(
                    Refusal(
                        response: error(
                            .openai, status: 400,
                            message: "continue_final_message and add_generation_prompt cannot both be true.")))
            }
            return .success((text, false))
        case .prefixFlag(let echo):
            guard last["prefix"]?.boolValue == true else { return .success(nil) }
            return .success((text, echo))
        }
    }

    // MARK: Anthropic Messages

    func anthropic(_ r: RecordedRequest, _ body: JSONObject) -> MockResponse {
        guard let key = r.headers.value(for: "x-api-key"), !key.isEmpty else {
            return error(.anthropic, status: 401, message: "x-api-key header is required")
        }
        guard r.headers.value(for: "anthropic-version") != nil else {
            return error(.anthropic, status: 400, message: "anthropic-version header is required")
        }
        if r.path.hasSuffix("/count_tokens") { return anthropicCount(body) }
        guard let model = body["model"]?.stringValue else {
            return error(.anthropic, status: 400, message: "model: Field required")
        }
        guard body["max_tokens"]?.intValue != nil else {
            return error(.anthropic, status: 400, message: "max_tokens: Field required")
        }
        guard let messages = body["messages"]?.arrayValue, !messages.isEmpty else {
            return error(.anthropic, status: 400, message: "messages: at least one message is required")
        }
        if messages.first?["role"]?.stringValue != "user" {
            return error(.anthropic, status: 400, message: "messages: first message must use the \"user\" role")
        }
        for (i, m) in messages.enumerated() {
            guard let role = m["role"]?.stringValue, role == "user" || role == "assistant" else {
                return error(
                    .anthropic, status: 400, message: "messages.\(i).role: Input should be 'user' or 'assistant'")
            }
            if i > 0, messages[i - 1]["role"]?.stringValue == role {
                return error(
                    .anthropic, status: 400,
                    message: "messages: roles must alternate between \"user\" and \"assistant\"")
            }
        }
        if let t = body["temperature"]?.doubleValue, t > 1 {
            return error(.anthropic, status: 400, message: "temperature: Input should be less than or equal to 1")
        }
        if let problem = Self.anthropicProblem(body, countsTokens: false) {
            return error(.anthropic, status: 400, message: problem)
        }
        // A final assistant turn is a prefill: the reply is the rest of the canned answer after it.
        var prefill: String? = nil
        var turns = messages
        if messages.count > 1, messages.last?["role"]?.stringValue == "assistant" {
            let p = Self.text(of: messages.last?["content"])
            if p.last?.isWhitespace == true {
                return error(
                    .anthropic, status: 400,
                    message: "messages: final assistant content cannot end with trailing whitespace")
            }
            prefill = p
            turns.removeLast()
        }
        let last = turns.last
        var toolResult: String? = nil
        var lastText = ""
        if case .array(let blocks)? = last?["content"] {
            for b in blocks {
                if b["type"]?.stringValue == "tool_result" { toolResult = Self.text(of: b["content"]) }
                if b["type"]?.stringValue == "text" { lastText += b["text"]?.stringValue ?? "" }
            }
        } else {
            lastText = last?["content"]?.stringValue ?? ""
        }
        let forced =
            body["tool_choice"]?["type"]?.stringValue == "tool" ? body["tool_choice"]?["name"]?.stringValue : nil
        let firstTool = forced ?? body["tools"]?.arrayValue?.first?["name"]?.stringValue
        let userTexts = turns.filter { $0["role"]?.stringValue == "user" }.map { Self.text(of: $0["content"]) }
        var answer = decide(
            lastUserText: lastText, toolResult: toolResult, firstTool: firstTool, jsonMode: false, userTexts: userTexts,
            images: Self.imageCount(last?["content"]))
        if lastText == "echo request" { answer = .text(r.bodyText) }
        if lastText == "echo headers" {
            let names = ["anthropic-version", "anthropic-beta"]
            answer = .text(names.map { "\($0)=\(r.headers.value(for: $0) ?? "")" }.joined(separator: ";"))
        }
        if forced == "json_response" { answer = .toolCall(name: "json_response", arguments: #"{"ok":true}"#) }
        if let prefill, case .text(let t) = answer, t.hasPrefix(prefill) {
            answer = .text(String(t.dropFirst(prefill.count)))
        }
        let (p, c) = usage(body, answer)
        if body["stream"]?.boolValue == true {
            var events: [String] = []
            func ev(_ name: String, _ data: JSON) -> String { "event: \(name)\ndata: \(data.serializedString())" }
            /// An event of the answer's one content block (index 0), carrying `value` under `field`.
            func block(_ name: String, _ field: String, _ value: JSON) -> String {
                ev(name, ["type": .string(name), "index": 0, field: value])
            }
            events.append(
                ev(
                    "message_start",
                    [
                        "type": "message_start",
                        "message": [
                            "id": "msg_mock", "type": "message", "role": "assistant", "content": [],
                            "model": .string(model),
                            "stop_reason": nil, "stop_sequence": nil,
                            "usage": ["input_tokens": .int(p), "output_tokens": 1],
                        ],
                    ]))
            let stop: String
            switch answer {
            case .text(let t):
                events.append(block("content_block_start", "content_block", ["type": "text", "text": ""]))
                events.append(ev("ping", ["type": "ping"]))
                for w in Self.words(t, per: wordsPerEvent) {
                    events.append(block("content_block_delta", "delta", ["type": "text_delta", "text": .string(w)]))
                }
                stop = "end_turn"
            case .toolCall(let name, let args):
                events.append(
                    block(
                        "content_block_start", "content_block",
                        ["type": "tool_use", "id": "toolu_mock1", "name": .string(name), "input": [:]]))
                let mid = args.index(args.startIndex, offsetBy: args.count / 2)
                for part in [String(args[..<mid]), String(args[mid...])] {
                    events.append(
                        block(
                            "content_block_delta", "delta", ["type": "input_json_delta", "partial_json": .string(part)])
                    )
                }
                stop = "tool_use"
            }
            events.append(ev("content_block_stop", ["type": "content_block_stop", "index": 0]))
            events.append(
                ev(
                    "message_delta",
                    [
                        "type": "message_delta", "delta": ["stop_reason": .string(stop), "stop_sequence": nil],
                        "usage": ["output_tokens": .int(c)],
                    ]))
            events.append(ev("message_stop", ["type": "message_stop"]))
            return .sse(events: events, pause: eventPause)
        }
        let content: JSON
        let stop: String
        switch answer {
        case .text(let t):
            content = [["type": "text", "text": .string(t)]]
            stop = "end_turn"
        case .toolCall(let name, let args):
            content = [
                [
                    "type": "tool_use", "id": "toolu_mock1", "name": .string(name),
                    "input": (try? JSON.parse(args)) ?? [:],
                ]
            ]
            stop = "tool_use"
        }
        return .json([
            "id": "msg_mock", "type": "message", "role": "assistant", "model": .string(model), "content": content,
            "stop_reason": .string(stop), "stop_sequence": nil,
            "usage": ["input_tokens": .int(p), "output_tokens": .int(c)],
        ])
    }

    /// `POST /v1/messages/count_tokens`: `{"input_tokens": n}`, n = a quarter of the body's bytes.
    func anthropicCount(_ body: JSONObject) -> MockResponse {
        guard body["model"]?.stringValue != nil else {
            return error(.anthropic, status: 400, message: "model: Field required")
        }
        guard let messages = body["messages"]?.arrayValue, !messages.isEmpty else {
            return error(.anthropic, status: 400, message: "messages: Field required")
        }
        if let problem = Self.anthropicProblem(body, countsTokens: true) {
            return error(.anthropic, status: 400, message: problem)
        }
        return .json(["input_tokens": .int(max(1, body.serialized().count / 4))])
    }

    // MARK: Gemini generateContent

    func gemini(_ r: RecordedRequest, _ body: JSONObject) -> MockResponse {
        guard let key = r.headers.value(for: "x-goog-api-key"), !key.isEmpty else {
            return error(.gemini, status: 403, message: "Method doesn't allow unregistered callers.")
        }
        guard let contents = body["contents"]?.arrayValue, !contents.isEmpty else {
            return error(.gemini, status: 400, message: "* GenerateContentRequest.contents: contents is not specified")
        }
        for (i, c) in contents.enumerated() {
            guard let role = c["role"]?.stringValue, role == "user" || role == "model" else {
                return error(.gemini, status: 400, message: "Please use a valid role: user, model. (contents[\(i)])")
            }
        }
        let model = r.path.split(separator: "/").last.map { String($0.split(separator: ":").first ?? "") } ?? "gemini"
        let last = contents.last
        var toolResult: String? = nil
        var lastText = ""
        for part in last?["parts"]?.arrayValue ?? [] {
            if let fr = part["functionResponse"] {
                toolResult = fr["response"]?["output"]?.description ?? fr["response"]?.description
            }
            if let t = part["text"]?.stringValue { lastText += t }
        }
        if let tr = toolResult, tr.hasPrefix("\""), let s = (try? JSON.parse(tr))?.stringValue { toolResult = s }
        let firstTool = body["tools"]?.arrayValue?.first?["functionDeclarations"]?.arrayValue?.first?["name"]?
            .stringValue
        let mode = body["toolConfig"]?["functionCallingConfig"]?["mode"]?.stringValue
        let jsonMode = body["generationConfig"]?["responseMimeType"]?.stringValue == "application/json"
        let userTexts = contents.filter { $0["role"]?.stringValue == "user" }.map { c in
            (c["parts"]?.arrayValue ?? []).compactMap { $0["text"]?.stringValue }.joined()
        }
        let answer = decide(
            lastUserText: lastText, toolResult: toolResult, firstTool: mode == "NONE" ? nil : firstTool,
            jsonMode: jsonMode, userTexts: userTexts, images: Self.imageCount(last?["parts"]))
        let (p, c) = usage(body, answer)
        let usageJSON: JSON = [
            "promptTokenCount": .int(p), "candidatesTokenCount": .int(c), "totalTokenCount": .int(p + c),
        ]
        func candidate(_ parts: JSON, finish: String?) -> JSON {
            var o: JSONObject = ["content": ["role": "model", "parts": parts], "index": 0]
            if let finish { o["finishReason"] = .string(finish) }
            return .object(o)
        }
        if r.path.contains(":streamGenerateContent") {
            var events: [String] = []
            switch answer {
            case .text(let t):
                let ws = Self.words(t, per: wordsPerEvent)
                for (i, w) in ws.enumerated() {
                    var o: JSONObject = [
                        "candidates": [candidate([["text": .string(w)]], finish: i == ws.count - 1 ? "STOP" : nil)]
                    ]
                    if i == ws.count - 1 { o["usageMetadata"] = usageJSON }
                    o["modelVersion"] = .string(model)
                    events.append("data: " + JSON.object(o).serializedString())
                }
            case .toolCall(let name, let args):
                let o: JSON = [
                    "candidates": [
                        candidate(
                            [["functionCall": ["name": .string(name), "args": (try? JSON.parse(args)) ?? [:]]]],
                            finish: "STOP")
                    ],
                    "usageMetadata": usageJSON, "modelVersion": .string(model),
                ]
                events.append("data: " + o.serializedString())
            }
            return .sse(events: events, pause: eventPause)
        }
        let parts: JSON
        switch answer {
        case .text(let t): parts = [["text": .string(t)]]
        case .toolCall(let name, let args):
            parts = [["functionCall": ["name": .string(name), "args": (try? JSON.parse(args)) ?? [:]]]]
        }
        return .json([
            "candidates": [candidate(parts, finish: "STOP")], "usageMetadata": usageJSON,
            "modelVersion": .string(model),
        ])
    }
}
