#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import LinuxKernel
import ProcFS
import SockDiag

/// mysqld's network and pid namespaces beside ours, read once from `/proc/<pid>/ns/`
/// (`namespaces(7)`): whether addresses and thread ids it reports mean the same here, and the
/// one way to open sock_diag where its sockets are.
public struct MysqldNamespaces: Sendable {
    public let pid: Int32
    public let proc: ProcReader
    /// The namespace links (`net:[4026531840]`) of mysqld and of this process; nil where unreadable.
    let links: [NamespaceKind: String]
    let ownLinks: [NamespaceKind: String]

    /// Reads the links of `pid` and of `ownPID` (this process) through `proc`.
    public init(pid: Int32, proc: ProcReader = ProcReader(), ownPID: Int32 = getpid()) {
        self.pid = pid
        self.proc = proc
        var links: [NamespaceKind: String] = [:], own: [NamespaceKind: String] = [:]
        for kind in NamespaceKind.allCases {
            links[kind] = try? proc.namespaceLink(pid: pid, kind)
            own[kind] = try? proc.namespaceLink(pid: ownPID, kind)
        }
        self.links = links
        ownLinks = own
    }

    /// Whether mysqld shares our network namespace (its addresses are ours); nil when unknown.
    public var sameNetwork: Bool? { same(.net) }

    /// Whether mysqld shares our pid namespace (the thread ids it reports are ours); nil when unknown.
    public var samePID: Bool? { same(.pid) }

    func same(_ kind: NamespaceKind) -> Bool? {
        guard let mine = ownLinks[kind], let theirs = links[kind] else { return nil }
        return mine == theirs
    }

    /// A sock_diag client in mysqld's network namespace: a plain socket when that namespace is
    /// ours, else one opened by a thread that `setns`es there. For the kernel snapshot, the
    /// client lookup and SOCK_DESTROY.
    public func openSockDiag() -> Result<SockDiagClient, NetlinkUnavailable> {
        let path = proc.namespacePath(pid: pid, .net)
        guard links[.net] != nil else {
            return .failure(NetlinkUnavailable(reason: "mysqld's network namespace is not readable (\(path): run as root or with CAP_SYS_PTRACE)"))
        }
        do {
            let socket = try SockDiagSocket(namespacePath: sameNetwork == true ? nil : path.string)
            return .success(SockDiagClient(transport: socket))
        } catch {
            return .failure(NetlinkUnavailable(reason: "cannot open a sock_diag socket in mysqld's network namespace: \(error)"))
        }
    }
}

/// Why sock_diag could not be used: the namespace, the socket, or a dump failed.
public struct NetlinkUnavailable: Error, Sendable {
    public var reason: String
}
