import MySQLSessions
import ProcFS

/// Evidence, gathered before the join, for which descriptor a unix-socket session uses.
public enum UnixSocketEvidence: Sendable, Equatable {
    case fd(Int32, MatchMethod)
    case notProven(String)
}

/// The join session <-> socket <-> fd: pure, on recorded facts.
///
/// TCP sessions are joined by their exact peer address in mysqld's own namespace; a socket
/// claimed by two sessions, or two sockets fitting one session, give no answer, never a guess.
public struct SessionJoin: Sendable {
    public var rows: [ProcessListRow]
    /// myconn's own session: left out of the report, its socket not counted as unmatched.
    public var selfID: UInt64?
    /// myconn's own client address as mysqld sees it (TCP only).
    public var selfPeer: SocketAddress?
    /// The server end of myconn's own unix-socket connection, from unix_diag's peer of our socket.
    public var selfServerUnixInode: UInt64?
    public var serverPort: UInt16
    public var kernel: KernelSnapshot
    public var unixEvidence: [UInt64: UnixSocketEvidence]
    public var includeListening: Bool

    public init(rows: [ProcessListRow], selfID: UInt64?, selfPeer: SocketAddress?, serverPort: UInt16,
                kernel: KernelSnapshot, unixEvidence: [UInt64: UnixSocketEvidence] = [:], includeListening: Bool = false) {
        self.rows = rows
        self.selfID = selfID
        self.selfPeer = selfPeer
        self.serverPort = serverPort
        self.kernel = kernel
        self.unixEvidence = unixEvidence
        self.includeListening = includeListening
    }

    public struct Result: Sendable, Equatable {
        public var sessions: [SessionView]
        public var unmatchedSockets: [SocketView]
        public var listeningSockets: [SocketView]
        public var warnings: [String]
    }

