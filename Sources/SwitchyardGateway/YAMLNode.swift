/// A YAML document's node tree as `YAMLComposer` builds it from libyaml's parser events. Aliases
/// are already replaced by the node their anchor names (shared, not copied: a tree of 10⁸ values
/// can come from 3 KB of text, which is why `ConfigLoader` counts values before converting any).
enum YAMLNode: Sendable {
    case scalar(YAMLScalar)
    case sequence([YAMLNode])
    /// Pairs in document order; keys are unique (the composer refuses a repeated key).
    case mapping([(key: YAMLNode, value: YAMLNode)])

    /// A scalar key's text, "" for a key that is a list or a mapping.
    var keyText: String {
        if case .scalar(let s) = self { return s.text }
        return ""
    }
}

/// A scalar as written: its text after YAML's escapes and folding, and what decides how it resolves.
struct YAMLScalar: Sendable {
    var text: String
    /// Plain (unquoted, not a `|` or `>` block): only plain scalars can be anything but a string.
    var isPlain: Bool
    /// An explicit tag, resolved by libyaml (`!!str` is `tag:yaml.org,2002:str`); nil when none.
    var tag: String?
    var mark: YAMLMark
}

/// A position in the text, both counted from 1 (columns in Unicode scalars, as libyaml counts them).
struct YAMLMark: Sendable, Equatable, CustomStringConvertible {
    var line: Int
    var column: Int

    init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    /// The mark of a byte offset into `text`.
    init(offset: Int, in text: String) {
        var line = 1
        var lineStart = 0
        for (i, byte) in text.utf8.prefix(offset).enumerated() where byte == UInt8(ascii: "\n") {
            line += 1
            lineStart = i + 1
        }
        let column = String(decoding: text.utf8.dropFirst(lineStart).prefix(offset - lineStart), as: UTF8.self)
            .unicodeScalars.count
        self.init(line: line, column: column + 1)
    }

    var description: String { "\(line):\(column)" }
}

/// Why a text is not one YAML document, with its position and the offending line.
struct YAMLError: Error, Sendable, CustomStringConvertible {
    var description: String

    init(description: String) {
        self.description = description
    }

    /// `line:column: error: stage: message:` then the line and a caret under the column.
    init(mark: YAMLMark, stage: String, message: String, text: String) {
        var line = Substring("")
        var n = 1
        for l in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if n == mark.line {
                line = l
                break
            }
            n += 1
        }
        let caret = String(repeating: " ", count: max(0, min(mark.column - 1, line.unicodeScalars.count))) + "^"
        description = "\(mark): error: \(stage): \(message):\n\(line)\n\(caret)"
    }
}
