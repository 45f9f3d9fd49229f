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

    /// At most the bytes `JSON.writeString(s, ...)` writes: quotes and six bytes a byte (`\u0001`)
    /// for a short string, counted exactly for a long one (so a long answer's bound is not six
    /// times its size).
    static func bound(_ s: String) -> Int {
        let n = s.utf8.count
        if n <= 256 { return 2 + 6 * n }
        var total = 2 + n
        for b in s.utf8 where b < 0x20 || b == 0x22 || b == 0x5C {
            switch b {
            case 0x22, 0x5C, 0x0A, 0x0D, 0x09, 0x08, 0x0C: total += 1
            default: total += 5
            }
        }
        return total
    }

    /// At most the bytes `JSON.writeInt` writes (`Int.min` is 20 characters).
    static let intBound = 20
}
