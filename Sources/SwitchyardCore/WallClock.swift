import Glibc

/// The system's wall clock (`CLOCK_REALTIME`), read without Foundation. The one place Switchyard
/// reads it: pure code takes time as an argument, and its callers pass these (tests a manual clock).
public enum WallClock {
    /// Unix time as whole seconds and the nanoseconds within that second.
    public static func now() -> (seconds: Int, nanoseconds: Int) {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return (Int(ts.tv_sec), Int(ts.tv_nsec))
    }

    /// Unix time in fractional seconds (HTTP dates, `created`).
    public static let seconds: @Sendable () -> Double = {
        let (s, ns) = now()
        return Double(s) + Double(ns) / 1e9
    }

    /// Unix time in milliseconds (stored records).
    public static let milliseconds: @Sendable () -> Int64 = {
        let (s, ns) = now()
        return Int64(s) * 1000 + Int64(ns) / 1_000_000
    }
}
