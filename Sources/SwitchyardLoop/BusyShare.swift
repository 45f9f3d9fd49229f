/// The share of recent time something spent busy, 0...1, fed one stretch of time at a time.
///
/// An exponentially weighted average over about `window` nanoseconds: a stretch of `d` moves the
/// value towards 1 (busy) or 0 (idle) by `d / (window + d)`. A stretch as long as the window moves
/// it half way, a much longer one all the way, a short one in proportion to its length, so
/// splitting a stretch in parts changes the result little. The division stands in for
/// `1 - exp(-d / window)`, which it matches for short stretches, without a libm call twice a turn.
public struct BusyShare: Sendable {
    public private(set) var value: Double = 0
    public let window: Double

    public init(window: Int64) {
        self.window = Double(max(1, window))
    }

    public mutating func add(_ nanoseconds: Int64, busy: Bool) {
        guard nanoseconds > 0 else { return }
        let d = Double(nanoseconds)
        value += ((busy ? 1 : 0) - value) * (d / (window + d))
    }

    /// `value` in units of `1 / scale`, for an atomic integer.
    public func scaled(_ scale: Int) -> Int { Int((value * Double(scale)).rounded()) }
}
