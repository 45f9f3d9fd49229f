import Synchronization

/// Every open connection of one server, counted per peer address, with the two admission rules:
/// a per-peer cap, checked when MHD accepts (its accept-policy callback), and displacement at the
/// connection limit.
///
/// Displacement keeps the server reachable when slow clients fill it (slowloris): MHD's own limit
/// is `maxConnections` plus a small reserve, and a connection opened beyond `maxConnections`
/// makes the table drop the connection that has waited longest without delivering a request head
/// (an idle keep-alive connection or a client trickling its head); only if every other connection
/// is busy with a request does the new one stay in the reserve. So a health probe, which sends its
/// head at once, always gets in unless every slot serves a real request.
final class ConnectionTable: Sendable {
    struct Limits: Sendable {
        var maxConnections: Int
        /// 0: no cap.
        var perPeer: Int
        /// For 127.0.0.0/8 and ::1; 0: no cap.
        var perLoopbackPeer: Int
    }

    private struct State {
        var open: [UInt64: EdgeConnection] = [:]
        var perPeer: [PeerAddress: Int] = [:]
        var nextID: UInt64 = 1
    }

    let limits: Limits
    private let state = Mutex(State())

    init(limits: Limits) {
        self.limits = limits
    }

    /// MHD's hard limit: the soft limit plus room for displacement (1/16, at least 8).
    static func hardLimit(_ maxConnections: Int) -> Int {
        maxConnections + max(8, maxConnections / 16)
    }

    var count: Int { state.withLock { $0.open.count } }

    /// The accept policy: false when the peer already holds its maximum of connections.
    func admits(_ peer: PeerAddress?) -> Bool {
        guard let peer else { return true }
        let cap = peer.isLoopback ? limits.perLoopbackPeer : limits.perPeer
        guard cap > 0 else { return true }
        return state.withLock { ($0.perPeer[peer] ?? 0) < cap }
    }

    /// MHD's "started" notification. Returns the new connection and the one it displaced, if any
    /// (already shut down).
    func open(fd: Int32, peer: PeerAddress?, server: ServerCore) -> (EdgeConnection, displaced: EdgeConnection?) {
        let now = ContinuousClock.now
        return state.withLock { state in
            let connection = EdgeConnection(id: state.nextID, fd: fd, peer: peer, server: server, now: now)
            state.nextID += 1
            state.open[connection.id] = connection
            if let peer { state.perPeer[peer, default: 0] += 1 }
            guard state.open.count > limits.maxConnections else { return (connection, nil) }
            var victim: (EdgeConnection, ContinuousClock.Instant)?
            for candidate in state.open.values where candidate !== connection {
                guard let since = candidate.state.withLock({ EdgeConnection.waitingSince($0) }) else { continue }
                if victim == nil || since < victim!.1 { victim = (candidate, since) }
            }
            guard let victim, victim.0.drop() else { return (connection, nil) }
            return (connection, victim.0)
        }
    }

    /// MHD's "closed" notification.
    func close(_ connection: EdgeConnection) {
        connection.closed()
        state.withLock { state in
            guard state.open.removeValue(forKey: connection.id) != nil, let peer = connection.peer else { return }
            if let n = state.perPeer[peer], n > 1 {
                state.perPeer[peer] = n - 1
            } else {
                state.perPeer[peer] = nil
            }
        }
    }

    func connection(id: UInt64) -> EdgeConnection? {
        state.withLock { $0.open[id] }
    }

    func snapshot() -> [EdgeConnection] {
        state.withLock { Array($0.open.values) }
    }
}