    public func run() -> Result {
        let fdByInode = kernel.fdBySocketInode()
        let fdsKnown = kernel.fds != nil
        var warnings: [String] = []

        // mysqld's TCP sockets: those it holds; without its fd table, those on its port.
        // Kept as indices into kernel.tcp: at 10,000 sessions copying the entries cost more
        // than the join itself.
        let tcp = kernel.tcp
        var ownedTCP: [Int] = []
        ownedTCP.reserveCapacity(tcp.count)
        var listenerPorts: Set<UInt16> = [serverPort]
        for i in tcp.indices where tcp[i].inode != 0 {
            if fdsKnown ? fdByInode[tcp[i].inode] != nil : tcp[i].local.port == serverPort {
                ownedTCP.append(i)
                if fdsKnown && tcp[i].state == .listen { listenerPorts.insert(tcp[i].local.port) }
            }
        }
        // Sessions are connections accepted on mysqld's listening ports; mysqld's own outgoing
        // connections (a replica's to its primary) are not, and sock_diag is asked for these ports only.
        let connected = ownedTCP.filter { tcp[$0].state != .listen && listenerPorts.contains(tcp[$0].local.port) }
        // peer -> its one socket (index into connected); a peer of several sockets (rare: two
        // namespaces' clients behind one address) in sharedPeers, with all of them. One array
        // per peer cost a heap allocation per session.
        var byPeer: [SocketAddress: Int] = [:]
        var sharedPeers: [SocketAddress: [Int]] = [:]
        byPeer.reserveCapacity(connected.count)
        for (i, t) in connected.enumerated() {
            let peer = tcp[t].peer.normalized
            if let first = byPeer.updateValue(i, forKey: peer) {
                byPeer[peer] = first
                sharedPeers[peer, default: [first]].append(i)
            }
        }
        func sockets(withPeer peer: SocketAddress) -> (one: Int?, several: [Int]) {
            if !sharedPeers.isEmpty, let several = sharedPeers[peer] { return (nil, several) }
            return (byPeer[peer], [])
        }

        let unixByInode = Dictionary(kernel.unix.map { ($0.inode, $0) }, uniquingKeysWith: { a, _ in a })
        let ownedUnix = fdsKnown ? kernel.unix.filter { fdByInode[$0.inode] != nil } : []

        // Per index into connected: the claims on it, and whether it is part of an ambiguous
        // answer (then not "unmatched"). Arrays, not maps: one lookup per session.
        var claimedTCP = [Int32](repeating: 0, count: connected.count)
        func socketView(_ e: TCPSocketEntry) -> SocketView { SocketView(tcp: e, fd: fdByInode[e.inode]) }
        var candidateTCP = [Bool](repeating: false, count: connected.count)
        var claimedFD: [Int32: [Int]] = [:]      // unix fd -> session indices
        var sessions: [SessionView] = []
        sessions.reserveCapacity(rows.count)
        var unixSessions = 0

        // Our own connection's socket is ours, found by our own address, and by the address
        // the server gives our session (not the same behind a proxy or NAT: docker-proxy's
        // side of a published port).
        var ownPeers: [SocketAddress] = selfPeer.map { [$0.normalized] } ?? []
        if let selfID, let row = rows.first(where: { $0.id == selfID }), case .tcp(let seen) = SessionEndpoint(host: row.host),
           !ownPeers.contains(seen.normalized) {
            ownPeers.append(seen.normalized)
        }
        for peer in ownPeers {
            let mine = sockets(withPeer: peer)
            for i in mine.several + (mine.one.map { [$0] } ?? []) { claimedTCP[i] += 1 }
        }
        let noFDReason: String? = fdsKnown ? nil : Self.fdReason(kernel.fdError)

        // By index, and each session's value built in place in the list: every copy of one
        // retains each string of its row.
        for r in rows.indices where rows[r].id != selfID {
            let id = rows[r].id
            sessions.append(SessionView(row: rows[r]))
            let k = sessions.count - 1
            switch SessionEndpoint(host: rows[r].host) {
            case .none:
                sessions[k].unresolved = "no client connection (server thread)"
            case .unparsable(let host):
                sessions[k].unresolved = "HOST '\(host)' has no address and port to match"
            case .tcp(let addr):
                sessions[k].transport = addr.ip.normalized.isV6 ? .tcp6 : .tcp4
                let found = sockets(withPeer: addr.normalized)
                switch (found.one, found.several.count) {
                case (let i?, _):
                    claimedTCP[i] += 1
                    let e = tcp[connected[i]]
                    sessions[k].transport = e.family == .tcp4 ? .tcp4 : .tcp6
                    sessions[k].socket = socketView(e)
                    sessions[k].match = .address
                    sessions[k].unresolved = noFDReason
                case (nil, 0):
                    sessions[k].socketMissing = true
                    sessions[k].unresolved = "no socket in mysqld's network namespace has peer \(addr) (client gone, or mysqld in another namespace than --pid)"
                case (nil, let n):
                    found.several.forEach { candidateTCP[$0] = true }
                    sessions[k].unresolved = "\(n) sockets in mysqld have peer \(addr); fd not given"
                }
            case .named(let name, let port):
                var found = connected.indices.filter {
                    tcp[connected[$0]].peer.port == port && listenerPorts.contains(tcp[connected[$0]].local.port)
                }
                if name == "localhost" { found = found.filter { Self.isLoopback(tcp[connected[$0]].peer.ip) } }
                switch found.count {
                case 1:
                    let i = found[0]
                    claimedTCP[i] += 1
                    let e = tcp[connected[i]]
                    sessions[k].transport = e.family == .tcp4 ? .tcp4 : .tcp6
                    sessions[k].socket = socketView(e)
                    sessions[k].match = .port
                    sessions[k].unresolved = noFDReason
                case 0:
                    sessions[k].unresolved = "HOST is a name (\(name)); no mysqld connection has peer port \(port)"
                default:
                    found.forEach { candidateTCP[$0] = true }
                    sessions[k].unresolved = "HOST is a name (\(name)); \(found.count) mysqld connections have peer port \(port) (run the server with skip-name-resolve for an exact join)"
                }
            case .unixSocket:
                unixSessions += 1
                sessions[k].transport = .unix
                if let noFDReason {
                    sessions[k].unresolved = "unix-socket session: \(noFDReason)"
                    break
                }
                switch unixEvidence[id] {
                case .fd(let fd, let method)?:
                    guard let inode = kernel.fds?[fd]?.socketInode else {
                        sessions[k].unresolved = "unix-socket session: fd \(fd) named by \(method.rawValue) is not a socket now"
                        break
                    }
                    guard let entry = unixByInode[inode], entry.isConnectedStream else {
                        sessions[k].unresolved = "unix-socket session: fd \(fd) named by \(method.rawValue) is not a connected unix socket"
                        break
                    }
                    sessions[k].socket = SocketView(unix: entry, fd: fd)
                    sessions[k].match = method
                    claimedFD[fd, default: []].append(k)
                case .notProven(let why)?:
                    sessions[k].unresolved = "unix-socket session: fd not proven: \(why)"
                case nil:
                    sessions[k].unresolved = "unix-socket session: fd not proven (no thread id, and performance_schema is off)"
                }
            }
        }

        // A TCP socket fitting two sessions proves neither.
        for (i, n) in claimedTCP.enumerated() where n > 1 {
            candidateTCP[i] = true
            let inode = tcp[connected[i]].inode
            for s in sessions.indices where sessions[s].socket?.inode == inode {
                sessions[s].socket = nil
                sessions[s].match = nil
                sessions[s].unresolved = "its socket (inode \(inode)) also fits another session; fd not given"
            }
        }
        for (fd, owners) in claimedFD where owners.count > 1 {
            for s in owners {
                sessions[s].socket = nil
                sessions[s].match = nil
                sessions[s].unresolved = "unix-socket session: fd \(fd) is claimed by \(owners.count) sessions; fd not given"
            }
        }

        var unmatched: [SocketView] = []
        for (i, t) in connected.enumerated() where claimedTCP[i] == 0 && !candidateTCP[i] {
            unmatched.append(socketView(tcp[t]))
        }
        // From the claims, not from a pass over the sessions (each read of a session value
        // copied it): a unix-socket session is proven when it alone claims its descriptor.
        var provenUnix = Set<UInt64>()
        var unprovenUnixSessions = unixSessions
        for (fd, owners) in claimedFD where owners.count == 1 {
            unprovenUnixSessions -= 1
            if let inode = kernel.fds?[fd]?.socketInode { provenUnix.insert(inode) }
        }
        var selfUnproven = rows.contains { $0.id == selfID && SessionEndpoint(host: $0.host) == .unixSocket }
        // Our own connection is proven by the kernel itself: unix_diag names its server end.
        if selfUnproven, let inode = selfServerUnixInode, fdByInode[inode] != nil,
           unixByInode[inode]?.isConnectedStream == true {
            provenUnix.insert(inode)
            selfUnproven = false
        }
        if selfUnproven, let selfID, case .fd(let fd, _)? = unixEvidence[selfID],
           let inode = kernel.fds?[fd]?.socketInode, unixByInode[inode]?.isConnectedStream == true {
            provenUnix.insert(inode)
            selfUnproven = false
        }
        // Only connections accepted on mysqld's listening socket (they carry its path) can be
        // sessions: a socketpair mysqld keeps for itself has no path and is nobody's session.
        let listenerPaths = Set(ownedUnix.filter(\.isListening).compactMap(\.path))
        let leftUnix = ownedUnix.filter {
            $0.isConnectedStream && !provenUnix.contains($0.inode) && $0.path.map(listenerPaths.contains) == true
        }
        if selfUnproven { unprovenUnixSessions += 1 }
        if unprovenUnixSessions == 0 {
            unmatched += leftUnix.map { SocketView(unix: $0, fd: fdByInode[$0.inode]) }
        } else if !leftUnix.isEmpty {
            warnings.append("\(leftUnix.count) unix socket(s) in mysqld are not attributed: \(unprovenUnixSessions) unix-socket session(s), myconn's own included, have no proven fd")
        }
        unmatched.sort { ($0.fd ?? Int32.max, $0.inode ?? 0) < ($1.fd ?? Int32.max, $1.inode ?? 0) }

        var listening: [SocketView] = []
        if includeListening {
            listening = ownedTCP.filter { tcp[$0].state == .listen }.map { SocketView(tcp: tcp[$0], fd: fdByInode[tcp[$0].inode]) }
            listening += ownedUnix.filter(\.isListening).map { SocketView(unix: $0, fd: fdByInode[$0.inode]) }
        }
        return Result(sessions: sessions, unmatchedSockets: unmatched, listeningSockets: listening, warnings: warnings)
    }

    static func fdReason(_ error: ProcError?) -> String {
        switch error {
        case .permissionDenied(let path)?:
            return "fd unknown: no permission to read \(path) (\(descriptorPrivilegeAdvice))"
        case let e?:
            return "fd unknown: \(e)"
        case nil:
            return "fd unknown: mysqld's descriptor table was not read"
        }
    }

    static func isLoopback(_ ip: IPAddress) -> Bool {
        switch ip.normalized {
        case .v4(let a, _, _, _): return a == 127
        case .v6(let b): return b.high == 0 && b.low == 1
        }
    }
}
