public import SwitchyardCore

/// The documented estimate `POST /v1/messages/count_tokens` answers when no Anthropic target can
/// count exactly (the model has none, or each failed with a server-side error): a heuristic, not
/// a tokenizer, meant to err high.
///
/// - Text (system, messages, tool results, tool-call names and arguments, each tool's name,
///   description and schema as JSON): one token per started 4 bytes of UTF-8, as a rule of thumb
///   for English prose and code; CJK text and unusual scripts count high, never low.
/// - 4 tokens per message and per tool for the framing.
/// - 1,600 tokens per image (Anthropic's figure for an image at its largest size without
///   downscaling, about 1.15 megapixels).
/// - 3,000 tokens per started 100,000 characters of a base64 PDF.
public enum MessagesTokenEstimate {
    public static let perMessage = 4
    public static let perImage = 1600
    public static let perPDFChunk = 3000
    public static let pdfChunkCharacters = 100_000

    public static func inputTokens(_ request: ChatRequest) -> Int {
        var tokens = 0
        for m in request.messages {
            tokens += perMessage
            switch m.content {
            case .text(let s)?: tokens += text(s)
            case .parts(let parts)?:
                for p in parts { tokens += part(p) }
            case nil: break
            }
            for call in m.toolCalls { tokens += text(call.name) + text(call.arguments) }
        }
        for t in request.tools {
            tokens += perMessage + text(t.name) + text(t.description ?? "")
            if let p = t.parameters { tokens += text(p.serializedString()) }
        }
        return max(1, tokens)
    }

    static func text(_ s: String) -> Int { (s.utf8.count + 3) / 4 }

    static func part(_ p: ContentPart) -> Int {
        switch p {
        case .text(let s), .refusal(let s): text(s)
        case .imageURL: perImage
        case .file(let data, _, _):
            perPDFChunk * max(1, ((data?.utf8.count ?? 0) + pdfChunkCharacters - 1) / pdfChunkCharacters)
        case .inputAudio(let data, _): text(data)
        }
    }
}
