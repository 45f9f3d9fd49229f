import Synchronization
import Testing

@testable import SwitchyardCore

/// The channel a transport feeds a streamed body through: order, end, failure, and the consumer
/// leaving (cancelled or dropped), which must stop the transfer exactly once.
@Suite struct UpstreamBodyChannelTests {
    final class Counter: Sendable {
        let count = Atomic<Int>(0)
        func bump() { count.add(1, ordering: .relaxed) }
        var value: Int { count.load(ordering: .relaxed) }
    }

    @Test func queuedChunksComeInOrderThenTheEnd() async throws {
        let terminated = Counter()
        let channel = UpstreamBodyChannel { terminated.bump() }
        #expect(channel.yield([1]))
        #expect(channel.yield([2, 3]))
        channel.finish()
        #expect(!channel.yield([4]))
        var it = UpstreamBodyStream(channel: channel).makeAsyncIterator()
        #expect(try await it.next() == [1])
        #expect(try await it.next() == [2, 3])
        #expect(try await it.next() == nil)
        #expect(try await it.next() == nil)
        #expect(terminated.value == 0)
    }

    /// A lone queued chunk waits in a slot of its own, later ones in a list behind it: chunks
    /// yielded while others wait, or after some were taken, still come in arrival order.
    @Test func chunksComeInArrivalOrderHoweverYieldsAndTakesInterleave() async throws {
        let channel = UpstreamBodyChannel()
        var it = UpstreamBodyStream(channel: channel).makeAsyncIterator()
        #expect(channel.yield([1]))
        #expect(channel.yield([2]))
        #expect(try await it.next() == [1])
        #expect(channel.yield([3]))
        #expect(try await it.next() == [2])
        #expect(channel.yield([4]))
        #expect(try await it.next() == [3])
        #expect(try await it.next() == [4])
        #expect(channel.yield([5]))
        #expect(channel.yield([6]))
        #expect(try await it.next() == [5])
        channel.finish()
        #expect(try await it.next() == [6])
        #expect(try await it.next() == nil)
    }

    @Test func aConsumerThatLeavesDropsALoneQueuedChunk() async throws {
        let terminated = Counter()
        let channel = UpstreamBodyChannel { terminated.bump() }
        #expect(channel.yield([1]))
        channel.consumerLeft()
        #expect(terminated.value == 1)
        var it = UpstreamBodyStream(channel: channel).makeAsyncIterator()
        #expect(try await it.next() == nil)
        #expect(!channel.yield([2]))
    }

    @Test func aWaitingConsumerGetsTheChunkYieldedLater() async throws {
        let channel = UpstreamBodyChannel()
        let body = UpstreamBodyStream(channel: channel)
        let reader = Task { () -> [[UInt8]] in
            var out: [[UInt8]] = []
            for try await chunk in body { out.append(chunk) }
            return out
        }
        // Yielded whether or not the reader waits yet: either way it must get both, in order.
        #expect(channel.yield([7]))
        await Task.yield()
        #expect(channel.yield([8]))
        channel.finish()
        #expect(try await reader.value == [[7], [8]])
    }

    @Test func aFailureComesAfterTheQueuedChunksAndOnce() async throws {
        let channel = UpstreamBodyChannel()
        #expect(channel.yield([1]))
        channel.finish(throwing: .transport("reset"))
        channel.finish()
        var it = UpstreamBodyStream(channel: channel).makeAsyncIterator()
        #expect(try await it.next() == [1])
        await #expect(throws: UpstreamFailure.transport("reset")) { try await it.next() }
        #expect(try await it.next() == nil)
    }

    @Test func cancellingAWaitingConsumerEndsItAndTerminatesOnce() async throws {
        let terminated = Counter()
        let channel = UpstreamBodyChannel { terminated.bump() }
        let body = UpstreamBodyStream(channel: channel)
        let reader = Task { () -> [UInt8]? in
            var it = body.makeAsyncIterator()
            return try await it.next()
        }
        reader.cancel()
        #expect(try await reader.value == nil)
        #expect(terminated.value == 1)
        #expect(!channel.yield([1]))
        channel.finish()
        #expect(terminated.value == 1)
    }

    @Test func droppingTheBodyBeforeItsEndTerminates() {
        let terminated = Counter()
        let channel = UpstreamBodyChannel { terminated.bump() }
        do {
            let body = UpstreamBodyStream(channel: channel)
            let iterator = body.makeAsyncIterator()
            withExtendedLifetime(iterator) {}
        }
        #expect(terminated.value == 1)
        #expect(!channel.yield([1]))
    }

    @Test func droppingTheBodyAfterItsEndDoesNotTerminate() {
        let terminated = Counter()
        let channel = UpstreamBodyChannel { terminated.bump() }
        do {
            let body = UpstreamBodyStream(channel: channel)
            channel.finish()
            withExtendedLifetime(body) {}
        }
        #expect(terminated.value == 0)
    }
}
