import LinuxKernel
import ProcFS
import SocketModel
import SockDiag

/// `list --clients`: the processes on this host at the other end of mysqld's connections.
///
/// The other end's socket comes from the kernel, never from an address guess: for a unix-socket
/// connection, unix_diag's peer of mysqld's socket; for TCP, the socket in mysqld's network
/// namespace whose ends are mysqld's mirrored (a sock_diag dump of the client ends: remote port =
/// mysqld's port). Its holders come from every process's `/proc/<pid>/fd`, as `ss -p` finds them,
/// and cost as much: off by default. A client in another network namespace than mysqld (another
/// host, a container on a bridge) has no socket here and gets none; but when mysqld is in a
/// namespace of its own (a container), the ends are also looked for in this host's: there
/// Docker's docker-proxy holds them for a published port, and a warning says the real client is
/// beyond it.
public struct ClientLookup {
    public var proc: ProcReader

    public init(proc: ProcReader = ProcReader()) {
        self.proc = proc
    }

    /// Fills `clients` of every session's and unmatched socket; returns warnings.
    public func attach(to report: inout ListReport, kernel: KernelSnapshot, namespaces: MysqldNamespaces) -> [String] {
        var warnings: [String] = []
        var clientOf: [UInt64: UInt64] = [:]  // server socket inode -> client socket inode
        let views = report.sessions.compactMap(\.socket) + report.unmatchedSockets
        if let peers = kernel.unixPeers {
            for v in views where v.transport == .unix {
                if let inode = v.inode, let p = peers[inode] { clientOf[inode] = p }
            }
        } else {
            warnings.append("client processes of unix-socket connections need unix_diag (sock_diag), not available here")
        }
        var tcpByInode: [UInt64: TCPSocketEntry] = [:]
        for e in kernel.tcp where e.inode != 0 && e.state != .listen { tcpByInode[e.inode] = e }
        let wantedTCP = views.filter { $0.transport != .unix }.compactMap { $0.inode.flatMap { tcpByInode[$0] } }
        if !wantedTCP.isEmpty {
            switch namespaces.openSockDiag() {
            case .failure(let why):
                warnings.append("client processes of TCP connections: \(why.reason)")
            case .success(let diag):
                var clientByEnds: [SocketAddressPair: UInt64] = [:]
                do {
                    clientByEnds = try Self.clientEnds(diag, ports: Set(wantedTCP.map(\.local.port)))
                } catch {
                    warnings.append("client processes of TCP connections: sock_diag dump failed: \(error)")
                }
                for e in wantedTCP {
                    if let c = clientByEnds[SocketAddressPair(e.peer.normalized, e.local.normalized)] { clientOf[e.inode] = c }
                }
            }
        }
        // mysqld in a container reached through a published port: the other end of those
        // sessions is a socket of this host's namespace, Docker's docker-proxy's.
        var fromHere: Set<UInt64> = []
        let unfound = wantedTCP.filter { clientOf[$0.inode] == nil }
        if namespaces.sameNetwork == false, !unfound.isEmpty, let own = try? SockDiagSocket(),
           let here = try? Self.clientEnds(SockDiagClient(transport: own), ports: Set(unfound.map(\.local.port))) {
            for e in unfound {
                if let c = here[SocketAddressPair(e.peer.normalized, e.local.normalized)] {
                    clientOf[e.inode] = c
                    fromHere.insert(c)
                }
            }
        }
        let owners = proc.socketOwners(of: Set(clientOf.values), except: [namespaces.pid])
        let proxies = Set(fromHere.flatMap { owners[$0] ?? [] }.filter { $0.command == "docker-proxy" }.map(\.pid))
        if !proxies.isEmpty {
            let n = fromHere.filter { (owners[$0] ?? []).contains { proxies.contains($0.pid) } }.count
            warnings.append("\(n) session(s) come through docker-proxy (pid \(proxies.sorted().map(String.init).joined(separator: ", "))), Docker's userland proxy of a published port: the client shown is the proxy; the real client is beyond it, and which of the proxy's incoming connections is whose the kernel does not say")
        }
        func fill(_ s: inout SocketView) {
            guard let inode = s.inode, let c = clientOf[inode] else { return }
            s.clients = owners[c] ?? []
        }
        for i in report.sessions.indices where report.sessions[i].socket != nil { fill(&report.sessions[i].socket!) }
        for i in report.unmatchedSockets.indices { fill(&report.unmatchedSockets[i]) }
        report.clientsLookedUp = true
        return warnings
    }
}

extension ClientLookup {
    /// The client ends of connections to `ports` in `diag`'s namespace: (local, remote) -> inode.
    static func clientEnds(_ diag: SockDiagClient, ports: Set<UInt16>) throws(SockDiagClient.DumpError) -> [SocketAddressPair: UInt64] {
        var out: [SocketAddressPair: UInt64] = [:]
        for port in ports.sorted() {
            for family in [InetDiag.afInet, InetDiag.afInet6] {
                for c in try diag.dumpTCP(family: family, states: InetDiag.allButListen, destinationPort: port) where c.inode != 0 {
                    out[SocketAddressPair(c.local.normalized, c.peer.normalized)] = c.inode
                }
            }
        }
        return out
    }
}

/// (local, remote) of one socket, both normalised.
struct SocketAddressPair: Hashable {
    var local: SocketAddress
    var remote: SocketAddress
    init(_ local: SocketAddress, _ remote: SocketAddress) {
        self.local = local
        self.remote = remote
    }
}
