#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import LinuxKernel
import ProcFS
import SocketModel
import SockDiag
import Synchronization
import SystemPackage

/// Where the TCP socket table comes from.
public enum KernelSource: String, Sendable, CaseIterable {
    /// NETLINK_SOCK_DIAG dumps filtered in the kernel to mysqld's listening ports, taken inside
    /// mysqld's network namespace (`sock_diag(7)`).
    case netlink
    /// `/proc/<pid>/net/tcp` and `tcp6`: every socket of the namespace, parsed as text.
    case proc
}

/// Where a kernel read gets its sock_diag client, given mysqld's namespaces; nil means
/// ``MysqldNamespaces/openSockDiag()``, a netlink socket in mysqld's network namespace.
public typealias SockDiagOpener = (MysqldNamespaces) -> Result<SockDiagClient, NetlinkUnavailable>

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
    /// unix socket inode -> its peer's inode, for the connected unix sockets of mysqld's
    /// namespace (unix_diag `UDIAG_SHOW_PEER`); nil when not read (`--source proc`, no netlink).
    public var unixPeers: [UInt64: UInt64]?

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
    ///
    /// The descriptor table, then the unix table, are read on this thread while a second one
    /// dumps the listeners, the connections on `serverPort` and the unix peers, then helps with
    /// the descriptor table's readlinks; ports that only the descriptor table reveals are dumped
    /// afterwards. The caller has read the processlist before calling: both halves are later
    /// (`listing`: the descriptor numbers, listed while the processlist was read; their targets
    /// are read here).
    /// `openSockDiag` replaces ``MysqldNamespaces/openSockDiag()`` (tests: a replayed transport).
    public static func read(pid: Int32, proc: ProcReader, source: KernelSource = .netlink, serverPort: UInt16,
                            recording: SockDiagRecording? = nil, namespaces: MysqldNamespaces? = nil,
                            openSockDiag: SockDiagOpener? = nil,
                            listing: FDDirectory? = nil) throws(ProcError) -> KernelSnapshot {
        var diag: SockDiagClient?
        var recorder: RecordingTransport?
        var fallback: String?
        // sock_diag is asked for the unix sockets' peers with either TCP source: `--source proc`
        // takes only the TCP table from /proc (the unix-socket proof and --clients need the peers).
        do {
            let namespaces = namespaces ?? MysqldNamespaces(pid: pid, proc: proc)
            switch openSockDiag?(namespaces) ?? namespaces.openSockDiag() {
            case .success(let d):
                diag = d
                if recording != nil {
                    recorder = RecordingTransport(d.transport)
                    diag = SockDiagClient(transport: recorder!)
                }
            case .failure(let why): if source == .netlink { fallback = why.reason }
            }
        }
        let handed = Handover(value: diag)
        let listed = Mutex<FDDirectory?>(nil)
        typealias Targets = Result<[(fd: Int32, target: FDTarget)], ProcError>
        let (mine, side) = concurrently({ () -> (Targets, Result<[UnixSocketEntry], ProcError>) in
            let table: Targets
            do throws(ProcError) {
                let dir: FDDirectory
                if let listing { dir = listing } else { dir = try FDDirectory(reader: proc, pid: pid) }
                listed.withLock { $0 = dir }
                table = .success(try dir.readTargets())
            } catch {
                table = .failure(error)
            }
            // The unix table here, not on the other thread: its TCP dumps take longer than
            // these readlinks (measured at 1,000 sessions: 6.1 ms against 5.0).
            let unix: Result<[UnixSocketEntry], ProcError>
            do throws(ProcError) { unix = .success(try proc.unixSockets(pid: pid)) } catch { unix = .failure(error) }
            return (table, unix)
        }, side: { () -> (Result<NetlinkFirstPass, NetlinkUnavailable>?, [UInt64: UInt64]?,
                          Result<[(fd: Int32, target: FDTarget)], ProcError>) in
            let first = source == .netlink ? handed.value.map { firstPass($0, serverPort: serverPort, expected: listing?.fds.count ?? 0) } : nil
            var peers: [UInt64: UInt64]?
            if let diag = handed.value, let sockets = try? diag.dumpUnix(states: UnixDiag.established) {
                peers = [:]
                for s in sockets { if let p = s.peer { peers?[s.inode] = p } }
            }
            // Then the descriptors this thread's twin has not read yet, if it has listed them.
            let helped: Result<[(fd: Int32, target: FDTarget)], ProcError>
            do throws(ProcError) { helped = .success(try listed.withLock { $0 }?.readTargets() ?? []) } catch { helped = .failure(error) }
            return (first, peers, helped)
        })
        let fdRead = mine.0

        var fds: [Int32: FDTarget]?
        var fdError: ProcError?
        // Both threads' shares into one table, built once (a merged copy of it is new pages).
        switch fdRead.flatMap({ mine in side.2.map { helped in
            var t: [Int32: FDTarget] = [:]
            t.reserveCapacity(mine.count + helped.count)
            for (fd, target) in mine { t[fd] = target }
            for (fd, target) in helped where t[fd] == nil { t[fd] = target }
            return t
        } }) {
        case .success(let t): fds = t
        case .failure(.permissionDenied(let path)): fdError = .permissionDenied(path: path)
        case .failure(let e): throw e
        }
        var tcp: [TCPSocketEntry]?
        if let diag, let first = side.0 {
            switch first.flatMap({ completeNetlink(diag, first: $0, fds: fds, serverPort: serverPort) }) {
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
        switch mine.1 {
        case .success(let u): unix = u
        case .failure(.permissionDenied): unix = []
        case .failure(let e): throw e
        }
        if let recorder { recording?.keep(recorder) }
        var snapshot = KernelSnapshot(fds: fds, fdError: fdError, tcp: tcpRows, unix: unix,
                                      tcpSource: tcp == nil ? .proc : .netlink, fallbackReason: fallback)
        snapshot.unixPeers = side.1
        return snapshot
    }

    /// What can be dumped before mysqld's descriptors are known: the namespace's listeners
    /// (few), and the connections on the port the server reports (0: none), in one array.
    struct NetlinkFirstPass: Sendable {
        /// The listeners, then the connections on the server's port.
        var rows: [TCPSocketEntry]
        var listenerCount: Int
        var listeners: ArraySlice<TCPSocketEntry> { rows[..<listenerCount] }
    }

    /// - Parameter expected: about how many sockets the dump brings (mysqld's descriptors):
    ///   one array sized once, not grown by copies.
    static func firstPass(_ diag: SockDiagClient, serverPort: UInt16, expected: Int = 0) -> Result<NetlinkFirstPass, NetlinkUnavailable> {
        do throws(SockDiagClient.DumpError) {
            var rows: [TCPSocketEntry] = []
            rows.reserveCapacity(expected + 16)
            try diag.dumpTCPBothFamilies(states: InetDiag.states([.listen]), sourcePort: nil, into: &rows)
            let listeners = rows.count
            if serverPort != 0 { try dumpConnected(diag, port: serverPort, into: &rows) }
            return .success(NetlinkFirstPass(rows: rows, listenerCount: listeners))
        } catch {
            return .failure(NetlinkUnavailable(reason: "sock_diag dump failed: \(error)"))
        }
    }

    /// Per listening port of mysqld's (the server's port when its descriptors are unknown), the
    /// sockets on that local port: the kernel filters, so clients' own sockets never cross.
    static func completeNetlink(_ diag: SockDiagClient, first: NetlinkFirstPass, fds: [Int32: FDTarget]?,
                                serverPort: UInt16) -> Result<[TCPSocketEntry], NetlinkUnavailable> {
        var ports: Set<UInt16> = [serverPort]
        if let fds {
            // The few listeners looked up in one pass over the descriptors (not a set of them all).
            let portByInode = Dictionary(first.listeners.map { ($0.inode, $0.local.port) }, uniquingKeysWith: { a, _ in a })
            ports = []
            for target in fds.values { if let inode = target.socketInode, let port = portByInode[inode] { ports.insert(port) } }
        }
        // The common case: mysqld listens on the port it reports, and only there.
        if serverPort != 0 && ports == [serverPort] { return .success(first.rows) }
        var rows = Array(first.listeners)
        do throws(SockDiagClient.DumpError) {
            for port in ports.sorted() {
                if port == serverPort && serverPort != 0 {
                    rows += first.rows[first.listenerCount...]
                } else {
                    try dumpConnected(diag, port: port, into: &rows)
                }
            }
        } catch {
            return .failure(NetlinkUnavailable(reason: "sock_diag dump failed: \(error)"))
        }
        return .success(rows)
    }

    static func dumpConnected(_ diag: SockDiagClient, port: UInt16, into rows: inout [TCPSocketEntry]) throws(SockDiagClient.DumpError) {
        try diag.dumpTCPBothFamilies(states: InetDiag.allButListen, sourcePort: port, withInfo: true, into: &rows)
    }

    /// socket inode -> lowest fd that holds it.
    public func fdBySocketInode() -> [UInt64: Int32] {
        var out: [UInt64: Int32] = [:]
        guard let fds else { return out }
        out.reserveCapacity(fds.count)
        for (fd, target) in fds {
            if let inode = target.socketInode, out[inode].map({ fd < $0 }) ?? true { out[inode] = fd }
        }
        return out
    }
}
