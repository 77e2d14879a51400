#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import LinuxKernel
import ProcFS
import SockDiag
import SystemPackage

/// Where the TCP socket table comes from.
public enum KernelSource: String, Sendable, CaseIterable {
    /// NETLINK_SOCK_DIAG dumps filtered in the kernel to mysqld's listening ports, taken inside
    /// mysqld's network namespace (`sock_diag(7)`).
    case netlink
    /// `/proc/<pid>/net/tcp` and `tcp6`: every socket of the namespace, parsed as text.
    case proc
}

/// mysqld's sockets as the kernel shows them at one moment: its descriptor table and the
/// TCP and unix socket tables of its own network namespace (`/proc/<pid>/net/...`).
public struct KernelSnapshot: Sendable {
    /// fd -> target; nil when `/proc/<pid>/fd` could not be read (see `fdError`).
    public var fds: [Int32: FDTarget]?
    public var fdError: ProcError?
    public var tcp: [TCPSocketEntry]
    public var unix: [UnixSocketEntry]
    /// The source the TCP table really came from.
    public var tcpSource: KernelSource
    /// Why netlink was not used, when it was asked for and /proc was read instead.
    public var fallbackReason: String?

    public init(fds: [Int32: FDTarget]?, fdError: ProcError? = nil, tcp: [TCPSocketEntry], unix: [UnixSocketEntry],
                tcpSource: KernelSource = .proc, fallbackReason: String? = nil) {
        self.fds = fds
        self.fdError = fdError
        self.tcp = tcp
        self.unix = unix
        self.tcpSource = tcpSource
        self.fallbackReason = fallbackReason
    }

    /// Reads the snapshot of `pid`. A denied descriptor table is recorded, not thrown:
    /// the socket tables alone still give addresses, states and inodes. With `.netlink`, a
    /// namespace or netlink socket that cannot be opened falls back to /proc, and says why.
    public static func read(pid: Int32, proc: ProcReader, source: KernelSource = .netlink, serverPort: UInt16,
                            recorder: ((NetlinkSockDiag) -> Void)? = nil) throws(ProcError) -> KernelSnapshot {
        var fds: [Int32: FDTarget]?
        var fdError: ProcError?
        do {
            fds = try proc.fdTable(pid: pid)
        } catch .permissionDenied(let path) {
            fdError = .permissionDenied(path: path)
        }
        var tcp: [TCPSocketEntry]?
        var fallback: String?
        if source == .netlink {
            switch netlinkTCP(pid: pid, proc: proc, fds: fds, serverPort: serverPort, recorder: recorder) {
            case .success(let rows): tcp = rows
            case .failure(let why): fallback = why.reason
            }
        }
        let tcpRows: [TCPSocketEntry]
        if let tcp {
            tcpRows = tcp
        } else {
            tcpRows = try proc.tcpSockets(pid: pid, family: .tcp4) + proc.tcpSockets(pid: pid, family: .tcp6)
        }
        var unix: [UnixSocketEntry] = []
        do {
            unix = try proc.unixSockets(pid: pid)
        } catch .permissionDenied {
            unix = []
        }
        return KernelSnapshot(fds: fds, fdError: fdError, tcp: tcpRows, unix: unix,
                              tcpSource: tcp == nil ? .proc : .netlink, fallbackReason: fallback)
    }

    struct NetlinkUnavailable: Error { var reason: String }

    /// A sock_diag socket in mysqld's network namespace: a plain one when it is ours, else one
    /// opened by a thread that `setns`es there. Shared by the kernel snapshot and SOCK_DESTROY.
    static func openSockDiag(pid: Int32, proc: ProcReader) -> Result<NetlinkSockDiag, NetlinkUnavailable> {
        let own = try? proc.namespaceLink(pid: getpid(), kind: "net")
        guard let theirs = try? proc.namespaceLink(pid: pid, kind: "net") else {
            return .failure(NetlinkUnavailable(reason: "mysqld's network namespace is not readable (\(proc.path(pid, "ns/net")))"))
        }
        do {
            return .success(try NetlinkSockDiag(namespacePath: own == theirs ? nil : proc.path(pid, "ns/net").string))
        } catch {
            return .failure(NetlinkUnavailable(reason: "cannot open a sock_diag socket in mysqld's network namespace: \(error)"))
        }
    }

    /// Listeners of the namespace first (few), then, per listening port of mysqld's, the other
    /// sockets on that local port: the kernel filters, so clients' own sockets never cross.
    static func netlinkTCP(pid: Int32, proc: ProcReader, fds: [Int32: FDTarget]?, serverPort: UInt16,
                           recorder: ((NetlinkSockDiag) -> Void)?) -> Result<[TCPSocketEntry], NetlinkUnavailable> {
        let diag: NetlinkSockDiag
        switch openSockDiag(pid: pid, proc: proc) {
        case .success(let d): diag = d
        case .failure(let e): return .failure(e)
        }
        recorder?(diag)
        do {
            var rows: [TCPSocketEntry] = []
            for family in [InetDiag.afInet, InetDiag.afInet6] {
                rows += try diag.dumpTCP(family: family, states: InetDiag.states([.listen]), sourcePort: nil)
            }
            let held = Set(fds?.values.compactMap(\.socketInode) ?? [])
            var ports: Set<UInt16> = [serverPort]
            if fds != nil { ports = Set(rows.filter { held.contains($0.inode) }.map(\.local.port)) }
            for port in ports.sorted() {
                for family in [InetDiag.afInet, InetDiag.afInet6] {
                    rows += try diag.dumpTCP(family: family, states: InetDiag.allButListen, sourcePort: port, withInfo: true)
                }
            }
            return .success(rows)
        } catch {
            return .failure(NetlinkUnavailable(reason: "sock_diag dump failed: \(error)"))
        }
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
