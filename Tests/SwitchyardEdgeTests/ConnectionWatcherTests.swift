import Glibc
import Synchronization
import Testing

@testable import SwitchyardEdge

/// The hang-up watcher's epoll set: which sockets it holds, and when it lets go of them.
@Suite(.timeLimit(.minutes(1)))
struct ConnectionWatcherTests {
    /// A connected pair of stream sockets: `server` plays MHD's side, `client` the peer.
    private struct SocketPair {
        let server: Int32
        let client: Int32

        init() throws {
            var fds: [Int32] = [-1, -1]
            guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0 else { throw TimedOut() }
            server = fds[0]
            client = fds[1]
        }
    }

    private func peerGone(_ connection: EdgeConnection) -> Bool {
        connection.state.withLock { $0.peerGone }
    }

    /// A connection answered for the last time leaves the watcher before MHD shuts it down, so the
    /// client's closing FIN wakes no thread; a kept-alive one stays watched and its hang-up is seen.
    /// The two peers close in this order, and epoll reports ready sockets in the order they became
    /// ready, so once the second hang-up is seen, a watched first one would have been seen too.
    @Test func aConnectionClosingAfterItsAnswerIsNoLongerWatched() async throws {
        let core = ServerCore(
            configuration: HTTPServerConfiguration(), handler: ClosureHandler { _, _ in })
        let watcher = try #require(core.watcher)
        #expect(watcher.start(core: core))
        defer { watcher.stop() }
        let closing = try SocketPair()
        let answered = try SocketPair()
        let keptAlive = try SocketPair()
        defer { for fd in [closing.server, answered.server, keptAlive.server] { close(fd) } }

        let closingConnection = core.connectionOpened(fd: closing.server, peer: nil)
        let answeredConnection = core.connectionOpened(fd: answered.server, peer: nil)
        let keptConnection = core.connectionOpened(fd: keptAlive.server, peer: nil)
        closingConnection.requestEnded(closing: true)
        answeredConnection.lastAnswerQueued()
        keptConnection.requestEnded(closing: false)

        close(closing.client)
        close(answered.client)
        close(keptAlive.client)
        try await waitUntil { peerGone(keptConnection) }
        #expect(!peerGone(closingConnection))
        #expect(!peerGone(answeredConnection))

        for connection in [closingConnection, answeredConnection, keptConnection] {
            core.connectionClosed(connection)
        }
    }

    /// Which requests are expected to be their connection's last (RFC 9112 section 9.3).
    @Test func theClientsConnectionFieldSaysWhetherItCloses() {
        #expect(RequestFraming.clientCloses(["Connection": "close"], http10: false))
        #expect(RequestFraming.clientCloses(["Connection": "TE, Close"], http10: false))
        #expect(!RequestFraming.clientCloses(["Connection": "keep-alive"], http10: false))
        #expect(!RequestFraming.clientCloses([:], http10: false))
        #expect(RequestFraming.clientCloses([:], http10: true))
        #expect(!RequestFraming.clientCloses(["Connection": "Keep-Alive"], http10: true))
    }

    /// A socket the watcher let go of is watched again when another request arrives on it (the
    /// guess that it would close was wrong), so a hang-up during that request is still seen.
    @Test func aNewRequestOnAReleasedConnectionIsWatchedAgain() async throws {
        let core = ServerCore(
            configuration: HTTPServerConfiguration(), handler: ClosureHandler { _, _ in })
        let watcher = try #require(core.watcher)
        #expect(watcher.start(core: core))
        defer { watcher.stop() }
        let pair = try SocketPair()
        defer { close(pair.server) }

        let connection = core.connectionOpened(fd: pair.server, peer: nil)
        connection.requestEnded(closing: true)
        #expect(!connection.state.withLock { $0.watched })
        connection.requestStarted(nil)
        #expect(connection.state.withLock { $0.watched })

        close(pair.client)
        try await waitUntil { peerGone(connection) }
        core.connectionClosed(connection)
    }

    /// With one quiet connection open the thread sleeps from one deadline sweep to the next: one
    /// wait per sweep. A wait rounded down to whole milliseconds ended just before each sweep was
    /// due and the thread then spun through the remaining fraction of a millisecond (hundreds of
    /// `epoll_wait` calls per sweep).
    @Test func aWatcherWithAQuietConnectionWaitsOncePerSweep() async throws {
        var configuration = HTTPServerConfiguration()
        configuration.headerTimeout = .milliseconds(200)  // a sweep every 50 ms
        let core = ServerCore(configuration: configuration, handler: ClosureHandler { _, _ in })
        let watcher = try #require(core.watcher)
        #expect(watcher.start(core: core))
        defer { watcher.stop() }
        let pair = try SocketPair()
        defer {
            close(pair.server)
            close(pair.client)
        }
        let connection = core.connectionOpened(fd: pair.server, peer: nil)
        defer { core.connectionClosed(connection) }
        let start = watcher.sweeps.load(ordering: .relaxed)
        try await waitUntil { watcher.sweeps.load(ordering: .relaxed) >= start + 6 }
        let sweeps = watcher.sweeps.load(ordering: .relaxed)
        let waits = watcher.waits.load(ordering: .relaxed)
        // One wait per sweep, plus one in progress and a spare for a wake-up a little early.
        #expect(waits <= 2 * sweeps + 2, "\(waits) waits for \(sweeps) sweeps")
    }

    /// With no connection open there is nothing to sweep, so the thread waits without a timeout
    /// (an idle server's watcher swept once a second); the next connection wakes it, and its head
    /// deadline is enforced as before. Once it closes, the thread parks again.
    @Test func aWatcherWithNoConnectionSleepsUntilOneOpensAndStillEnforcesItsDeadline() async throws {
        final class Drops: Sendable { let headerTimeouts = Atomic<Int>(0) }
        let drops = Drops()
        var configuration = HTTPServerConfiguration()
        configuration.headerTimeout = .milliseconds(200)
        configuration.onConnectionDropped = { reason in
            if reason == .headerTimeout { drops.headerTimeouts.add(1, ordering: .relaxed) }
        }
        let core = ServerCore(configuration: configuration, handler: ClosureHandler { _, _ in })
        let watcher = try #require(core.watcher)
        #expect(watcher.start(core: core))
        defer { watcher.stop() }
        // At least once: a signal may end a wait early (EINTR), and the thread then parks again.
        try await waitUntil { watcher.parks.load(ordering: .relaxed) >= 1 }

        let pair = try SocketPair()
        defer {
            close(pair.server)
            close(pair.client)
        }
        let connection = core.connectionOpened(fd: pair.server, peer: nil)
        connection.requestStarted(nil)  // a head begun and never finished
        try await waitUntil { drops.headerTimeouts.load(ordering: .relaxed) == 1 }
        // The dropped connection stays counted until MHD reports it closed: no park until then.
        let parked = watcher.parks.load(ordering: .relaxed)
        core.connectionClosed(connection)
        try await waitUntil { watcher.parks.load(ordering: .relaxed) > parked }
    }
}
