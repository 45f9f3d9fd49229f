/// Removes configured secrets (provider keys, client keys) from bytes an upstream sent, before
/// anything reads them: an upstream may echo the key it received (in an error message, a header,
/// a stream's error event), and whatever it sends reaches answers, logs, task records and
/// idempotency records. `RedactingUpstream` applies it where upstream bytes enter the process.
///
/// **What counts as a secret in the text** (**policy**):
/// - each configured secret of at least `minimumSecretLength` bytes, as is, JSON-escaped
///   (`/` as `\/`) and percent-encoded, wherever it appears;
/// - any run of `fragmentLength` or more consecutive bytes of one of those forms: a prefix or
///   suffix of a key is as useful to an attacker as the key when most of it is there. Shorter
///   fragments stay: providers' own masked displays (`sk-proj-abc…wxyz`) show 4 to 8 characters,
///   which leaves a key's entropy intact.
///
/// Shorter secrets cannot be told apart from ordinary text and are not redacted (start-up warns).
/// A match becomes `[REDACTED]`; it is widened to whole JSON escape sequences, so a redacted JSON
/// text stays valid JSON.
///
/// **Cost.** The text is read in 4-byte blocks at offsets that are multiples of `stride`, each
/// looked up in a small table of every block of every pattern, and a 4096-bit filter turns most
/// blocks away at once. A match is at least `stride + 3` bytes long (the shortest run any pattern
/// requires), so it always covers one such block: 5 for the shortest secret, 13 for one of 16
/// bytes or more, where every fourth byte was read before (a streamed answer's every read is
/// scanned). Nothing when no secret is configured.
public struct Redactor: Sendable {
    public static let marker: [UInt8] = Array("[REDACTED]".utf8)
    public static let minimumSecretLength = 8
    public static let fragmentLength = 16

    struct Pattern: Sendable {
        var bytes: [UInt8]
        /// Shortest run of it that is redacted: the whole pattern when short, else a fragment.
        var required: Int
    }

    let patterns: [Pattern]
    let table: BlockTable
    /// Length of the longest pattern: a stream holds back at most this many bytes of a line.
    public let longestPattern: Int
    /// How far apart the scanned blocks are: the shortest run a pattern requires, less 3.
    let stride: Int

    /// A redactor that changes nothing.
    public init() { self.init(secrets: []) }

    /// - Parameter secrets: the values to remove; those shorter than `minimumSecretLength` bytes
    ///   are skipped (see `tooShort(_:)`).
    public init(secrets: some Sequence<String>) {
        var seen: Set<[UInt8]> = []
        var patterns: [Pattern] = []
        for secret in secrets where !Self.tooShort(secret) {
            let raw = Array(secret.utf8)
            for form in [raw, Self.jsonEscaped(raw), Self.percentEncoded(raw)] where seen.insert(form).inserted {
                patterns.append(Pattern(bytes: form, required: min(form.count, Self.fragmentLength)))
            }
        }
        self.patterns = patterns
        self.table = BlockTable(patterns.map(\.bytes))
        self.longestPattern = patterns.map(\.bytes.count).max() ?? 0
        self.stride = max(1, (patterns.map(\.required).min() ?? 4) - 3)
    }

    /// Whether a secret is too short to be redacted from text.
    public static func tooShort(_ secret: String) -> Bool { secret.utf8.count < minimumSecretLength }

    public var isEmpty: Bool { patterns.isEmpty }

    /// `bytes` with every match replaced; the same array when nothing matched.
    public func redact(_ bytes: [UInt8]) -> [UInt8] {
        guard !isEmpty, bytes.count >= Self.minimumSecretLength else { return bytes }
        let ranges = bytes.withUnsafeBufferPointer { matches(in: $0) }
        return ranges.isEmpty ? bytes : Self.replacing(ranges, in: bytes[...])
    }

    public func redact(_ text: String) -> String {
        guard !isEmpty else { return text }
        let bytes = Array(text.utf8)
        let redacted = redact(bytes)
        return redacted == bytes ? text : String(decoding: redacted, as: UTF8.self)
    }

    /// The status line's headers with every value (and name) redacted.
    public func redact(_ head: UpstreamHead) -> UpstreamHead {
        guard !isEmpty else { return head }
        // Every name and value of a plain unparsed head is a run of its received bytes, so a block
        // without a match has no field with one: the head stays as it came, unparsed (parsing and
        // redacting field by field was 1.2% of a plain request's CPU, perf at c=16).
        if let raw = head.plainRawLines, raw.withUnsafeBufferPointer({ matches(in: $0).isEmpty }) { return head }
        var head = head
        head.headers = head.headers.map { HeaderField(redact($0.name), redact($0.value)) }
        return head
    }

    public func redact(_ failure: UpstreamFailure) -> UpstreamFailure {
        switch failure {
        case .connect(let text): .connect(redact(text))
        case .transport(let text): .transport(redact(text))
        case .timeout, .cancelled: failure
        }
    }

