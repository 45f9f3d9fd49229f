public import SwitchyardCore

/// Exponential backoff with jitter, as a pure function.
///
/// `delay = min(initial · multiplier^(retry-1), max) · (1 − 0.25 · jitter)`, `jitter ∈ [0, 1)`,
/// so the wait lies in (0.75, 1] of the capped value (the OpenAI SDK's shape). With the defaults
/// (1 s, ×2, 8 s):
///
/// | retry | base | range |
/// |---|---|---|
/// | 1 | 1 s | 0.75–1 s |
/// | 2 | 2 s | 1.5–2 s |
/// | 3 | 4 s | 3–4 s |
/// | 4+ | 8 s | 6–8 s |
public enum Backoff {
    /// - Parameters:
    ///   - retry: 1 for the first retry of a target.
    ///   - jitter: a value in `[0, 1)` from the injected random source.
    public static func delay(retry: Int, policy: RoutingPolicy, jitter: Double) -> Duration {
        let initial = policy.initialBackoff.inSeconds
        let cap = policy.maxBackoff.inSeconds
        var base = initial
        var k = 1
        while k < retry && base < cap {
            base *= max(policy.multiplier, 1)
            k += 1
        }
        let capped = min(base, cap)
        let j = min(max(jitter, 0), 1)
        return .seconds(capped * (1 - 0.25 * j))
    }
}

/// The upstream's Retry-After hint (docs/translation.md §8.2), read in this order: `retry-after-ms`
/// (milliseconds); `retry-after` as decimal seconds; `retry-after` as an HTTP date
/// (IMF-fixdate, RFC 9110 §5.6.7) minus `now`; the body hint (Gemini `RetryInfo.retryDelay`).
public enum RetryAfter {
    /// Seconds to wait (≥ 0), or nil when the upstream gave no usable hint.
    /// - Parameter now: wall time in Unix seconds (for HTTP dates).
    public static func seconds(headers: [HeaderField], bodyHint: Double?, now: Double) -> Double? {
        if let v = headers.value(for: "retry-after-ms"), let ms = Double(trimmed(v)), ms.isFinite, ms >= 0 {
            return ms / 1000
        }
        if let v = headers.value(for: "retry-after") {
            let t = trimmed(v)
            if let s = Double(t), s.isFinite, s >= 0 { return s }
            if let date = httpDate(t) { return max(0, date - now) }
        }
        if let b = bodyHint, b.isFinite, b >= 0 { return b }
        return nil
    }

    /// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) to Unix seconds. The year has
    /// four digits, as the format says: a longer one (`Oct 2026000000000`) overflowed the
    /// seconds computation and trapped (found by fuzzing).
    public static func httpDate(_ s: String) -> Double? {
        let parts = s.split(separator: " ")
        guard parts.count == 6, parts[0].hasSuffix(","), parts[5] == "GMT", parts[3].utf8.count == 4,
            let day = Int(parts[1]), let year = Int(parts[3]),
            let month = months.firstIndex(of: String(parts[2])).map({ $0 + 1 })
        else { return nil }
        let hms = parts[4].split(separator: ":")
        guard hms.count == 3, let h = Int(hms[0]), let m = Int(hms[1]), let sec = Int(hms[2]),
            (1...31).contains(day), (0...23).contains(h), (0...59).contains(m), (0...60).contains(sec)
        else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        return Double(days * 86400 + h * 3600 + m * 60 + sec)
    }

    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
    private static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    private static func trimmed(_ s: String) -> String {
        String(
            s.drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}
