import Glibc
import SwitchyardThreads
import Synchronization
import Testing

/// What one test's thread did.
private final class Seen: Sendable {
    let ran = Atomic<Bool>(false)
    let thread = Atomic<UInt>(0)
    let joinedItself = Atomic<Bool>(false)
    let me = Mutex<OSThread?>(nil)
}

/// Counts its instances alive, to see that a thread's body let go of what it captured.
private final class Capture: Sendable {
    static let alive = Atomic<Int>(0)
    init() { Self.alive.add(1, ordering: .relaxed) }
    deinit { Self.alive.subtract(1, ordering: .relaxed) }
}

@Suite(.serialized, .timeLimit(.minutes(1)))
struct OSThreadTests {
    @Test func aStartedThreadRunsItsBodyOnAnotherThreadAndJoinWaitsForIt() throws {
        let seen = Seen()
        let before = Capture.alive.load(ordering: .relaxed)
        do {
            let capture = Capture()
            let thread = try OSThread.start { [capture] in
                _ = capture
                usleep(100_000)  // join must wait this out
                seen.thread.store(UInt(pthread_self()), ordering: .relaxed)
                seen.ran.store(true, ordering: .releasing)
            }
            #expect(!thread.isCurrent)
            thread.join()
        }
        let ran = seen.ran.load(ordering: .acquiring)
        #expect(ran, "join returned before the body did")
        let thread = seen.thread.load(ordering: .relaxed)
        #expect(thread != 0 && thread != UInt(pthread_self()))
        let alive = Capture.alive.load(ordering: .relaxed)
        #expect(alive == before, "the body is released once it returned")
    }

    @Test func aThreadJoiningItselfDoesNotWait() throws {
        let seen = Seen()
        let thread = try OSThread.start {
            while seen.me.withLock({ $0 }) == nil { sched_yield() }
            let me = seen.me.withLock { $0 }!
            let isCurrent = me.isCurrent
            me.join()  // pthread_join on itself fails (EDEADLK); the owner stopped on its thread skips it
            seen.joinedItself.store(isCurrent, ordering: .releasing)
        }
        seen.me.withLock { $0 = thread }
        thread.join()
        let joinedItself = seen.joinedItself.load(ordering: .acquiring)
        #expect(joinedItself)
    }

    @Test func aDetachedThreadWithItsOwnStackSizeRuns() async throws {
        let seen = Seen()
        try OSThread.start(stackSize: 512 << 10, detached: true) {
            seen.ran.store(true, ordering: .releasing)
        }
        while !seen.ran.load(ordering: .acquiring) { try await Task.sleep(for: .milliseconds(5)) }
    }

    @Test func aThreadTheSystemRefusesIsReportedAndItsBodyReleasedUnrun() {
        let seen = Seen()
        let before = Capture.alive.load(ordering: .relaxed)
        do {
            let capture = Capture()
            // A stack larger than the address space: pthread_create cannot map it.
            let error = #expect(throws: OSThreadError.self) {
                try OSThread.start(stackSize: 1 << 60) { [capture] in
                    _ = capture
                    seen.ran.store(true, ordering: .relaxed)
                }
            }
            #expect(error.map { $0.code != 0 } == true)
        }
        usleep(50_000)
        let ran = seen.ran.load(ordering: .relaxed)
        #expect(!ran)
        let alive = Capture.alive.load(ordering: .relaxed)
        #expect(alive == before, "the body is released without running")
    }
}
