#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import LinuxKernel
import ProcFS

/// Why mysqld's process could not be settled.
public enum LocateError: Error, Equatable, Sendable {
    /// No process could be shown to serve the connection.
    case notFound(why: String)
    /// `--pid` names a process that neither owns our connection's server end nor listens on the
    /// port (0: holds no listening socket at all).
    case notMysqld(pid: Int32, comm: String, port: UInt16)
    /// `--pid` names a process whose command is not mysqld/mariadbd (and no `--force`).
    case notNamedServer(pid: Int32, comm: String)
    /// `--pid` names a thread, not a process: `leader` is its thread-group leader.
    case notThreadGroupLeader(pid: Int32, leader: Int32, comm: String)
    case processGone(pid: Int32)
    /// Several processes fit; the user has to choose with `--pid`.
    case ambiguous(pids: [Int32], port: UInt16)
    /// Our connection's server end is held by a process that is not a server (a proxy in
    /// front of mysqld): it is never listed as mysqld.
    case notServer(pid: Int32, comm: String)
    /// The server end is Docker's docker-proxy, forwarding to `target`, and no mysqld/mariadbd
    /// process of this host holds the other end of one of its connections there.
    case behindProxy(pid: Int32, target: String)
}

/// The process serving our SQL connection.
public struct MysqldProcess: Sendable, Equatable {
    public var pid: Int32
    /// Taken from `--pid` on its name: the caller still has to see it hold a listener
    /// (``MysqldLocator/requireListener(pid:kernel:port:)``) in the kernel view it reads anyway.
    public var listenerUnchecked = false

    public init(pid: Int32, listenerUnchecked: Bool = false) {
        self.pid = pid
        self.listenerUnchecked = listenerUnchecked
    }
}

/// Finds mysqld's pid without guessing by name: it is the process that owns the server end
/// of myconn's own SQL connection (`SO_PEERCRED` for the unix socket; for TCP the socket in
/// `/proc/net/tcp*` whose ends mirror ours, then its owner in `/proc/*/fd`). Only when that
/// end is in another network namespace does it fall back to processes named mysqld/mariadbd
/// that hold a listening socket on the server's port.
public struct MysqldLocator: Sendable {
    public let proc: ProcReader

    public init(proc: ProcReader = ProcReader()) {
        self.proc = proc
    }

    static let serverNames: Set<String> = ["mysqld", "mariadbd"]

    /// - Parameters:
    ///   - connectionFD: our SQL connection's descriptor in this process.
    ///   - requested: `--pid`, verified rather than trusted.
    ///   - serverUptime: asks the server its `Uptime`, to choose among processes that cannot be
    ///     inspected; called only then (it costs the server a pass over every session).
    ///   - force: `--force`: a `--pid` not named mysqld/mariadbd is taken (still a process, still
    ///     holding a listener).
    public func locate(connectionFD: Int32, serverPort: UInt16, requested: Int32?, force: Bool = false,
                       serverUptime: () -> UInt64? = { nil }) throws(LocateError) -> MysqldProcess {
        if let requested {
            var verified = try verify(pid: requested, force: force)
            // SO_PEERCRED costs nothing; over TCP the owner of the server end would cost a
            // readlink of every descriptor on the machine: the kernel view checks the listener instead.
            if let owner = ownerOfUnixServerEnd(connectionFD: connectionFD), owner.pid == requested { return owner }
            verified.listenerUnchecked = true
            return verified
        }
        if let owner = ownerOfServerEnd(connectionFD: connectionFD) { return try serverOrBeyondProxy(owner) }
        return try byNameAndPort(serverPort, serverUptime: serverUptime)
    }

    /// The owner of our connection's server end when it is mysqld; Docker's docker-proxy (a
    /// published port) followed to the mysqld it forwards to; any other process refused by name.
    func serverOrBeyondProxy(_ owner: MysqldProcess) throws(LocateError) -> MysqldProcess {
        let comm = (try? proc.comm(pid: owner.pid)) ?? "?"
        if Self.serverNames.contains(comm) { return owner }
        guard comm == "docker-proxy" else { throw .notServer(pid: owner.pid, comm: comm) }
        let cmdline = (try? proc.readText(proc.path(owner.pid, "cmdline"), pid: owner.pid)) ?? ""
        guard let target = Self.dockerProxyTarget(cmdline) else { throw .notServer(pid: owner.pid, comm: comm) }
        guard let pid = serverBehind(proxy: owner.pid, target: target) else {
            throw .behindProxy(pid: owner.pid, target: target.description)
        }
        return MysqldProcess(pid: pid)
    }

    /// `-container-ip A -container-port P` of docker-proxy's command line (NUL-separated).
    static func dockerProxyTarget(_ cmdline: String) -> SocketAddress? {
        let args = cmdline.split(separator: "\0").map(String.init)
        func value(_ flag: String) -> String? { args.firstIndex(of: flag).flatMap { $0 + 1 < args.count ? args[$0 + 1] : nil } }
        guard let ip = value("-container-ip").flatMap(IPAddress.init(text:)), let port = value("-container-port").flatMap(UInt16.init) else {
            return nil
        }
        return SocketAddress(ip: ip, port: port)
    }

