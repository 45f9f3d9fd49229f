import SwitchyardCore
import Synchronization

/// Serialises requests that share an idempotency slot (client key name + `Idempotency-Key`) inside
/// this process: the first holds the slot while it runs; repeats wait for it and then find its
/// stored answer (or, if it failed and released the key, run themselves). Across processes the
/// store's `in_flight` record answers 409 instead.
final class IdempotencyCoordinator: Sendable {
    private let slots = Mutex<[String: [CheckedContinuation<Void, Never>]]>([:])

    /// Returns once this caller holds `slot`; pair with `release(slot)`.
    func acquire(_ slot: String) async {
        while true {
            var acquired = false
            await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
                acquired = slots.withLock { s in
                    if s[slot] == nil {
                        s[slot] = []
                        return true
                    }
                    s[slot]?.append(waiter)
                    return false
                }
                if acquired { waiter.resume() }
            }
            if acquired { return }
        }
    }

    /// Frees `slot` and wakes its waiters, which race for it again.
    func release(_ slot: String) {
        let waiters = slots.withLock { $0.removeValue(forKey: slot) } ?? []
        for waiter in waiters { waiter.resume() }
    }
}

/// The request hash stored with an idempotency record: FNV-1a 64 over the raw request body
/// bytes, as 16 hex digits after `fnv1a64:`. Byte-exact on purpose: the same key with a body that
/// differs in any byte (even whitespace or key order) is a different request (422). Not
/// cryptographic; it only compares two requests of the same client under the same key.
enum IdempotencyHash {
    static func of(_ body: [UInt8]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in body {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return "fnv1a64:" + Hex.digits(hash, 16)
    }
}
