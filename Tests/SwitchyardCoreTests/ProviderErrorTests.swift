import SwitchyardCore
import Testing

@Suite struct ProviderErrorTests {
    /// An upstream's Retry-After of any size (found by fuzzing: `Retry-After: 1e88` on a 503
    /// trapped converting to whole seconds) is cut to a day, on every path that sets it.
    @Test(arguments: [1e30, 9.3e18, 1e300, Double.infinity])
    func hugeRetryHintIsCutToADay(_ hint: Double) {
        var limited = ProviderError(kind: .rateLimited, status: 429, message: "slow down")
        limited.retryAfterSeconds = hint
        #expect(limited.retryAfterSeconds == ProviderError.maximumRetryAfterSeconds)
        #expect(limited.apiError.retryAfterSeconds == 86_400)
        let overloaded = ProviderError(kind: .overloaded, status: 503, message: "", retryAfterSeconds: hint)
        #expect(overloaded.retryAfterSeconds == 86_400)
        #expect(overloaded.apiError.retryAfterSeconds == 86_400)
    }

    @Test(arguments: [-1.0, -Double.infinity, Double.nan])
    func unusableRetryHintIsDropped(_ hint: Double) {
        var e = ProviderError(kind: .overloaded, status: 503, message: "", retryAfterSeconds: hint)
        #expect(e.retryAfterSeconds == nil)
        #expect(e.apiError.retryAfterSeconds == 1)
        e.retryAfterSeconds = 2.5
        #expect(e.apiError.retryAfterSeconds == 3)
        e.retryAfterSeconds = hint
        #expect(e.retryAfterSeconds == nil)
    }
}
