/// Where the direct JSON writers (`ChatResponse.serialized()`, `Usage.write`, `JSON.writeString`)
/// put their bytes: an array that grows as it must, or a `BoundedWriter` over memory reserved for
/// the whole text. Generic, so each writer is written once and specialised for both.
protocol JSONSink {
    mutating func write(_ literal: StaticString)
    mutating func write(byte: UInt8)
    mutating func write(_ bytes: UnsafeBufferPointer<UInt8>)
    /// A value written through the tree's serialiser (an answer's `logprobs`).
    mutating func write(json: JSON)
}

extension Array: JSONSink where Element == UInt8 {
    @inline(__always)
    mutating func write(_ literal: StaticString) { literal.withUTF8Buffer { append(contentsOf: $0) } }
    @inline(__always)
    mutating func write(byte: UInt8) { append(byte) }
    @inline(__always)
    mutating func write(_ bytes: UnsafeBufferPointer<UInt8>) { append(contentsOf: bytes) }
    mutating func write(json: JSON) { json.write(to: &self) }
}

/// Writes into memory reserved for the whole text (`[UInt8](unsafeUninitializedCapacity:)` with
/// an upper bound of what is written): each literal is a copy of its bytes, without the array's
/// capacity and uniqueness checks and the generic `append(contentsOf:)` call of every piece
/// (0.13 us of a translated request, `switchyard-bench codec --only gemini` 3.43 -> 3.30 us).
/// Every write checks the bound: a wrong bound stops the process instead of writing past it.
struct BoundedWriter: JSONSink {
    private let start: UnsafeMutablePointer<UInt8>
    private var next: UnsafeMutablePointer<UInt8>
    private let end: UnsafeMutablePointer<UInt8>

    init(_ buffer: UnsafeMutableBufferPointer<UInt8>) {
        start = buffer.baseAddress!
        next = start
        end = start + buffer.count
    }

    /// Bytes written so far.
    var count: Int { next - start }

    @inline(__always)
    mutating func write(_ literal: StaticString) {
        let n = literal.utf8CodeUnitCount
        precondition(end - next >= n, "BoundedWriter: bound too small")
        next.initialize(from: literal.utf8Start, count: n)
        next += n
    }

    @inline(__always)
    mutating func write(byte: UInt8) {
        precondition(next < end, "BoundedWriter: bound too small")
        next.initialize(to: byte)
        next += 1
    }

    @inline(__always)
    mutating func write(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let base = bytes.baseAddress else { return }
        precondition(end - next >= bytes.count, "BoundedWriter: bound too small")
        next.initialize(from: base, count: bytes.count)
        next += bytes.count
    }

    mutating func write(json: JSON) {
        json.serialized().withUnsafeBufferPointer { write($0) }
    }

    /// At least the bytes `JSON.writeString(s, ...)` writes. Eight bytes at a time
    /// (`SWAR.escapes`, the last word overlapping the one before it): a string with nothing to
    /// escape is itself and its quotes; one with an escape, quotes and six bytes a byte (`\u0001`)
    /// up to 64 bytes, exactly what is written for a longer one (two bytes for `"`, `\` and the
    /// control characters with a short escape, six for the others). Strings under 8 bytes count
    /// six a byte. (Counting every string byte by byte cost as much as the stack buffer it kept
    /// the answer in saved, 0.045 us.)
    static func bound(_ s: String) -> Int {
        let n = s.utf8.count
        guard n >= 8 else { return 2 + 6 * n }
        let counted = s.utf8.withContiguousStorageIfAvailable { buf -> Int in
            let base = UnsafeRawPointer(buf.baseAddress!)
            var i = 0
            while true {
                let word = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: min(i, n - 8), as: UInt64.self))
                if SWAR.escapes(word) != 0 { break }
                i += 8
                if i >= n { return 2 + n }
            }
            if n <= 64 { return 2 + 6 * n }
            var total = 2 + n
            for b in buf where b < 0x20 || b == 0x22 || b == 0x5C {
                switch b {
                case 0x22, 0x5C, 0x0A, 0x0D, 0x09, 0x08, 0x0C: total += 1
                default: total += 5
                }
            }
            return total
        }
        return counted ?? 2 + 6 * n
    }

    /// At most the bytes `JSON.writeInt` writes (`Int.min` is 20 characters).
    static let intBound = 20
}

extension SWAR {
    /// The high bit of the first byte of `word` (in memory order, little-endian) that a JSON
    /// string escapes, set exactly, and perhaps of later bytes: a control character, `"` or `\`
    /// (`stringStops` without the bytes outside ASCII, which are written as they are); zero when
    /// there is none.
    @inline(__always)
    static func escapes(_ word: UInt64) -> UInt64 {
        let control = (word &- 0x2020_2020_2020_2020) & ~word
        let quote = zeroBytes(word ^ 0x2222_2222_2222_2222)
        let backslash = zeroBytes(word ^ 0x5C5C_5C5C_5C5C_5C5C)
        return (control | quote | backslash) & 0x8080_8080_8080_8080
    }
}
