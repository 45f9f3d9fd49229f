import SwitchyardCore

extension OpenAICodec {
    /// The client's Chat Completions body as it arrived, with the `model` value replaced in place
    /// and, for a stream, `"stream_options":{"include_usage":true}` appended when the client sent
    /// no `stream_options`: every other byte (key order, spacing, number text, escapes, unknown
    /// fields) goes upstream untouched, and nothing is serialised.
    ///
    /// nil when the body is not that simple (then `raw` is serialised, as it always was): `model`
    /// or `stream_options` given twice (the upstream must not read a different value than we
    /// routed on), or a stream whose `stream_options` must be changed.
    ///
    /// `layout` is where the parse of `body` found the members (`ChatRequest.rawLayout`); without
    /// one the body is scanned for them.
    static func splicedPassthroughBody(
        _ body: [UInt8], layout: RequestBodyLayout? = nil, model: String, stream: Bool
    ) -> [UInt8]? {
        body.withUnsafeBufferPointer { b -> [UInt8]? in
            guard let layout = layout ?? Self.layout(of: b), layout.modelCount == 1, let m = layout.model else {
                return nil
            }
            var addUsageOption = false
            if stream {
                switch layout.streamOptionsCount {
                case 0:
                    addUsageOption = true
                case 1:
                    // Already asking for usage: forwarded as it is. Anything else goes through `raw`.
                    guard let o = layout.streamOptions,
                        case .object(let options)? = try? JSON.parse(UnsafeBufferPointer(rebasing: b[o])),
                        options["include_usage"] == .bool(true)
                    else { return nil }
                default:
                    return nil
                }
            }
            var out: [UInt8] = []
            out.reserveCapacity(b.count + model.utf8.count + (addUsageOption ? 48 : 8))
            out.append(contentsOf: UnsafeBufferPointer(rebasing: b[..<m.lowerBound]))
            JSON.writeString(model, to: &out)
            out.append(contentsOf: UnsafeBufferPointer(rebasing: b[m.upperBound...]))
            if addUsageOption {
                // Before the closing brace: the member comes last, where `raw` would put it.
                var close = out.count - 1
                while close > 0, out[close] != UInt8(ascii: "}") { close -= 1 }
                out.insert(contentsOf: #","stream_options":{"include_usage":true}"#.utf8, at: close)
            }
            return out
        }
    }

    /// The members `splicedPassthroughBody` needs, found by a scan of `b` (a body whose parse
    /// noted none); nil when `b` is not a JSON object. The members are visited, not collected: a
    /// member list was an allocation per request.
    static func layout(of b: UnsafeBufferPointer<UInt8>) -> RequestBodyLayout? {
        var layout = RequestBodyLayout()
        let isObject = try? JSON.forEachMember(of: b) { member in
            if member.named("model", in: b) {
                layout.modelCount += 1
                layout.model = member.value
            } else if member.named("stream_options", in: b) {
                layout.streamOptionsCount += 1
                layout.streamOptions = member.value
            }
        }
        return isObject == true ? layout : nil
    }

    /// A Chat Completions answer forwarded as received: checked (valid JSON, an object with a
    /// `choices` array, as the full decode requires) and its `usage` read, with the unified
    /// `ChatResponse` left for whoever reads it. nil when the answer is not a chat completion.
    static func passthroughAnswer(
        _ body: [UInt8], request: ChatRequest, target: TargetContext, id: String, created: Int
    ) -> DecodedResponse? {
        let usage: Usage?? = body.withUnsafeBufferPointer { b -> Usage?? in
            var choices: JSONMember?
            var usage: JSONMember?
            let isObject = try? JSON.forEachMember(of: b) { member in
                if member.named("choices", in: b) {
                    choices = member
                } else if member.named("usage", in: b) {
                    usage = member
                }
            }
            guard isObject == true, let choices, b[choices.value.lowerBound] == UInt8(ascii: "[") else { return .none }
            guard let u = usage else { return .some(nil) }
            return .some(Usage(openAIBytes: UnsafeBufferPointer(rebasing: b[u.value])))
        }
        guard case .some(let usage) = usage else { return nil }
        let codec = OpenAICodec()
        return DecodedResponse(passthroughBody: body, usage: usage) {
            // Checked above; the full decode cannot fail on it.
            (try? codec.decodeChatCompletion(body, target: target, id: id, created: created))
                ?? ChatResponse(id: id, created: created, model: target.upstreamModel, choices: [], usage: usage)
        }
    }
}
