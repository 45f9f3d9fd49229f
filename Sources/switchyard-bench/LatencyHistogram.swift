import Foundation
import Histogram
import SwitchyardCore

/// Latency samples in nanoseconds in an HdrHistogram (3 significant digits, 1 ns to 1 hour):
/// percentiles without keeping or sorting the samples.
struct LatencyHistogram {
    private static let highest: UInt64 = 3_600 * 1_000_000_000
    private var histogram = Histogram<UInt64>(highestTrackableValue: highest, numberOfSignificantValueDigits: .three)

    var count: UInt64 { histogram.totalCount }

    mutating func record(_ duration: Duration) {
        histogram.record(min(Self.nanoseconds(duration), Self.highest))
    }

    /// The value at `percentile` (0...100), as the histogram's highest equivalent value (within 0.1%).
    func percentile(_ percentile: Double) -> Duration {
        .nanoseconds(Int64(histogram.valueAtPercentile(percentile)))
    }

    static func nanoseconds(_ duration: Duration) -> UInt64 {
        UInt64(max(0, duration.wholeNanoseconds))
    }
}

/// "142 us", "3.1 ms", "31 ms", "1.25 s": a latency with two or three significant digits.
func formatLatency(_ duration: Duration) -> String {
    let ns = Double(LatencyHistogram.nanoseconds(duration))
    switch ns {
    case ..<1_000_000: return "\(Int((ns / 1_000).rounded())) us"
    case ..<10_000_000: return String(format: "%.1f ms", ns / 1_000_000)
    case ..<1_000_000_000: return String(format: "%.0f ms", ns / 1_000_000)
    default: return String(format: "%.2f s", ns / 1_000_000_000)
    }
}

/// "0.31 s" ("0.053 s" under a tenth of a second).
func formatSeconds(_ duration: Duration) -> String {
    let seconds = Double(LatencyHistogram.nanoseconds(duration)) / 1_000_000_000
    return String(format: seconds < 0.1 ? "%.3f s" : "%.2f s", seconds)
}
