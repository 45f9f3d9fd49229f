import SwitchyardCore

/// One libyaml parser event, copied out of C (`YAMLEventReader`).
struct YAMLEvent: Sendable {
    enum Kind: Sendable {
        case streamStart, streamEnd, documentStart, documentEnd
        case alias(anchor: String)
        case scalar(YAMLScalar, anchor: String?)
        case sequenceStart(anchor: String?)
        case sequenceEnd
        case mappingStart(anchor: String?)
        case mappingEnd
    }

    var kind: Kind
    /// Where the event starts.
    var mark: YAMLMark
}

/// Builds the node tree of a single-document YAML text from libyaml's events, as Yams's `compose`
/// did before it: aliases name the last node anchored under that name before them, a key may not
/// repeat within a mapping, and a second document is an error. Merge keys (`<<`) and tags other
/// than `!!str` have no meaning here: `<<` is an ordinary key.
///
/// Nesting deeper than `maximumDepth` is refused, as the libyaml Yams carried refused it (Debian's
/// libyaml 0.2.5 has no limit): the tree is built, counted and converted by recursion, and 4 MiB
/// of `[` would otherwise overflow the stack.
struct YAMLComposer {
    static let maximumDepth = 1000

    private let events: YAMLEventReader
    private let text: String
    private var anchors: [String: YAMLNode] = [:]

    /// The root node, or nil for a text without a document (empty, or only comments).
    static func compose(_ text: String) throws(YAMLError) -> YAMLNode? {
        var composer = YAMLComposer(events: YAMLEventReader(text), text: text)
        return try composer.document()
    }

    private init(events: YAMLEventReader, text: String) {
        self.events = events
        self.text = text
    }

    private mutating func document() throws(YAMLError) -> YAMLNode? {
        _ = try events.next()  // stream start
        let start = try events.next()
        if case .streamEnd = start.kind { return nil }
        let root = try node(from: try events.next(), depth: 1)
        _ = try events.next()  // document end
        let after = try events.next()
        guard case .streamEnd = after.kind else {
            throw YAMLError(
                mark: after.mark, stage: "composer",
                message: "expected a single document in the stream\nbut found another document", text: text)
        }
        return root
    }

    private mutating func node(from event: YAMLEvent, depth: Int) throws(YAMLError) -> YAMLNode {
        switch event.kind {
        case .alias(let anchor):
            guard let node = anchors[anchor] else {
                throw YAMLError(mark: event.mark, stage: "composer", message: "found undefined alias", text: text)
            }
            return node
        case .scalar(let scalar, let anchor):
            return register(.scalar(scalar), anchor)
        case .sequenceStart(let anchor):
            try checkDepth(depth, event)
            var items: [YAMLNode] = []
            while true {
                let e = try events.next()
                if case .sequenceEnd = e.kind { break }
                items.append(try node(from: e, depth: depth + 1))
            }
            return register(.sequence(items), anchor)
        case .mappingStart(let anchor):
            try checkDepth(depth, event)
            var pairs: [(key: YAMLNode, value: YAMLNode)] = []
            var seen: [ScalarKey: YAMLMark] = [:]
            while true {
                let e = try events.next()
                if case .mappingEnd = e.kind { break }
                let key = try node(from: e, depth: depth + 1)
                if case .scalar(let s) = key {
                    if let first = seen.updateValue(s.mark, forKey: ScalarKey(s)) {
                        throw YAMLError(
                            mark: e.mark, stage: "composer",
                            message: "found duplicate key '\(s.text)' (first in line \(first.line), column "
                                + "\(first.column))", text: text)
                    }
                }
                pairs.append((key, try node(from: try events.next(), depth: depth + 1)))
            }
            return register(.mapping(pairs), anchor)
        default:
            // libyaml produces only the events above inside a document.
            throw YAMLError(mark: event.mark, stage: "composer", message: "unexpected event", text: text)
        }
    }

    private func checkDepth(_ depth: Int, _ event: YAMLEvent) throws(YAMLError) {
        guard depth > Self.maximumDepth else { return }
        throw YAMLError(
            mark: event.mark, stage: "composer", message: "nested deeper than \(Self.maximumDepth) levels", text: text)
    }

    private mutating func register(_ node: YAMLNode, _ anchor: String?) -> YAMLNode {
        if let anchor { anchors[anchor] = node }
        return node
    }

    /// Two scalar keys are the same key when their text and their type are (Yams compared the
    /// resolved tags): `"1"` and `1` are different keys, `"a"` and `a` the same one.
    private struct ScalarKey: Hashable {
        var text: String
        var type: String

        init(_ s: YAMLScalar) {
            text = s.text
            if let tag = s.tag {
                type = tag
            } else if !s.isPlain {
                type = YAMLScalar.stringTag
            } else {
                type =
                    switch s.resolved {
                    case .string: YAMLScalar.stringTag
                    case .null: "null"
                    case .bool: "bool"
                    case .number: "number"
                    default: "other"
                    }
            }
        }
    }
}
