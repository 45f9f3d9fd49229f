import SwitchyardCore

extension MockLLM {
    // MARK: OpenAI Responses

    /// `POST …/responses`: validates the body the way the Responses API does (what this mock can
    /// check without a model: required fields, item and part types by the SDK's input types, roles;
    /// and, *(unverified)* as OpenAI's exact rules, a function call output answering a call of the
    /// same input, `max_output_tokens` ≥ 16, no `previous_response_id`, since this upstream keeps
    /// nothing), then answers with a `response` object or its typed SSE events. A `web_search` tool
    /// adds a `web_search_call` item before the message, as the real built-in tool does.
    func openAIResponses(_ r: RecordedRequest, _ body: JSONObject) -> MockResponse {
        if let refusal = openAIUnauthorized(r) { return refusal }
        guard let model = body["model"]?.stringValue else {
            return error(.openai, status: 400, message: "Missing required parameter: 'model'.")
        }
        if let previous = body["previous_response_id"]?.stringValue {
            return error(.openai, status: 400, message: "Previous response with id '\(previous)' not found.")
        }
        let items: [JSON]
        switch body["input"] {
        case .string(let s)?: items = [["role": "user", "content": .string(s)]]
        case .array(let a)?: items = a
        default: return error(.openai, status: 400, message: "Missing required parameter: 'input'.")
        }
        if let problem = Self.validateResponsesInput(items) { return error(.openai, status: 400, message: problem) }
        if let m = body["max_output_tokens"]?.intValue, m < 16 {
            return error(
                .openai, status: 400,
                message:
                    "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got \(m) instead."
            )
        }
        if let t = body["temperature"]?.doubleValue, !(0...2).contains(t) {
            return error(.openai, status: 400, message: "Invalid 'temperature': decimal above maximum value.")
        }
        var firstTool: String?
        var webSearch = false
        for (i, tool) in (body["tools"]?.arrayValue ?? []).enumerated() {
            switch tool["type"]?.stringValue {
            case "function":
                guard let name = tool["name"]?.stringValue else {
                    return error(.openai, status: 400, message: "Missing required parameter: 'tools[\(i)].name'.")
                }
                if tool["function"] != nil {
                    return error(.openai, status: 400, message: "Unknown parameter: 'tools[\(i)].function'.")
                }
                firstTool = firstTool ?? name
            case "web_search", "web_search_preview":
                webSearch = true
            case let other:
                return error(.openai, status: 400, message: "Invalid value: '\(other ?? "")'. Unsupported tool type.")
            }
        }
        let format = body["text"]?["format"]
        if format?["type"]?.stringValue == "json_schema", format?["name"] == nil || format?["schema"] == nil {
            return error(.openai, status: 400, message: "Missing required parameter: 'text.format.name'.")
        }
        let jsonMode = format?["type"]?.stringValue.map { $0 != "text" } ?? false
        let lastUser = items.last { ($0["role"]?.stringValue ?? "") == "user" }
        let last = items.last
        let toolResult =
            last?["type"]?.stringValue == "function_call_output"
            ? (last?["output"]?.stringValue ?? Self.text(of: last?["output"])) : nil
        if body["tool_choice"]?.stringValue == "none" { firstTool = nil }
        let answer = decide(
            lastUserText: Self.text(of: lastUser?["content"]), toolResult: toolResult, firstTool: firstTool,
            jsonMode: jsonMode,
            userTexts: items.filter { $0["role"]?.stringValue == "user" }.map { Self.text(of: $0["content"]) })
        let (p, c) = usage(body, answer)
        var g = SystemRandomNumberGenerator()
        let tag = String(g.next() as UInt64, radix: 16)
        let id = "resp_mock\(tag)"
        var output: [JSON] = []
        if webSearch {
            output.append([
                "id": .string("ws_mock\(tag)"), "type": "web_search_call", "status": "completed",
                "action": ["type": "search", "query": .string(Self.text(of: lastUser?["content"]))],
            ])
        }
        switch answer {
        case .text(let t):
            output.append([
                "id": .string("msg_mock\(tag)"), "type": "message", "status": "completed", "role": "assistant",
                "content": [["type": "output_text", "text": .string(t), "annotations": [], "logprobs": []]],
            ])
        case .toolCall(let name, let args):
            output.append([
                "id": .string("fc_mock\(tag)"), "type": "function_call", "status": "completed",
                "call_id": .string("call_mock\(tag)"), "name": .string(name), "arguments": .string(args),
            ])
        }
        let response: JSONObject = [
            "id": .string(id), "object": "response", "created_at": 1_700_000_000, "status": "completed",
            "error": nil, "incomplete_details": nil, "instructions": body["instructions"] ?? nil,
            "max_output_tokens": body["max_output_tokens"] ?? nil, "model": .string(model), "output": .array(output),
            "parallel_tool_calls": body["parallel_tool_calls"] ?? true, "previous_response_id": nil,
            "reasoning": ["effort": nil, "summary": nil], "store": body["store"] ?? true, "temperature": 1,
            "text": body["text"] ?? ["format": ["type": "text"]], "tool_choice": body["tool_choice"] ?? "auto",
            "tools": body["tools"] ?? [], "top_p": 1, "truncation": "disabled",
            "usage": [
                "input_tokens": .int(p), "input_tokens_details": ["cached_tokens": 0],
                "output_tokens": .int(c), "output_tokens_details": ["reasoning_tokens": 0],
                "total_tokens": .int(p + c),
            ],
            "user": nil, "metadata": body["metadata"] ?? [:],
        ]
        guard body["stream"]?.boolValue == true else { return .json(.object(response)) }
        return .sse(
            events: Self.responsesEvents(response, answer: answer, wordsPerEvent: wordsPerEvent), pause: eventPause)
    }

