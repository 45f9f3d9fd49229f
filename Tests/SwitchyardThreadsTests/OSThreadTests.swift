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

    /// The calling thread's name, as `top -H` and `/proc/PID/task/TID/comm` show it.
    private static func currentName() -> String {
        let fd = open("/proc/thread-self/comm", O_RDONLY)
        guard fd >= 0 else { return "error \(errno)" }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        var bytes = buffer.prefix(max(0, n))
        if bytes.last == UInt8(ascii: "\n") { bytes.removeLast() }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The name a thread started with `name` runs under.
    private static func nameSeen(starting name: String?) throws -> String {
        let seen = Mutex<String>("")
        let thread = try OSThread.start(name: name) { seen.withLock { $0 = currentName() } }
        thread.join()
        return seen.withLock { $0 }
    }

    @Test func aNamedThreadRunsUnderItsNameCutWhereLinuxCutsItAtACharacterBoundary() throws {
        #expect(try Self.nameSeen(starting: "sy-loop-0") == "sy-loop-0")
        #expect(try Self.nameSeen(starting: "sy-fifteen-byte") == "sy-fifteen-byte")
        // Linux keeps 15 bytes.
        #expect(try Self.nameSeen(starting: "sy-a-name-longer-than-that") == "sy-a-name-longe")
        // 15 bytes would end inside the second "ö" (2 bytes in UTF-8): the name stops before it.
        #expect(try Self.nameSeen(starting: "sy-wörker-xööö") == "sy-wörker-xö")
        // Without a name the thread keeps its creator's.
        #expect(try Self.nameSeen(starting: nil) == Self.currentName())
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
