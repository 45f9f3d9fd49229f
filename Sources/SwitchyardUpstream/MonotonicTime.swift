import Glibc

/// Nanoseconds on `CLOCK_MONOTONIC`, the clock `ContinuousClock` reads on Linux; a vDSO call, cheap
/// enough for the loop thread to read once per iteration and the body callback once per chunk.
@inline(__always)
func monotonicNanos() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) &* 1_000_000_000 &+ Int64(ts.tv_nsec)
}

/// Sentinel for "no deadline".
let noDeadline = Int64.max

extension Duration {
    /// Whole nanoseconds, saturating at about 292 years so deadlines never overflow.
    var saturatingNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        if seconds >= 9_000_000_000 { return noDeadline / 2 }
        if seconds < 0 { return 0 }
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

/// `base + delta`, or `noDeadline` when `delta` is absent.
@inline(__always)
func deadline(_ base: Int64, _ delta: Duration?) -> Int64 {
    guard let delta else { return noDeadline }
    return base &+ delta.saturatingNanoseconds
}