    /// The typed events of a streamed `response`, text in word-sized deltas, arguments in two.
    static func responsesEvents(_ response: JSONObject, answer: Answer, wordsPerEvent: Int) -> [String] {
        var events: [String] = []
        var sequence = 0
        func ev(_ type: String, _ fields: JSONObject) {
            var o: JSONObject = ["type": .string(type)]
            for e in fields { o[e.key] = e.value }
            o["sequence_number"] = .int(sequence)
            sequence += 1
            events.append("event: \(type)\ndata: " + JSON.object(o).serializedString())
        }
        var start = response
        start["status"] = "in_progress"
        start["output"] = []
        start["usage"] = nil
        ev("response.created", ["response": .object(start)])
        ev("response.in_progress", ["response": .object(start)])
        for (index, item) in (response["output"]?.arrayValue ?? []).enumerated() {
            let itemID = item["id"] ?? nil
            var added = item
            added["status"] = "in_progress"
            switch item["type"]?.stringValue {
            case "message":
                added["content"] = []
                ev("response.output_item.added", ["output_index": .int(index), "item": added])
                let at: JSONObject = ["item_id": itemID, "output_index": .int(index), "content_index": 0]
                var f = at
                f["part"] = ["type": "output_text", "text": "", "annotations": []]
                ev("response.content_part.added", f)
                guard case .text(let text) = answer else { break }
                for w in words(text, per: wordsPerEvent) {
                    f = at
                    f["delta"] = .string(w)
                    f["logprobs"] = []
                    ev("response.output_text.delta", f)
                }
                f = at
                f["text"] = .string(text)
                f["logprobs"] = []
                ev("response.output_text.done", f)
                f = at
                f["part"] = ["type": "output_text", "text": .string(text), "annotations": []]
                ev("response.content_part.done", f)
            case "function_call":
                added["arguments"] = ""
                ev("response.output_item.added", ["output_index": .int(index), "item": added])
                let args = item["arguments"]?.stringValue ?? ""
                let mid = args.index(args.startIndex, offsetBy: args.count / 2)
                for part in [String(args[..<mid]), String(args[mid...])] {
                    ev(
                        "response.function_call_arguments.delta",
                        ["item_id": itemID, "output_index": .int(index), "delta": .string(part)])
                }
                ev(
                    "response.function_call_arguments.done",
                    ["item_id": itemID, "output_index": .int(index), "arguments": .string(args)])
            default:
                ev("response.output_item.added", ["output_index": .int(index), "item": added])
                ev("response.web_search_call.in_progress", ["item_id": itemID, "output_index": .int(index)])
                ev("response.web_search_call.completed", ["item_id": itemID, "output_index": .int(index)])
            }
            ev("response.output_item.done", ["output_index": .int(index), "item": item])
        }
        ev("response.completed", ["response": .object(response)])
        return events
    }

    /// The first problem the Responses API would report for these input items, or nil.
    static func validateResponsesInput(_ items: [JSON]) -> String? {
        var calls: Set<String> = []
        for (i, item) in items.enumerated() {
            guard case .object(let o) = item else { return "Invalid type for 'input[\(i)]': expected an object." }
            let type = o["type"]?.stringValue ?? (o["role"] != nil ? "message" : "")
            switch type {
            case "message":
                guard let role = o["role"]?.stringValue, ["user", "assistant", "system", "developer"].contains(role)
                else { return "Invalid value for 'input[\(i)].role'." }
                if o["id"] != nil, role == "assistant", o["status"] == nil {
                    return "Missing required parameter: 'input[\(i)].status'."
                }
                switch o["content"] {
                case .string?: continue
                case .array(let parts)?:
                    for (k, part) in parts.enumerated() {
                        let allowed =
                            role == "assistant"
                            ? ["output_text", "refusal", "input_text"] : ["input_text", "input_image", "input_file"]
                        guard let t = part["type"]?.stringValue, allowed.contains(t) else {
                            return "Invalid value: '\(part["type"]?.stringValue ?? "")'. Supported values are: "
                                + allowed.map { "'\($0)'" }.joined(separator: ", ")
                                + " (input[\(i)].content[\(k)].type)."
                        }
                        if t == "input_image", part["image_url"] == nil, part["file_id"] == nil {
                            return "Missing required parameter: 'input[\(i)].content[\(k)].image_url'."
                        }
                    }
                default:
                    return "Missing required parameter: 'input[\(i)].content'."
                }
            case "function_call":
                guard let id = o["call_id"]?.stringValue, o["name"]?.stringValue != nil,
                    o["arguments"]?.stringValue != nil
                else { return "Missing required parameter: 'input[\(i)].call_id'." }
                calls.insert(id)
            case "function_call_output":
                guard let id = o["call_id"]?.stringValue, o["output"] != nil else {
                    return "Missing required parameter: 'input[\(i)].output'."
                }
                guard calls.contains(id) else {
                    return "No tool call found for function call output with call_id \(id)."
                }
            case "reasoning", "web_search_call":
                guard o["id"] != nil else { return "Missing required parameter: 'input[\(i)].id'." }
            default:
                return "Invalid value: '\(type)' (input[\(i)].type)."
            }
        }
        return nil
    }
}
