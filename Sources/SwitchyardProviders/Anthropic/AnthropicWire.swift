import SwitchyardCore

/// Small translations shared by the response and stream decoders and the request encoder.
enum AnthropicWire {
    /// docs/translation.md §6.1. `forcedJSON`: the reply came through the forced `json_response` tool (§4),
    /// which the client sees as plain content, so `tool_use` ends it with `stop`.
    static func finishReason(_ stopReason: String?, forcedJSON: Bool) -> FinishReason {
        switch stopReason {
        case "end_turn", "stop_sequence", "pause_turn": .stop
        case "max_tokens", "model_context_window_exceeded": .length
        case "tool_use": forcedJSON ? .stop : .toolCalls
        case "refusal": .contentFilter
        default: .stop  // null or a value newer than this codec
        }
    }

    /// docs/translation.md §6.2: Anthropic's `input_tokens` counts only the uncached part, so the OpenAI
    /// prompt count adds both cache counters back. Missing counts are 0; the cache details are
    /// reported only when Anthropic sent the counter.
    static func usage(_ value: JSON?) -> Usage {
        let u = value?.objectValue ?? JSONObject()
        let input = u["input_tokens"]?.intValue ?? 0
        let cacheWrite = u["cache_creation_input_tokens"]?.intValue
        let cacheRead = u["cache_read_input_tokens"]?.intValue
        let output = u["output_tokens"]?.intValue ?? 0
        return Usage(
            promptTokens: input + (cacheWrite ?? 0) + (cacheRead ?? 0), completionTokens: output,
            cachedTokens: cacheRead, cacheWriteTokens: cacheWrite)
    }

    /// `usage(_:)` over the bytes of a checked value (nil when absent), reading only its counts:
    /// the parsed object was a dozen allocations of every translated answer.
    static func usage(bytes: UnsafeBufferPointer<UInt8>?) -> Usage {
        var input: Range<Int>?
        var cacheWrite: Range<Int>?
        var cacheRead: Range<Int>?
        var output: Range<Int>?
        if let bytes {
            // Not an object: no member is visited and every count reads as absent, as the tree's.
            _ = try? JSON.forEachMember(of: bytes) { m in
                if m.named("input_tokens", in: bytes) {
                    input = m.value
                } else if m.named("cache_creation_input_tokens", in: bytes) {
                    cacheWrite = m.value
                } else if m.named("cache_read_input_tokens", in: bytes) {
                    cacheRead = m.value
                } else if m.named("output_tokens", in: bytes) {
                    output = m.value
                }
            }
        }
        func int(_ r: Range<Int>?) -> Int? { bytes?.scalar(at: r).intValue }
        let write = int(cacheWrite)
        let read = int(cacheRead)
        return Usage(
            promptTokens: (int(input) ?? 0) + (write ?? 0) + (read ?? 0), completionTokens: int(output) ?? 0,
            cachedTokens: read, cacheWriteTokens: write)
    }

    /// docs/translation.md §5: Anthropic restricts tool-use ids to `[a-zA-Z0-9_-]`; anything else becomes
    /// `_`, applied identically to `tool_use.id` and `tool_result.tool_use_id`.
    static func toolID(_ id: String) -> String {
        var needsRewrite = false
        for b in id.utf8 where !isIDByte(b) {
            needsRewrite = true
            break
        }
        guard needsRewrite else { return id }
        var out = ""
        out.reserveCapacity(id.utf8.count)
        for scalar in id.unicodeScalars {
            if scalar.isASCII, isIDByte(UInt8(scalar.value)) { out.unicodeScalars.append(scalar) } else { out += "_" }
        }
        return out
    }

    private static func isIDByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F || b == 0x2D
    }
}
