private import CYAML

/// One libyaml parser (`yaml_parser_t`) over a copy of the text, deleted exactly once in `deinit`.
/// It hands out parser events as Swift values: every string is copied out and the C event is
/// deleted before `next()` returns, so nothing of libyaml outlives a call.
///
/// Not thread-safe; one composition uses it from start to end.
final class YAMLEventReader {
    private let parser: UnsafeMutablePointer<yaml_parser_t>
    /// "The input buffer should be kept alive until the parser is deleted" (`yaml_parser_set_input_string`
    /// does not copy it).
    private let input: UnsafeMutableBufferPointer<UInt8>
    private let text: String

    init(_ text: String) {
        self.text = text
        input = .allocate(capacity: max(text.utf8.count, 1))
        _ = input.initialize(from: text.utf8)
        parser = .allocate(capacity: 1)
        // yaml_parser_initialize fails only when its first buffers cannot be allocated.
        guard yaml_parser_initialize(parser) == 1 else { fatalError("libyaml: out of memory") }
        yaml_parser_set_encoding(parser, YAML_UTF8_ENCODING)
        yaml_parser_set_input_string(parser, input.baseAddress, text.utf8.count)
    }

    deinit {
        yaml_parser_delete(parser)
        parser.deallocate()
        input.deallocate()
    }

    /// The next event; after an error libyaml produces no more events.
    func next() throws(YAMLError) -> YAMLEvent {
        var event = yaml_event_t()
        guard yaml_parser_parse(parser, &event) == 1 else { throw error() }
        defer { yaml_event_delete(&event) }
        let mark = YAMLMark(line: Int(event.start_mark.line) + 1, column: Int(event.start_mark.column) + 1)
        switch event.type {
        case YAML_STREAM_START_EVENT: return YAMLEvent(kind: .streamStart, mark: mark)
        case YAML_STREAM_END_EVENT: return YAMLEvent(kind: .streamEnd, mark: mark)
        case YAML_DOCUMENT_START_EVENT: return YAMLEvent(kind: .documentStart, mark: mark)
        case YAML_DOCUMENT_END_EVENT: return YAMLEvent(kind: .documentEnd, mark: mark)
        case YAML_ALIAS_EVENT: return YAMLEvent(kind: .alias(anchor: string(event.data.alias.anchor) ?? ""), mark: mark)
        case YAML_SCALAR_EVENT:
            let s = event.data.scalar
            let value = String(decoding: UnsafeBufferPointer(start: s.value, count: s.length), as: UTF8.self)
            let scalar = YAMLScalar(
                text: value, isPlain: s.style == YAML_PLAIN_SCALAR_STYLE || s.style == YAML_ANY_SCALAR_STYLE,
                tag: string(s.tag), mark: mark)
            return YAMLEvent(kind: .scalar(scalar, anchor: string(s.anchor)), mark: mark)
        case YAML_SEQUENCE_START_EVENT:
            return YAMLEvent(kind: .sequenceStart(anchor: string(event.data.sequence_start.anchor)), mark: mark)
        case YAML_SEQUENCE_END_EVENT: return YAMLEvent(kind: .sequenceEnd, mark: mark)
        case YAML_MAPPING_START_EVENT:
            return YAMLEvent(kind: .mappingStart(anchor: string(event.data.mapping_start.anchor)), mark: mark)
        case YAML_MAPPING_END_EVENT: return YAMLEvent(kind: .mappingEnd, mark: mark)
        default:
            // YAML_NO_EVENT: not produced by a parse that succeeded.
            return YAMLEvent(kind: .streamEnd, mark: mark)
        }
    }

    private func string(_ p: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        p.map { String(cString: $0) }
    }

    /// libyaml's error as `line:column: error: stage: [context in line, column\n]problem:` and the
    /// line with a caret under the column (the form Yams printed, so check-config reads the same).
    private func error() -> YAMLError {
        let p = parser.pointee
        let problem = p.problem.map { String(cString: $0) } ?? "unknown error"
        let stage: String
        var mark = YAMLMark(line: Int(p.problem_mark.line) + 1, column: Int(p.problem_mark.column) + 1)
        switch p.error {
        case YAML_MEMORY_ERROR: return YAMLError(description: "error: out of memory")
        case YAML_READER_ERROR:
            // Reader errors (bytes that are not allowed in YAML) carry a byte offset, not a mark.
            stage = "reader"
            mark = YAMLMark(offset: p.problem_offset, in: text)
        case YAML_SCANNER_ERROR: stage = "scanner"
        case YAML_PARSER_ERROR: stage = "parser"
        default: stage = "composer"
        }
        var context = ""
        if let c = p.context {
            context = "\(String(cString: c)) in line \(p.context_mark.line + 1), column \(p.context_mark.column + 1)\n"
        }
        return YAMLError(mark: mark, stage: stage, message: context + problem, text: text)
    }
}
