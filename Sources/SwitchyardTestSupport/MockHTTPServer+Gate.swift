import Glibc
import Synchronization

/// A one-shot gate: closed until `open()`, then open for good. Server threads block on it through
/// `poll(2)` on a pipe (so a stopping server or a closing client still wakes them); async code
/// can `await wait()`.
public final class MockGate: Sendable {
    /// Readable once opened (never drained). Closed in deinit.
    private let signal = MockSignalPipe()
    var fd: Int32 { signal.readFD }
    private let state = Mutex<(opened: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    public init() {}

    deinit { signal.close() }

    /// Opens the gate, releasing every waiter; later calls do nothing.
    public func open() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>]? in
            guard !s.opened else { return nil }
            s.opened = true
            defer { s.waiters = [] }
            return s.waiters
        }
        guard let waiters else { return }
        signal.signal()
        for w in waiters { w.resume() }
    }

    public var isOpen: Bool { state.withLock { $0.opened } }

    /// Returns once the gate is open.
    public func wait() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let opened = state.withLock { s -> Bool in
                if !s.opened { s.waiters.append(c) }
                return s.opened
            }
            if opened { c.resume() }
        }
    }
}
