import SwitchyardCore

/// OpenAI message content → Anthropic content blocks (docs/translation.md §2.1).
///
/// `path` is the content's JSON path (`messages[1].content`); errors name the part
/// (`messages[1].content[2].image_url.url`).
enum AnthropicContent {
    /// Media types Anthropic accepts for `image` blocks.
    static let imageMediaTypes: Set<String> = ["image/jpeg", "image/png", "image/gif", "image/webp"]

    static func text(_ text: String) -> JSON { ["type": "text", "text": .string(text)] }

    /// A user message: text, images and PDF files; audio and `file_id` are rejected.
    static func userBlocks(_ content: MessageContent?, path: String, provider: String) throws(APIError) -> [JSON] {
        guard let content else { return [] }
        guard case .parts(let parts) = content else { return content.text.isEmpty ? [] : [text(content.text)] }
        var blocks: [JSON] = []
        for (k, part) in parts.enumerated() {
            let p = "\(path)[\(k)]"
            switch part {
            case .text(let t):
                if !t.isEmpty { blocks.append(text(t)) }
            case .imageURL(let url, _):  // `detail` has no counterpart: dropped
                blocks.append(try imageBlock(url, path: p + ".image_url.url", provider: provider))
            case .inputAudio:
                throw .unsupportedParameter(
                    p, provider: provider, detail: "Audio input (\(p)) is not supported by \(provider) models.")
            case .file(let fileData, let fileID, let filename):
                blocks.append(
                    try documentBlock(
                        fileData: fileData, fileID: fileID, filename: filename, path: p, provider: provider))
            case .refusal:
                throw .invalidRequest(
                    "\(p): refusal parts are only valid in assistant messages.", param: p + ".type",
                    code: "invalid_value")
            }
        }
        return blocks
    }

    /// Text of an assistant message (string, `text` and `refusal` parts, then the `refusal`
    /// field), one block per non-empty piece.
    static func assistantBlocks(_ message: ChatMessage, path: String) throws(APIError) -> [JSON] {
        var blocks: [JSON] = []
        switch message.content {
        case nil: break
        case .text(let s)?: if !s.isEmpty { blocks.append(text(s)) }
        case .parts(let parts)?:
            for (k, part) in parts.enumerated() {
                switch part {
                case .text(let t), .refusal(let t): if !t.isEmpty { blocks.append(text(t)) }
                default:
                    throw .invalidRequest(
                        "\(path)[\(k)]: assistant messages may only hold text and refusal parts.",
                        param: "\(path)[\(k)].type", code: "invalid_value")
                }
            }
        }
        if let r = message.refusal, !r.isEmpty { blocks.append(text(r)) }
        return blocks
    }

    /// System, developer and tool messages: text parts only, joined without separator (as
    /// ``MessageContent/text`` does).
    static func plainText(_ content: MessageContent?, path: String) throws(APIError) -> String {
        guard let content else { return "" }
        if case .parts(let parts) = content {
            for (k, part) in parts.enumerated() {
                guard case .text = part else {
                    throw .invalidRequest(
                        "\(path)[\(k)]: this message role only accepts text parts.", param: "\(path)[\(k)].type",
                        code: "invalid_value")
                }
            }
        }
        return content.text
    }

    /// `data:<mime>;base64,<data>` → a base64 source; `http(s)://` → a url source (Anthropic
    /// fetches it). Split at the first `,`; the header must end in `;base64`.
    static func imageBlock(_ url: String, path: String, provider: String) throws(APIError) -> JSON {
        let lower = url.prefix(8).lowercased()
        if lower.hasPrefix("https://") || lower.hasPrefix("http://") {
            return ["type": "image", "source": ["type": "url", "url": .string(url)]]
        }
        guard let (mime, data) = dataURL(url) else {
            throw .invalidRequest(
                "\(path) must be an http(s) URL or a data URL of the form data:<mime>;base64,<data>.", param: path,
                code: "invalid_value")
        }
        guard imageMediaTypes.contains(mime) else {
            throw .unsupportedValue(
                path,
                "Image type '\(mime)' is not supported by \(provider) models; use image/jpeg, image/png, image/gif or image/webp."
            )
        }
        return ["type": "image", "source": ["type": "base64", "media_type": .string(mime), "data": .string(data)]]
    }

    /// A PDF given inline becomes a `document` block. `file_data` may be a data URL
    /// (`data:application/pdf;base64,…`, what the SDKs produce) or bare base64, accepted when
    /// the filename ends in `.pdf` or the bytes start with `%PDF` (base64 `JVBER`) (**policy**).
    static func documentBlock(
        fileData: String?, fileID: String?, filename: String?, path: String, provider: String
    ) throws(APIError) -> JSON {
        guard let fileData else {
            if fileID != nil {
                throw .unsupportedParameter(
                    path + ".file.file_id", provider: provider,
                    detail:
                        "Files referenced by file_id (\(path).file.file_id) are not supported by \(provider) models; send file_data."
                )
            }
            throw .invalidRequest(
                "\(path).file needs file_data.", param: path + ".file", code: "missing_required_parameter")
        }
        let data: String
        if fileData.hasPrefix("data:") {
            guard let (mime, d) = dataURL(fileData) else {
                throw .invalidRequest(
                    "\(path).file.file_data is not a valid base64 data URL.", param: path + ".file.file_data",
                    code: "invalid_value")
            }
            guard mime == "application/pdf" else {
                throw .unsupportedValue(
                    path + ".file.file_data",
                    "File type '\(mime)' is not supported by \(provider) models; only PDF files are.")
            }
            data = d
        } else {
            guard filename?.lowercased().hasSuffix(".pdf") == true || fileData.hasPrefix("JVBER") else {
                throw .unsupportedValue(
                    path + ".file.file_data", "Only PDF files are supported by \(provider) models (\(path).file).")
            }
            data = fileData
        }
        return [
            "type": "document", "source": ["type": "base64", "media_type": "application/pdf", "data": .string(data)],
        ]
    }

    /// Splits `data:<mime>;base64,<data>`; `nil` when the header lacks `;base64`, the mime or the data.
    static func dataURL(_ url: String) -> (mime: String, data: String)? {
        guard url.hasPrefix("data:"), let comma = url.firstIndex(of: ",") else { return nil }
        let header = url[url.index(url.startIndex, offsetBy: 5)..<comma]
        guard header.hasSuffix(";base64") else { return nil }
        let mime = header.dropLast(7).lowercased()
        let data = url[url.index(after: comma)...]
        guard !mime.isEmpty, !mime.contains(";"), !data.isEmpty else { return nil }
        return (mime, String(data))
    }
}