    /// The mysqld/mariadbd process holding the other end of one of `proxy`'s connections to
    /// `target`: the socket whose ends mirror the proxy's, in the server's own network namespace.
    func serverBehind(proxy: Int32, target: SocketAddress) -> Int32? {
        struct Ends: Hashable { var local: SocketAddress, peer: SocketAddress }
        func tcp(_ pid: Int32) -> [TCPSocketEntry] {
            ((try? proc.tcpSockets(pid: pid, family: .tcp4)) ?? []) + ((try? proc.tcpSockets(pid: pid, family: .tcp6)) ?? [])
        }
        guard let proxyFDs = try? proc.fdTable(pid: proxy) else { return nil }
        let proxyHeld = Set(proxyFDs.values.compactMap(\.socketInode))
        let mirrors = Set(tcp(proxy).filter { proxyHeld.contains($0.inode) && $0.peer.normalized == target.normalized }
            .map { Ends(local: $0.peer.normalized, peer: $0.local.normalized) })
        guard !mirrors.isEmpty else { return nil }
        for pid in namedServers() {
            let ends = Set(tcp(pid).filter { mirrors.contains(Ends(local: $0.local.normalized, peer: $0.peer.normalized)) }.map(\.inode))
            guard !ends.isEmpty, let table = try? proc.fdTable(pid: pid) else { continue }
            if table.values.contains(where: { $0.socketInode.map(ends.contains) ?? false }) { return pid }
        }
        return nil
    }

    /// The mysqld serving `source`'s connection (the owner of its server end, as ``locate``).
    public func locate(serving source: some SessionSource) throws(ListError) -> MysqldProcess {
        let facts: ServerFacts
        do { facts = try source.serverFacts() } catch { throw .sql(error) }
        do {
            return try locate(connectionFD: source.socketDescriptor, serverPort: facts.port, requested: nil,
                              serverUptime: { source.uptimeSeconds() })
        } catch {
            throw .locate(error)
        }
    }

    /// `--pid` checked before anything trusts it: the process exists, is a thread-group leader
    /// (`Tgid:` of `/proc/<pid>/status` is the pid itself: a mysqld thread id is refused) and is
    /// named mysqld/mariadbd, unless `force`. Reads two small files; whether it holds a listener
    /// is checked on the kernel view the caller reads next (``requireListener(pid:kernel:port:)``).
    public func verify(pid: Int32, force: Bool = false) throws(LocateError) -> MysqldProcess {
        guard proc.exists(pid: pid) else { throw .processGone(pid: pid) }
        let comm: String
        let status: ProcStatus
        do {
            comm = try proc.comm(pid: pid)
            status = try proc.status(pid: pid)
        } catch {
            throw .processGone(pid: pid)
        }
        if let tgid = status.tgid, tgid != pid {
            throw .notThreadGroupLeader(pid: pid, leader: tgid, comm: comm)
        }
        if !force && !Self.serverNames.contains(comm) { throw .notNamedServer(pid: pid, comm: comm) }
        return MysqldProcess(pid: pid)
    }

    /// The second half of ``verify(pid:force:)``, on the kernel view already read: `pid` must hold
    /// a listening TCP socket on `port` (any port when nil or 0) or, with no port given, a
    /// listening unix socket. Passes when its descriptors could not be read (the view says so).
    public func requireListener(pid: Int32, kernel: KernelSnapshot, port: UInt16?) throws(LocateError) {
        guard kernel.fds != nil else { return }
        let held = kernel.fdBySocketInode()
        let anyPort = port == nil || port == 0
        let tcp = kernel.tcp.contains { $0.state == .listen && held[$0.inode] != nil && (anyPort || $0.local.port == port) }
        let unix = anyPort && kernel.unix.contains { $0.isListening && held[$0.inode] != nil }
        if !tcp && !unix { throw .notMysqld(pid: pid, comm: (try? proc.comm(pid: pid)) ?? "?", port: port ?? 0) }
    }

    /// The peer of a unix-socket connection (`SO_PEERCRED`); nil for TCP or when unknown.
    func ownerOfUnixServerEnd(connectionFD: Int32) -> MysqldProcess? {
        guard case .unix? = try? SocketEndpoints(fd: connectionFD) else { return nil }
        return ownerOfServerEnd(connectionFD: connectionFD)
    }

