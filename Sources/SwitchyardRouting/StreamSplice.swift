public import SwitchyardCore

/// What the client has received of a stream so far, and whether another call could pick it up.
/// Pure: fed the events exactly as they go to the client.
public struct DeliveredText: Sendable, Equatable {
    /// Content of choice 0 delivered so far.
    public private(set) var text = ""
    /// Every delta so far was plain assistant text of choice 0: no tool call, refusal, finish
    /// reason, logprobs or other choice. Only such a stream can be continued by prefill.
    public private(set) var plainText = true
    /// The first raw (forwarded) chunk: a continuation is written in its envelope. It is read only
    /// then (`envelope`); every later raw chunk comes from the same upstream API (a
    /// continuation's chunks are written in this envelope, or carry none).
    private var firstRaw: RawChunk?

    public init() {}

    /// `id`, `object` and `created` of the first raw (OpenAI passthrough) chunk: spliced chunks
    /// are re-encoded with it so the client sees one envelope. Only a Chat Completions chunk has
    /// an envelope to keep; a forwarded Responses event (it names its `type`) is continued by the
    /// gateway's Responses encoder instead. Read from the chunk's text, not from a parsed tree.
    public var envelope: JSONObject? {
        guard let firstRaw else { return nil }
        let v = firstRaw.values(["type", "id", "object", "created"])
        guard v[0] == nil else { return nil }
        var e = JSONObject()
        for (key, value) in zip(["id", "object", "created"], v[1...]) {
            if let value { e.appendUnique(key, value) }
        }
        return e
    }

    public mutating func record(_ events: [StreamEvent]) {
        for case .choices(let deltas, let raw) in events {
            if firstRaw == nil, let raw { firstRaw = raw }
            for d in deltas {
                let plain =
                    d.index == 0 && d.toolCalls.isEmpty && d.refusal == nil && d.finishReason == nil
                    && d.logprobs == nil
                if !plain { plainText = false }
                if let c = d.content { text += c }
            }
        }
    }

    /// The delivered text split for a continuation: trailing whitespace is held back from the
    /// final assistant message in every dialect (and reconciled with the continuation by
    /// `StreamSplice`). Anthropic refuses a final assistant turn ending in whitespace; the other
    /// servers accept one, but their tokenizers attach a space to the word after it, so a prompt
    /// ending in a bare space asks the model for an unusual token split, and chat templates that
    /// trim message content drop the space anyway. Without it the model writes the space itself.
    public var prefill: (prefix: String, held: String) {
        var end = text.endIndex
        while end > text.startIndex {
            let prev = text.index(before: end)
            guard text[prev].isWhitespace else { break }
            end = prev
        }
        return (String(text[..<end]), String(text[end...]))
    }
}

/// Rewrites a continuation's events so that they follow what the client already has:
/// no second role delta, the held-back whitespace not repeated, a repeated prefix dropped, and
/// (for a passthrough stream) the original chunk envelope with the finishing target's model.
///
/// The client text is always delivered + continuation: the whitespace `held` back from the
/// prefill was already delivered, so it is dropped from the front of the continuation as far
/// as the model repeats it; if the model does not repeat it, nothing is dropped. A server that
/// answers with the whole prefix again before its continuation (`echo`) has that repeat
/// dropped; text that only starts like the prefix is held until it differs, then passed on.
public struct StreamSplice: Sendable {
    /// Delivered whitespace the continuation may still repeat.
    public private(set) var held: Substring
    /// The part of the prefix a repeat has not matched yet; empty once decided.
    private var echo: Substring
    /// Continuation text held while it matches the start of the prefix.
    private var echoed = ""
    let envelope: JSONObject?
    let model: String

    /// - Parameter echo: the prefix the continuation may begin by repeating ("" when the
    ///   target's dialect never does).
    public init(held: String, envelope: JSONObject?, model: String, echo: String = "") {
        self.held = Substring(held)
        self.echo = Substring(echo)
        self.envelope = envelope
        self.model = model
    }

    /// Rewrites choice deltas; usage and markers pass through (the caller accounts for usage).
    public mutating func rewrite(_ events: [StreamEvent]) -> [StreamEvent] {
        var out: [StreamEvent] = []
        for e in events {
            guard case .choices(let deltas, _) = e else {
                // The stream goes on without more text: what was held as a possible repeat is text.
                if let text = releaseEchoed() { out.append(choices([ChoiceDelta(content: text)])) }
                out.append(e)
                continue
            }
            var kept: [ChoiceDelta] = []
            for var d in deltas {
                d.role = false
                d.contentNull = false
                if let c = d.content {
                    let rest = reconcile(c)
                    d.content = rest.isEmpty ? nil : rest
                }
                let empty =
                    d.content == nil && d.toolCalls.isEmpty && d.refusal == nil && d.finishReason == nil
                    && d.logprobs == nil
                if !empty {
                    if let text = releaseEchoed() { d.content = text + (d.content ?? "") }
                    kept.append(d)
                }
            }
            if !kept.isEmpty { out.append(choices(kept)) }
        }
        return out
    }