    /// Sorted, disjoint ranges of `text` to replace.
    func matches(in text: UnsafeBufferPointer<UInt8>) -> [Range<Int>] {
        guard !isEmpty, text.count >= 4 else { return [] }
        return table.withSlots { scan(text, $0) }
    }

    private func scan(_ text: UnsafeBufferPointer<UInt8>, _ slots: BlockTable.Slots) -> [Range<Int>] {
        let n = text.count
        let raw = UnsafeRawBufferPointer(text)
        let stride = self.stride
        var found: [Range<Int>] = []
        var i = 0
        while i + 4 <= n {
            let block = raw.loadUnaligned(fromByteOffset: i, as: UInt32.self)
            // The common case: the block is in no secret, which one bit of a small filter says.
            guard slots.mayContain(block) else {
                i += stride
                continue
            }
            var link = slots.first(block)
            if link < 0 {
                i += stride
                continue
            }
            var next = i + stride
            while link >= 0 {
                let occurrence = table.occurrences[Int(link)]
                let pattern = patterns[Int(occurrence.pattern)]
                if let r = Self.extend(text, at: i, pattern: pattern, offset: Int(occurrence.offset)) {
                    found.append(Self.widenedToEscapes(r, in: text))
                    next = max(next, r.upperBound)
                }
                link = occurrence.next
            }
            i = (next + stride - 1) / stride * stride
        }
        return Self.merged(found)
    }

    /// The longest run around `text[i..<i+4] == pattern[offset..<offset+4]` that `text` and
    /// `pattern` share, if it is long enough to redact.
    private static func extend(
        _ text: UnsafeBufferPointer<UInt8>, at i: Int, pattern: Pattern, offset: Int
    ) -> Range<Int>? {
        let bytes = pattern.bytes
        var start = i
        var p = offset
        while start > 0, p > 0, text[start - 1] == bytes[p - 1] {
            start -= 1
            p -= 1
        }
        var end = i + 4
        var q = offset + 4
        while end < text.count, q < bytes.count, text[end] == bytes[q] {
            end += 1
            q += 1
        }
        return end - start >= pattern.required ? start..<end : nil
    }

    /// Widens a match to the JSON escape sequences (`\x`, `\uXXXX`) it cuts, so replacing it
    /// cannot leave a dangling backslash.
    static func widenedToEscapes(_ r: Range<Int>, in text: UnsafeBufferPointer<UInt8>) -> Range<Int> {
        var start = r.lowerBound
        var end = r.upperBound
        func escapeLength(at b: Int) -> Int? {
            guard text[b] == UInt8(ascii: "\\") else { return nil }
            var run = 1
            while b - run >= 0, text[b - run] == UInt8(ascii: "\\") { run += 1 }
            guard run % 2 == 1 else { return nil }  // the second of `\\`
            return b + 1 < text.count && text[b + 1] == UInt8(ascii: "u") ? 6 : 2
        }
        for b in max(0, start - 5)..<start {
            if let length = escapeLength(at: b), b + length > start {
                start = b
                break
            }
        }
        for b in max(start, end - 5)..<end {
            if let length = escapeLength(at: b), b + length > end {
                end = min(text.count, b + length)
                break
            }
        }
        return start..<end
    }

    static func merged(_ ranges: [Range<Int>]) -> [Range<Int>] {
        guard ranges.count > 1 else { return ranges }
        var out: [Range<Int>] = []
        for r in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = out.last, r.lowerBound <= last.upperBound {
                out[out.count - 1] = last.lowerBound..<max(last.upperBound, r.upperBound)
            } else {
                out.append(r)
            }
        }
        return out
    }

    /// `bytes` with each (sorted, disjoint, relative to `bytes.startIndex`) range replaced by the marker.
    static func replacing(_ ranges: [Range<Int>], in bytes: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var at = bytes.startIndex
        for r in ranges {
            out.append(contentsOf: bytes[at..<(bytes.startIndex + r.lowerBound)])
            out.append(contentsOf: marker)
            at = bytes.startIndex + r.upperBound
        }
        out.append(contentsOf: bytes[at...])
        return out
    }

    static func jsonEscaped(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        for b in bytes {
            if b == UInt8(ascii: "/") || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") { out.append(0x5C) }
            out.append(b)
        }
        return out
    }

    /// RFC 3986 percent-encoding of everything but the unreserved characters.
    static func percentEncoded(_ bytes: [UInt8]) -> [UInt8] {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for b in bytes {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.append(b)
            default:
                out += [UInt8(ascii: "%"), hex[Int(b >> 4)], hex[Int(b & 0xF)]]
            }
        }
        return out
    }
}

/// Every 4-byte block of every pattern, by value, with where it occurs: open addressing over a
/// power-of-two table at most half full. Its keys come from the configuration only, never from
/// the text searched, so no input can lengthen a probe.
struct BlockTable: Sendable {
    struct Occurrence: Sendable {
        var pattern: Int32
        var offset: Int32
        /// The next occurrence of the same block, or -1.
        var next: Int32
    }

