/// A TCP socket of a namespace: a row of `/proc/<pid>/net/tcp{,6}` or a sock_diag `inet_diag_msg`.
public struct TCPSocketEntry: Hashable, Sendable {
    public var family: TCPFamily
    public var local: SocketAddress
    public var peer: SocketAddress
    public var state: TCPState
    public var sendQueue: UInt32
    public var recvQueue: UInt32
    public var uid: UInt32
    /// The socket inode, the key shared with `/proc/<pid>/fd` and sock_diag; 0 for orphaned sockets.
    public var inode: UInt64
    /// From sock_diag with INET_DIAG_INFO only; nil from /proc, which has no tcp_info.
    public var health: TCPHealth?
    /// sock_diag's `idiag_cookie`: the kernel's identity of the socket; nil from /proc.
    public var cookie: UInt64?

    public init(family: TCPFamily, local: SocketAddress, peer: SocketAddress, state: TCPState,
                sendQueue: UInt32, recvQueue: UInt32, uid: UInt32, inode: UInt64, health: TCPHealth? = nil,
                cookie: UInt64? = nil) {
        self.health = health
        self.cookie = cookie
        self.family = family
        self.local = local
        self.peer = peer
        self.state = state
        self.sendQueue = sendQueue
        self.recvQueue = recvQueue
        self.uid = uid
        self.inode = inode
    }
}

/// One row of `/proc/<pid>/net/unix` (`unix(7)`, `proc(5)`).
public struct UnixSocketEntry: Hashable, Sendable {
    /// `SOCK_STREAM` = 1, `SOCK_DGRAM` = 2, `SOCK_SEQPACKET` = 5.
    public var type: UInt16
    /// `SS_UNCONNECTED` = 1, `SS_CONNECTING` = 2, `SS_CONNECTED` = 3, `SS_DISCONNECTING` = 4.
    public var state: UInt8
    /// `__SO_ACCEPTCON` (0x10000) marks a listening socket.
    public var isListening: Bool
    public var inode: UInt64
    /// The bound path; accepted sockets show their listener's path. `@...` for abstract names.
    public var path: String?

    public var isConnectedStream: Bool { type == 1 && state == 3 && !isListening }

    public init(type: UInt16, state: UInt8, isListening: Bool, inode: UInt64, path: String?) {
        self.type = type
        self.state = state
        self.isListening = isListening
        self.inode = inode
        self.path = path
    }
}

/// A process holding a socket, and the descriptor it holds it at.
public struct SocketOwner: Sendable, Equatable, Hashable {
    public var pid: Int32
    public var command: String
    public var uid: UInt32?
    /// The descriptor in that process.
    public var fd: Int32

    public init(pid: Int32, command: String, uid: UInt32?, fd: Int32) {
        self.pid = pid
        self.command = command
        self.uid = uid
        self.fd = fd
    }
}
