/// A JSON value that keeps object key order and number text exactly as received.
///
/// Why our own type rather than `JSONSerialization` or `Codable`: a gateway must forward
/// fields it does not know (unknown keys, large integers such as `seed`, `logit_bias` token
/// ids) byte-for-byte in meaning, golden-file tests need a stable key order, and the hot path
/// parses and re-serialises every request body, where a small byte-level parser is several
/// times faster than going through `Codable` containers.
public enum JSON: Sendable, Hashable {
    case null
    case bool(Bool)
    /// The number's literal text as it appeared on the wire (already validated as JSON).
    case number(String)
    case string(String)
    case array([JSON])
    case object(JSONObject)

    public static func int(_ value: Int) -> JSON { .number(String(value)) }

    public static func double(_ value: Double) -> JSON {
        guard value.isFinite else { return .null }
        if value == value.rounded(), abs(value) < 1e15 { return .number(String(Int64(value))) }
        return .number(String(value))
    }

    public var isNull: Bool { if case .null = self { true } else { false } }

    public var stringValue: String? { if case .string(let s) = self { s } else { nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { b } else { nil } }
    public var arrayValue: [JSON]? { if case .array(let a) = self { a } else { nil } }
    public var objectValue: JSONObject? { if case .object(let o) = self { o } else { nil } }

    public var doubleValue: Double? {
        if case .number(let text) = self { return Double(text) }
        return nil
    }

    /// The value as an integer when it is a number without a fractional part.
    public var intValue: Int? {
        guard case .number(let text) = self else { return nil }
        if let i = Int(text) { return i }
        if let d = Double(text), d == d.rounded(), abs(d) < 9.0e18 { return Int(d) }
        return nil
    }

    /// Member lookup on objects; `nil` for other kinds or a missing key.
    public subscript(key: String) -> JSON? {
        get { objectValue?[key] }
        set {
            guard case .object(var o) = self else { return }
            o[key] = newValue
            self = .object(o)
        }
    }

    /// The JSON type name, for error messages ("expected string, got number").
    public var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}

extension JSON: ExpressibleByStringLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(arrayLiteral elements: JSON...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSON)...) { self = .object(JSONObject(elements)) }
    public init(nilLiteral: ()) { self = .null }
}

/// A JSON object with insertion-ordered keys.
///
/// Small objects (the members of chat payloads) are searched linearly, which beats hashing (the
/// UTF-8 length, O(1) for native strings, is compared before the text). Past `indexThreshold`
/// members the object also keeps a key → position table, so building or reading an object of
/// n members costs O(n), not O(n²): a client's 160,000-member `metadata` (1.8 MB) took 37 s to
/// parse with the linear scan alone (`switchyard-bench bodies`), and 0.1 s with the table.
///
/// Duplicate keys (RFC 8259 leaves their meaning open): setting a key that exists replaces its
/// value in the position of its first occurrence, so a parsed `{"a":1,"b":2,"a":3}` is
/// `{"a":3,"b":2}`, as `JSON.parse` in JavaScript and Python's `json` read it. Forwarded bodies
/// are re-serialised from this value, so an upstream never sees the duplicate and cannot read
/// the object differently from us.
public struct JSONObject: Sendable, Hashable, Sequence, ExpressibleByDictionaryLiteral {
    public struct Entry: Sendable, Hashable {
        public var key: String
        public var value: JSON
    }

    /// Objects with more members than this keep `positions`. Below it a scan is cheaper than
    /// hashing the key (the objects of `switchyard-bench codec` have 1 to 9 members). The table
    /// costs small objects one nil word: about 0.2 µs of the 4.9 µs per request of that bench.
    public static let indexThreshold = 16

    public private(set) var entries: [Entry]
    /// Index of each key's entry; `nil` while the object is at most `indexThreshold` long.
    private var positions: [String: Int]?

    public init() { entries = [] }

    public init(_ pairs: [(String, JSON)]) {
        entries = []
        entries.reserveCapacity(pairs.count)
        for (k, v) in pairs { self[k] = v }
    }

    public init(dictionaryLiteral elements: (String, JSON)...) { self.init(elements) }

    /// The parser's members, whose keys are distinct, with its key table when it built one.
    init(uniqueEntries: [Entry], positions: [String: Int]?) {
        entries = uniqueEntries
        self.positions = positions
        if positions == nil, entries.count > Self.indexThreshold { rebuildPositions() }
    }

    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }
    public var keys: [String] { entries.map(\.key) }

    public subscript(key: String) -> JSON? {
        get {
            if positions != nil { return positions![key].map { entries[$0].value } }
            let length = key.utf8.count
            for e in entries where e.key.utf8.count == length && e.key == key { return e.value }
            return nil
        }
        set {
            if positions != nil { return setIndexed(key, newValue) }
            let length = key.utf8.count
            if let i = entries.firstIndex(where: { $0.key.utf8.count == length && $0.key == key }) {
                if let v = newValue { entries[i].value = v } else { entries.remove(at: i) }
            } else if let v = newValue {
                entries.append(Entry(key: key, value: v))
                if entries.count > Self.indexThreshold { rebuildPositions() }
            }
        }
    }

    private mutating func setIndexed(_ key: String, _ newValue: JSON?) {
        guard let value = newValue else {
            if let i = positions![key] {
                entries.remove(at: i)
                rebuildPositions()
            }
            return
        }
        // One hash probe per member: the slot is claimed for a new key in the same lookup.
        let next = entries.count
        let i = Self.claim(&positions![key, default: next])
        if i == next { entries.append(Entry(key: key, value: value)) } else { entries[i].value = value }
    }

    private static func claim(_ slot: inout Int) -> Int { slot }

    /// Appends without checking for an existing key; for builders that know keys are unique.
    public mutating func appendUnique(_ key: String, _ value: JSON) { append(key, value) }

    public func makeIterator() -> IndexingIterator<[Entry]> { entries.makeIterator() }

    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool { lhs.entries == rhs.entries }

    public func hash(into hasher: inout Hasher) { hasher.combine(entries) }

    private mutating func append(_ key: String, _ value: JSON) {
        entries.append(Entry(key: key, value: value))
        if positions != nil {
            // The first occurrence stays the one lookups find, as in a linear scan.
            _ = Self.claim(&positions![key, default: entries.count - 1])
        } else if entries.count > Self.indexThreshold {
            rebuildPositions()
        }
    }

    private mutating func rebuildPositions() {
        guard entries.count > Self.indexThreshold else {
            positions = nil
            return
        }
        var table: [String: Int] = [:]
        table.reserveCapacity(entries.count)
        for (i, e) in entries.enumerated() where table[e.key] == nil { table[e.key] = i }
        positions = table
    }
}