    /// The usage event for the spliced answer.
    public func usageEvent(_ usage: Usage) -> StreamEvent {
        .usage(usage, raw: chunk(choices: .array([]), usage: usage.json))
    }

    /// The part of a continuation delta's text the client does not have yet ("" while undecided).
    private mutating func reconcile(_ text: String) -> String {
        var rest = Substring(text)
        if !echo.isEmpty {
            while let p = echo.first, let c = rest.first, p == c {
                echo.removeFirst()
                echoed.append(c)
                rest.removeFirst()
            }
            if echo.isEmpty {
                echoed = ""  // the whole prefix came back: drop it
            } else if rest.isEmpty {
                return ""  // still undecided
            } else {
                echo = ""  // not a repeat: the held text is the continuation's start
                rest = Substring(echoed) + rest
                echoed = ""
            }
        }
        return dropHeld(rest)
    }

    /// Drops the held-back whitespace from the front of `text` as far as it repeats it.
    private mutating func dropHeld(_ text: Substring) -> String {
        guard !held.isEmpty else { return String(text) }
        var rest = text
        while let h = held.first, let c = rest.first, h == c {
            held.removeFirst()
            rest.removeFirst()
        }
        // Anything beyond the matched whitespace means the model did not (fully) repeat it.
        if !rest.isEmpty { held = "" }
        return String(rest)
    }

    /// Text held as a possible repeat of the prefix, once something other than more text
    /// follows it (it was the continuation's start after all).
    private mutating func releaseEchoed() -> String? {
        guard !echoed.isEmpty else { return nil }
        let text = echoed
        echo = ""
        echoed = ""
        let rest = dropHeld(Substring(text))
        return rest.isEmpty ? nil : rest
    }

    private func choices(_ deltas: [ChoiceDelta]) -> StreamEvent {
        .choices(deltas, raw: chunk(choices: .array(deltas.map(\.json)), usage: nil))
    }

    /// A passthrough chunk in the original envelope; nil when the original stream was
    /// translated (the gateway's `ChunkEncoder` writes the envelope then).
    private func chunk(choices: JSON, usage: JSON?) -> RawChunk? {
        guard var o = envelope else { return nil }
        o["model"] = .string(model)
        o["choices"] = choices
        if let usage { o["usage"] = usage }
        return RawChunk(o)
    }
}

extension ChatRequest {
    /// The request with `prefix` appended as a final assistant message to be continued;
    /// unchanged when `prefix` is empty. Both the typed messages and the raw body (a native
    /// passthrough) get it, in the origin API's shape; the codec adds the target's continuation
    /// flags, if its dialect has any.
    public func continuing(_ prefix: String) -> ChatRequest {
        guard !prefix.isEmpty else { return self }
        var r = self
        r.continuesFinalMessage = true
        r.messages.append(ChatMessage(role: .assistant, content: .text(prefix)))
        let turn: JSON = ["role": "assistant", "content": .string(prefix)]
        switch origin {
        case .chatCompletions, .anthropicMessages:
            if case .array(var m)? = raw["messages"] {
                m.append(turn)
                r.raw["messages"] = .array(m)
            }
        case .responses:
            switch raw["input"] {
            case .array(var items)?:
                items.append(turn)
                r.raw["input"] = .array(items)
            case .string(let text)?:
                r.raw["input"] = [["role": "user", "content": .string(text)], turn]
            default:
                break
            }
        }
        return r
    }

    /// Whether a broken stream of this request may be continued by prefill: one choice, no
    /// logprobs, no JSON mode (Anthropic's JSON mode is a forced tool, which a prefill cannot follow),
    /// no extended thinking (Anthropic refuses a continued turn that does not start with its signed
    /// thinking block, and the refusal would also bar the target from continuing other streams).
    var allowsContinuation: Bool {
        guard (n ?? 1) == 1, !logprobs else { return false }
        if let thinking, thinking != .disabled { return false }
        switch responseFormat {
        case nil, .text?: return true
        default: return false
        }
    }
}
