import Glibc
import SwitchyardCore
import Testing

@testable import SwitchyardGateway

/// `LogWriter` over a pipe the test reads (or does not): logging returns at once whatever the
/// reader does, lines arrive in order, and a line dropped for want of room is accounted for at its
/// place in the output.
@Suite("LogWriter")
struct LogWriterTests {
    /// A pipe whose write end the writer gets; reads are non-blocking so a test can take what is there.
    final class Pipe {
        private(set) var readFD: Int32
        let writeFD: Int32

        init() throws {
            var fds: [Int32] = [0, 0]
            guard pipe(&fds) == 0 else { throw POSIXError(errno) }
            readFD = fds[0]
            writeFD = fds[1]
            _ = fcntl(readFD, F_SETFL, fcntl(readFD, F_GETFL) | O_NONBLOCK)
        }

        /// Whatever the pipe holds now.
        func drain() -> [UInt8] {
            var out: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = read(readFD, &buffer, buffer.count)
                guard n > 0 else { return out }
                out += buffer[0..<n]
            }
        }

        /// Closes the read end (once: a second close could close a descriptor another test has
        /// opened since, under the same number).
        func closeReadEnd() {
            if readFD >= 0 { close(readFD) }
            readFD = -1
        }

        deinit {
            closeReadEnd()
            close(writeFD)
        }
    }

    struct POSIXError: Error {
        let code: Int32
        init(_ code: Int32) { self.code = code }
    }

    static func line(_ i: Int) -> [UInt8] { Array("line \(i) \(String(repeating: "x", count: 80))\n".utf8) }

    @Test func linesReachTheDescriptorWholeAndInOrder() throws {
        let pipe = try Pipe()
        let writer = LogWriter(fd: pipe.writeFD, capacity: 1 << 20) { _ in [] }
        defer { writer.stop() }
        var expected: [UInt8] = []
        for i in 0..<500 {
            writer.write(Self.line(i))
            expected += Self.line(i)
        }
        #expect(writer.flush())
        let written = pipe.drain()
        #expect(written.count == expected.count)
        #expect(written == expected, "the lines differ in content or order")
        #expect(writer.droppedLines == 0)
    }

    /// The reader stops: the pipe fills (64 KiB), then `capacity` bytes wait in memory, then lines
    /// are dropped; `write` never waits. Once the reader drains the pipe, every line written is
    /// there in order, and a note stands wherever lines were dropped, counting them.
    @Test(.timeLimit(.minutes(1)))
    func aReaderThatFallsBehindNeverBlocksLoggingAndEveryDropIsNotedInPlace() async throws {
        let pipe = try Pipe()
        let writer = LogWriter(fd: pipe.writeFD, capacity: 16 << 10) { count in Array("dropped \(count)\n".utf8) }
        defer { writer.stop() }
        let total = 20_000  // about 1.8 MB: far beyond the pipe and the capacity
        for i in 0..<total { writer.write(Self.line(i)) }
        #expect(writer.droppedLines > 0)
        #expect(!writer.flush(timeout: .milliseconds(50)), "nothing reads the pipe, so it cannot be drained")

        // The reader catches up; what was written is read as it comes.
        var text: [UInt8] = []
        while !writer.flush(timeout: .milliseconds(10)) { text += pipe.drain() }
        text += pipe.drain()
        var next = 0
        var noted = 0
        for line in String(decoding: text, as: UTF8.self).split(separator: "\n") {
            let words = line.split(separator: " ")
            if words.first == "dropped", let count = Int(words[1]) {
                next += count
                noted += count
            } else {
                #expect(words.first == "line" && Int(words[1]) == next, "line \(next) expected, got \(line.prefix(20))")
                next += 1
            }
        }
        #expect(next == total)
        #expect(noted == writer.droppedLines)

        // Logging goes on as before once the reader keeps up.
        writer.write(Self.line(total))
        #expect(writer.flush())
        #expect(pipe.drain() == Self.line(total))
    }

    /// The writer gathers lines for `linger` after the first; a caller of `flush` (the process at
    /// exit) does not wait that out, and neither do lines past `batchBytes`.
    @Test func gatheringGivesWayToFlushAndToAFullBatch() async throws {
        let pipe = try Pipe()
        let writer = LogWriter(fd: pipe.writeFD, capacity: 1 << 20, linger: .seconds(30), batchBytes: 4096) { _ in [] }
        defer { writer.stop() }
        writer.write(Self.line(0))
        #expect(writer.flush(timeout: .seconds(10)), "flush waited for the 30 s of gathering")
        #expect(pipe.drain() == Self.line(0))

        var expected: [UInt8] = []
        for i in 1...50 {  // 4.5 KB: past the batch
            writer.write(Self.line(i))
            expected += Self.line(i)
        }
        var written: [UInt8] = []
        let deadline = ContinuousClock.now + .seconds(10)
        while written.count < 4096 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
            written += pipe.drain()
        }
        #expect(written.count >= 4096, "a full batch waited for the 30 s of gathering")
        #expect(writer.flush())
        written += pipe.drain()
        #expect(written == expected, "the lines differ in content or order")
    }

    @Test func aReaderThatHasGoneLosesTheLinesNotTheProcess() throws {
        let pipe = try Pipe()
        pipe.closeReadEnd()
        let writer = LogWriter(fd: pipe.writeFD, capacity: 1 << 20) { _ in [] }
        defer { writer.stop() }
        // The writer's write(2) fails with EPIPE (SIGPIPE, which would end the test process, is
        // blocked on its thread); it gives the lines up and is done at once.
        for i in 0..<100 { writer.write(Self.line(i)) }
        #expect(writer.flush())
    }
}