    /// The process that holds the other end of our connection, when we can see it.
    func ownerOfServerEnd(connectionFD: Int32) -> MysqldProcess? {
        guard let ends = try? SocketEndpoints(fd: connectionFD) else { return nil }
        switch ends {
        case .unix:
            guard let cred = try? PeerCredentials(fd: connectionFD), cred.pid > 0, proc.exists(pid: cred.pid) else {
                return nil
            }
            return MysqldProcess(pid: cred.pid)
        case .inet(let local, let peer):
            let me = getpid()
            let family: TCPFamily = local.ip.isV6 ? .tcp6 : .tcp4
            let mine = try? inodeOf(fd: connectionFD)
            let named = namedServers()
            // Our socket lives in our own network namespace, or in mysqld's when myconn connected
            // from inside it (--netns-of): the table that holds our own inode is the right one,
            // and the server end is the socket there whose ends mirror ours.
            for tablePID in [me] + named {
                guard let rows = try? proc.tcpSockets(pid: tablePID, family: family),
                      mine == nil || rows.contains(where: { $0.inode == mine }),
                      let serverEnd = rows.first(where: {
                          $0.local.normalized == peer.normalized && $0.peer.normalized == local.normalized && $0.inode != 0
                      })
                else { continue }
                for pid in named + proc.pids().filter({ !named.contains($0) }) where pid != me {
                    guard let table = try? proc.fdTable(pid: pid) else { continue }
                    if table.values.contains(.socket(inode: serverEnd.inode)) {
                        return MysqldProcess(pid: pid)
                    }
                }
                return nil
            }
            return nil
        }
    }

    /// mysqld without SQL: `requested` (verified by name), else the one mysqld/mariadbd holding a
    /// listener that matches what the user asked to connect to: the unix socket `socketPath`, or
    /// TCP `port` (local servers only). nil when nothing matches: no guessing.
    public func locateWithoutSQL(requested: Int32?, socketPath: String?, port: UInt16?,
                                 force: Bool = false) throws(LocateError) -> MysqldProcess? {
        if let requested {
            var verified = try verify(pid: requested, force: force)
            verified.listenerUnchecked = true
            return verified
        }
        var found: [Int32] = []
        for pid in namedServers() {
            guard let table = try? proc.fdTable(pid: pid) else { continue }
            let held = Set(table.values.compactMap(\.socketInode))
            if let socketPath, let unix = try? proc.unixSockets(pid: pid),
               unix.contains(where: { $0.isListening && $0.path == socketPath && held.contains($0.inode) }) {
                found.append(pid)
            } else if let port, listens(pid: pid, port: port) == .yes {
                found.append(pid)
            }
        }
        if found.count > 1 { throw .ambiguous(pids: found.sorted(), port: port ?? 0) }
        return found.first.map { MysqldProcess(pid: $0) }
    }

    /// The processes named mysqld or mariadbd.
    func namedServers() -> [Int32] {
        proc.pids().filter { Self.serverNames.contains((try? proc.comm(pid: $0)) ?? "") }
    }

    enum Answer { case yes, no, unknown }

    /// Whether `pid` holds a listening TCP socket on `port` in its own network namespace.
    func listens(pid: Int32, port: UInt16) -> Answer {
        guard let tcp = try? proc.tcpSockets(pid: pid, family: .tcp4) + proc.tcpSockets(pid: pid, family: .tcp6) else {
            return .no
        }
        let listeners = Set(tcp.filter { $0.state == .listen && $0.local.port == port }.map(\.inode))
        if listeners.isEmpty { return .no }
        do {
            let table = try proc.fdTable(pid: pid)
            return table.values.contains { $0.socketInode.map(listeners.contains) ?? false } ? .yes : .no
        } catch .permissionDenied {
            return .unknown
        } catch {
            return .no
        }
    }

    func byNameAndPort(_ port: UInt16, serverUptime: () -> UInt64?) throws(LocateError) -> MysqldProcess {
        let answers = namedServers().map { (pid: $0, listens: listens(pid: $0, port: port)) }
        let proven = answers.filter { $0.listens == .yes }.map(\.pid)
        if proven.count == 1 {
            return MysqldProcess(pid: proven[0])
        }
        if proven.count > 1 { throw .ambiguous(pids: proven.sorted(), port: port) }
        let unverifiable = answers.filter { $0.listens == .unknown }.map(\.pid)
        if unverifiable.count == 1 {
            return MysqldProcess(pid: unverifiable[0])
        }
        if unverifiable.count > 1 {
            // Processes sharing a network namespace all show the same listener. Without their
            // descriptors, the one whose age (world-readable /proc/<pid>/stat) agrees with the
            // server's own Uptime, within 2 s, is it, if it alone does.
            if let serverUptime = serverUptime() {
                let agreeing = unverifiable.filter { pid in
                    proc.processAge(pid: pid).map { abs($0 - Double(serverUptime)) <= 2 } ?? false
                }
                if agreeing.count == 1 {
                    return MysqldProcess(pid: agreeing[0])
                }
            }
            throw .ambiguous(pids: unverifiable.sorted(), port: port)
        }
        throw .notFound(why: "no process owns the server end of myconn's connection in this network namespace, and no mysqld/mariadbd process listens on port \(port)")
    }
}
