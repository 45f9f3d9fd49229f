/// Tool-call ids between OpenAI clients and Gemini (docs/translation.md §5).
///
/// Gemini may omit `functionCall.id`; Switchyard then synthesises one that is deterministic in
/// (`TargetContext.idSeed`, candidate index, call index), so a streamed and a buffered decode of the
/// same answer agree and any split of the stream gives the same ids. The router gives every
/// upstream call a seed of its own, so the ids never repeat across requests or the turns of a
/// conversation (agent frameworks key tool results by id). A `thoughtSignature` travels
/// inside the id (`<id>__thought__<signature>`, LiteLLM's format), which keeps the codec stateless.
enum GeminiToolCallID {
    /// Prefix of ids Switchyard made up; they are never sent back to Gemini.
    static let syntheticPrefix = "call_sy"
    static let thoughtSeparator = "__thought__"
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)

    /// `call_sy` + 24 characters of `[A-Za-z0-9]` derived from the inputs (FNV-1a, then SplitMix64).
    static func synthetic(seed: String, candidate: Int, call: Int) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ bytes: some Sequence<UInt8>) {
            for b in bytes {
                hash ^= UInt64(b)
                hash = hash &* 0x0000_0100_0000_01b3
            }
        }
        mix(seed.utf8)
        mix([0x1F])
        mix(String(candidate).utf8)
        mix([0x1F])
        mix(String(call).utf8)
        var state = hash
        var out = Array(syntheticPrefix.utf8)
        for _ in 0..<24 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            out.append(alphabet[Int(z % UInt64(alphabet.count))])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The id a client sees for one `functionCall` part.
    static func clientID(native: String?, signature: String?, seed: String, candidate: Int, call: Int) -> String {
        var id = native.flatMap { $0.isEmpty ? nil : $0 } ?? synthetic(seed: seed, candidate: candidate, call: call)
        if let signature, !signature.isEmpty { id += thoughtSeparator + signature }
        return id
    }

    /// Splits a client id at the first `__thought__` into the base id and the thought signature.
    static func split(_ id: String) -> (base: String, signature: String?) {
        guard let r = id.firstRange(of: thoughtSeparator) else { return (id, nil) }
        let signature = String(id[r.upperBound...])
        return (String(id[..<r.lowerBound]), signature.isEmpty ? nil : signature)
    }

    /// Whether a base id may have been issued by Gemini and should be echoed as `functionCall.id` /
    /// `functionResponse.id`. **Policy:** ids with `call_` (Switchyard's synthetic `call_sy…` and
    /// OpenAI's `call_…`) or `toolu_` (Anthropic) prefixes are foreign and not sent; Gemini pairs
    /// calls and results by name and order when ids are absent.
    static func isGeminiIssued(_ base: String) -> Bool {
        !base.isEmpty && !base.hasPrefix("call_") && !base.hasPrefix("toolu_")
    }
}
