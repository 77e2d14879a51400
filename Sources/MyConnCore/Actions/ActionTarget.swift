import MySQLSessions
import ProcFS

/// The identity of one socket inside mysqld, carried from the join to every action: what an
/// action re-verifies at the moment it acts (the descriptor still refers to this inode; for
/// TCP, the same peer; for SOCK_DESTROY, the same cookie where known). Compared as values;
/// only formatters make text of it.
public struct SocketRef: Sendable, Hashable {
    /// mysqld's pid as seen from here (a thread-group leader).
    public var pid: Int32
    public var fd: Int32
    public var inode: UInt64
    public var transport: Transport
    public var local: SocketEndpoint?
    public var peer: SocketAddress?
    /// sock_diag's cookie, where the socket came from a dump.
    public var cookie: UInt64?

    public init(pid: Int32, fd: Int32, inode: UInt64, transport: Transport, local: SocketEndpoint?,
                peer: SocketAddress?, cookie: UInt64? = nil) {
        self.pid = pid
        self.fd = fd
        self.inode = inode
        self.transport = transport
        self.local = local
        self.peer = peer
        self.cookie = cookie
    }
}

/// What one action acts on: a session (kill), a socket (close, probe), or both.
public struct ActionTarget: Sendable, Equatable {
    /// nil in kernel-only mode (no SQL).
    public var session: ProcessListRow?
    /// nil for an action on the session alone (kill).
    public var socket: SocketRef?

    public init(session: ProcessListRow?, socket: SocketRef?) {
        precondition(session != nil || socket != nil, "a target names a session or a socket")
        self.session = session
        self.socket = socket
    }

    /// Two targets with one identity are one target: the same socket of the same mysqld, or
    /// the same session when there is no socket.
    public enum Identity: Hashable, Sendable {
        case socket(pid: Int32, inode: UInt64)
        case session(UInt64)
    }

    public var identity: Identity {
        if let socket { return .socket(pid: socket.pid, inode: socket.inode) }
        return .session(session!.id)
    }

    /// The target's fields in the audit log and `--json`, in this order: session_id, user,
    /// host, then for a socket mysqld_pid, fd, inode, (transport), local, peer.
    public func writeFields(to w: JSONWriter, transport: Bool) {
        w.field("session_id", session.map { Int64(bitPattern: $0.id) })
        w.field("user", session?.user)
        w.field("host", session?.host)
        guard let socket else { return }
        w.field("mysqld_pid", Int64(socket.pid))
        w.field("fd", Int64(socket.fd))
        w.field("inode", Int64(bitPattern: socket.inode))
        if transport { w.field("transport", socket.transport.rawValue) }
        w.field("local", socket.local?.description)
        w.field("peer", socket.peer?.description)
    }
}

extension Array where Element == ActionTarget {
    /// Each identity once, first occurrence kept: `close V V`, or `--peer` and `--fd` naming one
    /// socket, act once.
    public func uniqued() -> [ActionTarget] {
        var seen = Set<ActionTarget.Identity>()
        return filter { seen.insert($0.identity).inserted }
    }
}
