import SwitchyardProviders

/// `SSEParser` over arbitrary bytes. What must hold (the parser's contract): the messages do
/// not depend on how the body is split, so feeding it whole, byte by byte and in chunks of a
/// size taken from the input gives the same messages.
enum SSEFuzz {
    static func run(_ input: [UInt8]) throws(FuzzFailure) {
        let whole = parse(input, chunk: input.count)
        try check(parse(input, chunk: 1) == whole, "byte-by-byte feeding gives different messages")
        let size = 2 + input.count % 13
        try check(parse(input, chunk: size) == whole, "feeding in \(size)-byte chunks gives different messages")
    }

    static func parse(_ input: [UInt8], chunk: Int) -> [SSEMessage] {
        var parser = SSEParser()
        var out: [SSEMessage] = []
        for start in stride(from: 0, to: input.count, by: max(1, chunk)) {
            out += parser.feed(input[start..<min(start + max(1, chunk), input.count)])
        }
        return out + parser.finish()
    }
}

enum FuzzSplit {
    /// `bytes` cut into pieces of `size` (the last may be shorter); one empty piece for no bytes.
    static func chunks(_ bytes: [UInt8], size: Int) -> [[UInt8]] {
        guard !bytes.isEmpty else { return [[]] }
        let size = max(1, size)
        return stride(from: 0, to: bytes.count, by: size).map { Array(bytes[$0..<min($0 + size, bytes.count)]) }
    }
}
