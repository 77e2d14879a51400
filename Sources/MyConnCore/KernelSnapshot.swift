import ProcFS

/// mysqld's sockets as the kernel shows them at one moment: its descriptor table and the
/// TCP and unix socket tables of its own network namespace (`/proc/<pid>/net/...`).
public struct KernelSnapshot: Sendable {
    /// fd -> target; nil when `/proc/<pid>/fd` could not be read (see `fdError`).
    public var fds: [Int32: FDTarget]?
    public var fdError: ProcError?
    public var tcp: [TCPSocketEntry]
    public var unix: [UnixSocketEntry]

    public init(fds: [Int32: FDTarget]?, fdError: ProcError? = nil, tcp: [TCPSocketEntry], unix: [UnixSocketEntry]) {
        self.fds = fds
        self.fdError = fdError
        self.tcp = tcp
        self.unix = unix
    }

    /// Reads the snapshot of `pid`. A denied descriptor table is recorded, not thrown:
    /// the socket tables alone still give addresses, states and inodes.
    public static func read(pid: Int32, proc: ProcReader) throws(ProcError) -> KernelSnapshot {
        var fds: [Int32: FDTarget]?
        var fdError: ProcError?
        do {
            fds = try proc.fdTable(pid: pid)
        } catch .permissionDenied(let path) {
            fdError = .permissionDenied(path: path)
        }
        let tcp = try proc.tcpSockets(pid: pid, family: .tcp4) + proc.tcpSockets(pid: pid, family: .tcp6)
        var unix: [UnixSocketEntry] = []
        do {
            unix = try proc.unixSockets(pid: pid)
        } catch .permissionDenied {
            unix = []
        }
        return KernelSnapshot(fds: fds, fdError: fdError, tcp: tcp, unix: unix)
    }

    /// socket inode -> lowest fd that holds it.
    public func fdBySocketInode() -> [UInt64: Int32] {
        var out: [UInt64: Int32] = [:]
        guard let fds else { return out }
        for (fd, target) in fds {
            if let inode = target.socketInode, out[inode].map({ fd < $0 }) ?? true { out[inode] = fd }
        }
        return out
    }
}
