import Testing

@testable import SwitchyardCore

/// The word-at-a-time fast paths must find exactly what the bytewise loops they skip ahead of
/// find, at every position in a word and for every byte value.
@Suite struct SWARTests {
    /// The bytewise rule the string scan stops at.
    static func stops(_ b: UInt8) -> Bool { b < 0x20 || b >= 0x80 || b == 0x22 || b == 0x5C }

    static func word(_ bytes: [UInt8]) -> UInt64 {
        bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
    }

    static func firstStop(_ bytes: [UInt8]) -> Int? { bytes.firstIndex(where: stops) }

    static func fromWord(_ word: UInt64) -> Int? {
        let s = SWAR.stringStops(word)
        return s == 0 ? nil : s.trailingZeroBitCount / 8
    }

    @Test func stringStopsIsTheFirstSpecialByteAtEveryPositionForEveryByte() {
        for position in 0..<8 {
            for value in 0...255 {
                for filler: UInt8 in [0x61, 0x20, 0x7F, 0x21, 0x5D, 0x01] {
                    var bytes = [UInt8](repeating: filler, count: 8)
                    bytes[position] = UInt8(value)
                    #expect(Self.fromWord(Self.word(bytes)) == Self.firstStop(bytes), "\(bytes)")
                }
            }
        }
    }

    @Test func stringStopsAgreesOnRandomWords() {
        // Bytes around every boundary the rule has, and some of everything.
        let edges: [UInt8] = [
            0x00, 0x01, 0x1F, 0x20, 0x21, 0x22, 0x23, 0x5B, 0x5C, 0x5D, 0x7E, 0x7F, 0x80, 0x81, 0xA0, 0xFF,
        ]
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<50_000 {
            let bytes = (0..<8).map { _ in
                Bool.random(using: &rng)
                    ? edges.randomElement(using: &rng)! : UInt8.random(in: 0x20...0x7E, using: &rng)
            }
            #expect(Self.fromWord(Self.word(bytes)) == Self.firstStop(bytes), "\(bytes)")
        }
    }

    /// Through the parser and the skimmer: a string with one special byte at each offset (so at
    /// each place in a word and past the words) reads as the bytewise scan read it.
    @Test func stringsWithASpecialByteAtEveryOffsetParseAndSkimAlike() throws {
        for length in 0..<40 {
            let plain = String(repeating: "abcdefgh", count: 5).prefix(length)
            let text = Array("[\"\(plain)\"]".utf8)
            #expect(try JSON.parse(text) == .array([.string(String(plain))]))
            #expect(Self.skims(text))
            for offset in 0..<length {
                for (insert, expected) in [
                    ("\\n", "\n"), ("\\\"", "\""), ("é", "é"), ("\\u00e9", "é"), ("~", "~"), ("\u{7F}", "\u{7F}"),
                ] {
                    var s = Array(plain)
                    s.replaceSubrange(offset..<offset + 1, with: Array(insert))
                    let bytes = Array("[\"\(String(s))\"]".utf8)
                    var want = Array(plain)
                    want.replaceSubrange(offset..<offset + 1, with: Array(expected))
                    #expect(try JSON.parse(bytes) == .array([.string(String(want))]), "\(String(s))")
                    #expect(Self.skims(bytes), "\(String(s))")
                }
                var control = Array("[\"\(plain)\"]".utf8)
                control[2 + offset] = 0x1F
                #expect((try? JSON.parse(control)) == nil)
                #expect(!Self.skims(control))
                var invalid = control
                invalid[2 + offset] = 0xFF
                #expect((try? JSON.parse(invalid)) == nil)
                #expect(!Self.skims(invalid))
            }
        }
    }

    /// Whether the skimmer accepts `[string]` as the value of an object's member.
    static func skims(_ array: [UInt8]) -> Bool {
        let object = Array("{\"k\":".utf8) + array[1..<(array.count - 1)] + Array("}".utf8)
        return (try? JSON.members(of: object)) != nil
    }

    /// `UpstreamHeaderLines.isPlain` against the two bytewise checks it replaced.
    @Test func plainHeadLinesAgreeWithTheBytewiseChecks() {
        let pieces: [[UInt8]] = [
            Array("Content-Type: application/json\r\n".utf8), Array("X: 1\n".utf8), Array(" folded\r\n".utf8),
            Array("\tfolded\r\n".utf8), Array("caf\u{E9}: yes\r\n".utf8), Array("a".utf8), Array("\n".utf8),
            Array(" ".utf8), Array("\t".utf8), Array("\r\n".utf8), Array("Server: nginx\r\n".utf8), [0x80], [0x7F],
        ]
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<50_000 {
            let raw = (0..<Int.random(in: 0...8, using: &rng)).flatMap { _ in pieces.randomElement(using: &rng)! }
            let bytewise = !UpstreamHeaderLines.isFolded(raw) && raw.allSatisfy { $0 < 0x80 }
            #expect(raw.withUnsafeBufferPointer { UpstreamHeaderLines.isPlain($0) } == bytewise, "\(raw)")
        }
    }
}
