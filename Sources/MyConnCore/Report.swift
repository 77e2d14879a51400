import MySQLSessions
import ProcFS

/// How a socket reached mysqld.
public enum Transport: String, Sendable, Codable {
    case tcp4, tcp6, unix
}

/// What proved that a socket is a session's.
public enum MatchMethod: String, Sendable, Codable {
    /// HOST `ip:port` equals the socket's peer address.
    case address
    /// HOST is a name; exactly one mysqld connection has that peer port.
    case port
    /// The session's own thread was blocked on this descriptor, before and after reading it.
    case thread
    /// `performance_schema.socket_instances`.
    case performanceSchema = "performance_schema"
}

/// A socket's local end: an address and port, or a unix socket's path.
public enum SocketEndpoint: Sendable, Hashable, CustomStringConvertible {
    case inet(SocketAddress)
    case unix(path: String)

    public var address: SocketAddress? {
        if case .inet(let a) = self { return a } else { return nil }
    }

    public var description: String {
        switch self {
        case .inet(let a): return a.description
        case .unix(let path): return path
        }
    }
}

/// One socket inside mysqld, as the kernel shows it. Addresses are values; only the
/// formatters make text of them.
public struct SocketView: Sendable, Equatable {
    public var transport: Transport
    /// nil when the descriptor could not be proven or read.
    public var fd: Int32?
    public var inode: UInt64?
    public var local: SocketEndpoint?
    public var peer: SocketAddress?
    /// sock_diag's identity of the socket (`inet_diag_sockid.idiag_cookie`); nil from /proc.
    public var cookie: UInt64?
    public var tcpState: TCPState?
    public var sendQueue: UInt32?
    public var recvQueue: UInt32?
    /// tcp_info from sock_diag; nil for unix sockets and with `--source proc`.
    public var health: TCPHealth?
    /// With `list --clients`: the processes on this host holding the other end (lowest pid
    /// first; several after a fork); empty when none was found or not asked.
    public var clients: [SocketOwner] = []
    /// Zombie classes of a socket without a session (``ZombieRules``), sorted; nil when not
    /// classified (kernel-only mode: no session is known, so none can be called an orphan).
    public var zombie: [ZombieClass]?

    public init(transport: Transport, fd: Int32? = nil, inode: UInt64? = nil, local: SocketEndpoint? = nil,
                peer: SocketAddress? = nil, tcpState: TCPState? = nil, sendQueue: UInt32? = nil,
                recvQueue: UInt32? = nil, health: TCPHealth? = nil) {
        self.health = health
        self.transport = transport
        self.fd = fd
        self.inode = inode
        self.local = local
        self.peer = peer
        self.tcpState = tcpState
        self.sendQueue = sendQueue
        self.recvQueue = recvQueue
    }

    init(tcp e: TCPSocketEntry, fd: Int32?) {
        self.init(transport: e.family == .tcp4 ? .tcp4 : .tcp6, fd: fd, inode: e.inode,
                  local: .inet(e.local), peer: e.peer, tcpState: e.state,
                  sendQueue: e.sendQueue, recvQueue: e.recvQueue, health: e.health)
        cookie = e.cookie
    }

    init(unix e: UnixSocketEntry, fd: Int32?) {
        self.init(transport: .unix, fd: fd, inode: e.inode, local: e.path.map { .unix(path: $0) })
    }

    /// The reference an action takes: only when mysqld's descriptor and the inode are proven.
    public func reference(pid: Int32) -> SocketRef? {
        guard let fd, let inode else { return nil }
        return SocketRef(pid: pid, fd: fd, inode: inode, transport: transport, local: local, peer: peer, cookie: cookie)
    }
}

/// A session beside its socket, or the reason its socket is not given.
public struct SessionView: Sendable, Equatable {
    public var row: ProcessListRow
    /// The transport the session uses as far as HOST tells (nil for server threads).
    public var transport: Transport?
    public var socket: SocketView?
    public var match: MatchMethod?
    /// Why `socket` (or its fd) is missing; nil when everything is proven.
    public var unresolved: String?
    /// No socket in mysqld's namespace has this TCP session's peer address.
    public var socketMissing = false
    /// Zombie classes (see ``ZombieRules``), sorted; empty when none.
    public var zombie: [ZombieClass] = []

    public init(row: ProcessListRow, transport: Transport? = nil, socket: SocketView? = nil,
                match: MatchMethod? = nil, unresolved: String? = nil) {
        self.row = row
        self.transport = transport
        self.socket = socket
        self.match = match
        self.unresolved = unresolved
    }
}

/// The server `list` looked at.
public struct ServerView: Sendable, Equatable {
    public var pid: Int32?
    /// nil in kernel-only mode (no SQL).
    public var version: String?
    public var port: UInt16?
    /// Where the TCP table came from.
    public var kernelSource: KernelSource
    /// Whether the processlist was read; false in kernel-only mode.
    public var sql: Bool
    /// Whether mysqld shares myconn's network namespace (nil: not readable). When not, every
    /// address shown (the processlist's HOST, local and peer) is as mysqld's namespace sees it.
    public var sameNetworkNamespace: Bool?

    public init(pid: Int32?, version: String?, port: UInt16?, kernelSource: KernelSource, sql: Bool = true) {
        self.pid = pid
        self.version = version
        self.port = port
        self.kernelSource = kernelSource
        self.sql = sql
    }
}

/// Everything `myconn list` prints.
public struct ListReport: Sendable, Equatable {
    public var server: ServerView
    public var sessions: [SessionView]
    /// mysqld's connected sockets that belong to no session.
    public var unmatchedSockets: [SocketView]
    /// mysqld's listening sockets (filled only when asked for).
    public var listeningSockets: [SocketView]
    /// One line each: missing privileges or permissions and what they cost.
    public var warnings: [String]
    /// Whether the kernel view lacks columns because of a permission (exit status 6 in the CLI).
    public var kernelViewIncomplete: Bool
    /// myconn's own session, left out of `sessions`.
    public var selfConnectionID: UInt64?
    /// Whether client processes were looked up (`list --clients`): `clients` is meaningful then.
    public var clientsLookedUp = false
    /// Whether the processlist shows every session (PROCESS): only then is a socket without a
    /// session one that no session holds. True for the kernel-only view, which has no processlist.
    public var completeProcessList = true

    public init(server: ServerView, sessions: [SessionView], unmatchedSockets: [SocketView],
                listeningSockets: [SocketView], warnings: [String], kernelViewIncomplete: Bool,
                selfConnectionID: UInt64? = nil) {
        self.server = server
        self.sessions = sessions
        self.unmatchedSockets = unmatchedSockets
        self.listeningSockets = listeningSockets
        self.warnings = warnings
        self.kernelViewIncomplete = kernelViewIncomplete
        self.selfConnectionID = selfConnectionID
    }
}