    private var keys: [UInt32]
    /// First occurrence of the slot's block, or -1 for an empty slot.
    private var heads: [Int32]
    /// One bit per value of the hash's top 12 bits that some block has: most text blocks are
    /// turned away by one load and a bit test.
    private var filter = [UInt64](repeating: 0, count: 64)
    private(set) var occurrences: [Occurrence] = []
    private let shift: UInt32

    init(_ patterns: [[UInt8]]) {
        let blocks = patterns.reduce(0) { $0 + max(0, $1.count - 3) }
        var bits: UInt32 = 4
        while (1 << bits) < blocks * 2 { bits += 1 }
        keys = Array(repeating: 0, count: 1 << bits)
        heads = Array(repeating: -1, count: 1 << bits)
        shift = 32 - bits
        for (k, pattern) in patterns.enumerated() where pattern.count >= 4 {
            for offset in 0...(pattern.count - 4) {
                let block = pattern.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self) }
                var slot = self.slot(block)
                while heads[slot] >= 0 && keys[slot] != block { slot = (slot + 1) & (keys.count - 1) }
                keys[slot] = block
                let h = Int((block &* 0x9E37_79B1) >> 20)
                filter[h >> 6] |= 1 << UInt64(h & 63)
                occurrences.append(Occurrence(pattern: Int32(k), offset: Int32(offset), next: heads[slot]))
                heads[slot] = Int32(occurrences.count - 1)
            }
        }
    }

    private func slot(_ block: UInt32) -> Int { Int((block &* 0x9E37_79B1) >> shift) }

    /// The table's arrays as pointers for the duration of a scan (no bounds checks or reference
    /// counting per block).
    func withSlots<T>(_ body: (Slots) -> T) -> T {
        keys.withUnsafeBufferPointer { keys in
            heads.withUnsafeBufferPointer { heads in
                filter.withUnsafeBufferPointer { filter in
                    body(Slots(keys: keys, heads: heads, filter: filter, shift: shift))
                }
            }
        }
    }

    struct Slots {
        let keys: UnsafeBufferPointer<UInt32>
        let heads: UnsafeBufferPointer<Int32>
        let filter: UnsafeBufferPointer<UInt64>
        let shift: UInt32

        @inline(__always)
        func mayContain(_ block: UInt32) -> Bool {
            let h = Int((block &* 0x9E37_79B1) >> 20)
            return filter[h >> 6] & (1 << UInt64(h & 63)) != 0
        }

        /// The first occurrence of `block` in the patterns, or -1.
        func first(_ block: UInt32) -> Int32 {
            let mask = keys.count - 1
            var slot = Int((block &* 0x9E37_79B1) >> shift)
            while true {
                let head = heads[slot]
                if head < 0 || keys[slot] == block { return head }
                slot = (slot + 1) & mask
            }
        }
    }
}

/// Redacts a body that arrives in chunks, so a secret split across two chunks is still found.
///
/// A chunk is passed on up to its last line break at once (SSE events end in a blank line, so a
/// stream's events are never delayed), and a line still open at the end of a chunk is held back
/// only as far as a secret could still be completing in it: at most `Redactor.longestPattern`
/// bytes, or the whole match a chunk ends in. Secrets contain no line breaks (the route table
/// refuses keys with control characters).
public struct StreamRedaction: Sendable {
    let redactor: Redactor
    private var held: [UInt8] = []

    public init(_ redactor: Redactor) { self.redactor = redactor }

    /// What can be passed on after `chunk`: possibly empty, never more than arrived.
    public mutating func feed(_ chunk: [UInt8]) -> [UInt8] {
        guard !redactor.isEmpty else { return chunk }
        let buffer = held.isEmpty ? chunk : held + chunk
        // Everything before the open line goes, and of the open line all but its last
        // `longestPattern` bytes (no secret that could still be completing starts earlier).
        var cut = buffer.count
        let floor = max(0, buffer.count - redactor.longestPattern)
        while cut > floor, buffer[cut - 1] != 0x0A, buffer[cut - 1] != 0x0D { cut -= 1 }
        let ranges = buffer.withUnsafeBufferPointer { redactor.matches(in: $0) }
        for r in ranges where r.lowerBound < cut && r.upperBound > cut { cut = r.lowerBound }
        held = cut < buffer.count ? Array(buffer[cut...]) : []
        let done = ranges.filter { $0.upperBound <= cut }
        if done.isEmpty { return cut == buffer.count ? buffer : Array(buffer[..<cut]) }
        return Redactor.replacing(done, in: buffer[..<cut])
    }

    /// The end of the body: whatever was held back, redacted.
    public mutating func finish() -> [UInt8] {
        defer { held = [] }
        return redactor.redact(held)
    }
}
