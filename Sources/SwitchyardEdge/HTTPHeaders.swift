/// An ordered list of HTTP header fields, `(name, value)` pairs in wire order.
///
/// Lookup by name is ASCII case-insensitive and returns the first match. Names are stored as
/// given; the edge lowercases the names of received request headers. The edge imports no
/// Switchyard module (docs/architecture.md), so this is its own type; upstream calls and stored
/// records use Core's `HeaderField`, and the gateway converts where the two meet.
public struct HTTPHeaders: Sendable, Sequence, ExpressibleByDictionaryLiteral {
    public typealias Element = (name: String, value: String)

    @usableFromInline var fields: [Element]

    public init() { fields = [] }

    public init(_ fields: [(String, String)]) {
        self.fields = fields.map { (name: $0.0, value: $0.1) }
    }

    public init(dictionaryLiteral elements: (String, String)...) {
        self.init(elements)
    }

    /// The value of the first field named `name` (ASCII case-insensitive), or nil.
    public subscript(name: String) -> String? {
        for field in fields where Self.equalsIgnoringCase(field.name, name) {
            return field.value
        }
        return nil
    }

    /// All values of fields named `name`, in order.
    public func values(for name: String) -> [String] {
        fields.filter { Self.equalsIgnoringCase($0.name, name) }.map(\.value)
    }

    /// Appends a field, keeping any existing fields of the same name.
    public mutating func add(_ name: String, _ value: String) {
        fields.append((name: name, value: value))
    }

    /// Replaces the first field named `name` and removes any later ones, or appends it.
    public mutating func replaceOrAdd(_ name: String, _ value: String) {
        guard let first = fields.firstIndex(where: { Self.equalsIgnoringCase($0.name, name) }) else {
            add(name, value)
            return
        }
        fields[first].value = value
        var index = fields.index(after: first)
        while index < fields.endIndex {
            if Self.equalsIgnoringCase(fields[index].name, name) {
                fields.remove(at: index)
            } else {
                index += 1
            }
        }
    }

    /// Removes every field named `name`.
    public mutating func remove(_ name: String) {
        fields.removeAll { Self.equalsIgnoringCase($0.name, name) }
    }

    /// Room for `n` fields without growing (the edge reserves it before copying a request's).
    public mutating func reserveCapacity(_ n: Int) { fields.reserveCapacity(n) }

    public var count: Int { fields.count }
    public var isEmpty: Bool { fields.isEmpty }

    public func makeIterator() -> IndexingIterator<[Element]> {
        fields.makeIterator()
    }

    /// ASCII case-insensitive equality. The UTF-8 bytes are compared in place: walking both
    /// strings' `utf8` views with iterators cost about 0.2 us per request over the edge's and the
    /// gateway's lookups (`perf`, `cpu-per-request` c=16).
    package static func equalsIgnoringCase(_ lhs: String, _ rhs: String) -> Bool {
        // Most fields a lookup passes differ in length: that answer is one comparison.
        guard lhs.utf8.count == rhs.utf8.count else { return false }
        var lhs = lhs
        var rhs = rhs
        return lhs.withUTF8 { left in
            rhs.withUTF8 { right in
                for i in 0..<left.count where left[i] != right[i] && lowercased(left[i]) != lowercased(right[i]) {
                    return false
                }
                return true
            }
        }
    }

    @inline(__always)
    static func lowercased(_ byte: UInt8) -> UInt8 {
        byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte
    }
}
