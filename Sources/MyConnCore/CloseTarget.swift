import MySQLSessions
import ProcFS

/// One socket inside mysqld to act on, resolved and proven; re-checked again at the moment of acting.
public struct CloseTarget: Sendable, Equatable {
    public var pid: Int32
    public var fd: Int32
    public var inode: UInt64
    public var socket: SocketView
    /// The session, when the target came from the processlist; nil in kernel-only mode.
    public var session: ProcessListRow?

    public init(pid: Int32, fd: Int32, inode: UInt64, socket: SocketView, session: ProcessListRow?) {
        self.pid = pid
        self.fd = fd
        self.inode = inode
        self.socket = socket
        self.session = session
    }
}

extension CloseTarget {
    /// The session and socket acted on, as JSON fields (close and probe, audit log and `--json`);
    /// `transport` where the action's record has always carried it (close).
    public func writeFields(to w: JSONWriter, transport: Bool) {
        w.field("session_id", session.map { Int64(bitPattern: $0.id) })
        w.field("user", session?.user)
        w.field("host", session?.host)
        w.field("mysqld_pid", Int64(pid))
        w.field("fd", Int64(fd))
        w.field("inode", Int64(bitPattern: inode))
        if transport { w.field("transport", socket.transport.rawValue) }
        w.field("local", socket.local)
        w.field("peer", socket.peer)
    }
}

/// Why a target cannot be acted on. Raised before anything is touched.
public enum TargetError: Error, Equatable, Sendable {
    case unknownSession(UInt64)
    case ownConnection(UInt64)
    case notProven(UInt64, String)
    case fdNotSocket(fd: Int32, pid: Int32)
    case fdMissing(fd: Int32, pid: Int32)
    case notAConnection(fd: Int32, pid: Int32)
    case peerNotFound(String)
    case peerAmbiguous(String, count: Int)
    case notMysqld(pid: Int32, comm: String)
    case processGone(pid: Int32)
    case kernel(ProcError)
}

extension TargetError {
    /// A `--pid` that ``MysqldLocator/verify(pid:force:)`` refused, in the words of targets.
    init(_ error: LocateError) {
        switch error {
        case .processGone(let pid): self = .processGone(pid: pid)
        case .notNamedServer(let pid, let comm): self = .notMysqld(pid: pid, comm: comm)
        case .notThreadGroupLeader(let pid, let leader, let comm):
            self = .notMysqld(pid: pid, comm: "a thread of pid \(leader) (\(comm)): pass --pid \(leader)")
        case .notMysqld(let pid, let comm, _): self = .notMysqld(pid: pid, comm: "\(comm) holding no listening socket")
        case .notFound, .ambiguous: self = .notMysqld(pid: 0, comm: "?")
        }
    }
}

public enum TargetResolver {
    /// Targets for session ids, from a `list` report (the same join and proofs).
    public static func fromSessions(_ ids: [UInt64], report: ListReport, selfID: UInt64?) throws(TargetError) -> [CloseTarget] {
        guard let pid = report.server.pid else { throw .notMysqld(pid: 0, comm: "?") }
        var out: [CloseTarget] = []
        for id in ids {
            if id == selfID { throw .ownConnection(id) }
            guard let s = report.sessions.first(where: { $0.row.id == id }) else { throw .unknownSession(id) }
            guard let socket = s.socket, let fd = socket.fd, let inode = socket.inode else {
                throw .notProven(id, s.unresolved ?? "no client socket")
            }
            out.append(CloseTarget(pid: pid, fd: fd, inode: inode, socket: socket, session: s.row))
        }
        return out
    }

    /// Targets for zombie classes: sessions of those classes with a proven socket, and sockets
    /// without a session of those classes. Sessions whose socket is not proven are returned as
    /// skipped, with the reason (an orphan session has no socket to cut: `kill` it).
    public static func fromZombies(_ classes: [ZombieClass], report: ListReport)
        -> (targets: [CloseTarget], skipped: [(id: UInt64, why: String)]) {
        guard let pid = report.server.pid else { return ([], []) }
        var targets: [CloseTarget] = []
        var skipped: [(UInt64, String)] = []
        for s in report.sessions where !Set(s.zombie).isDisjoint(with: classes) {
            if let socket = s.socket, let fd = socket.fd, let inode = socket.inode {
                targets.append(CloseTarget(pid: pid, fd: fd, inode: inode, socket: socket, session: s.row))
            } else {
                skipped.append((s.row.id, s.unresolved ?? "no socket"))
            }
        }
        for (i, socket) in report.unmatchedSockets.enumerated() {
            guard let zombie = report.unmatchedZombie?[i], !Set(zombie).isDisjoint(with: classes),
                  let fd = socket.fd, let inode = socket.inode else { continue }
            targets.append(CloseTarget(pid: pid, fd: fd, inode: inode, socket: socket, session: nil))
        }
        return (targets, skipped)
    }

    /// Targets from the kernel alone (no SQL): by peer address and/or fd of a given mysqld pid.
    /// `force` accepts a process not named mysqld/mariadbd.
    public static func fromKernel(pid: Int32, peers: [SocketAddress], fds: [Int32], force: Bool,
                                  proc: ProcReader, source: KernelSource) throws(TargetError) -> [CloseTarget] {
        let locator = MysqldLocator(proc: proc)
        do {
            _ = try locator.verify(pid: pid, force: force)
        } catch {
            throw TargetError(error)
        }
        let kernel: KernelSnapshot
        do {
            kernel = try KernelSnapshot.read(pid: pid, proc: proc, source: source, serverPort: 0)
        } catch {
            throw .kernel(error)
        }
        guard let table = kernel.fds else { throw .kernel(kernel.fdError ?? .permissionDenied(path: proc.path(pid, "fd").string)) }
        do { try locator.requireListener(pid: pid, kernel: kernel, port: nil) } catch { throw TargetError(error) }
        let fdByInode = kernel.fdBySocketInode()
        let listeners = Set(kernel.tcp.filter { $0.state == .listen && fdByInode[$0.inode] != nil }.map(\.local.port))
        let connected = kernel.tcp.filter { $0.state != .listen && $0.inode != 0 && fdByInode[$0.inode] != nil }
        var out: [CloseTarget] = []
        for peer in peers {
            let found = connected.filter { $0.peer.normalized == peer.normalized && listeners.contains($0.local.port) }
            guard !found.isEmpty else { throw .peerNotFound(peer.description) }
            guard found.count == 1, let fd = fdByInode[found[0].inode] else { throw .peerAmbiguous(peer.description, count: found.count) }
            out.append(CloseTarget(pid: pid, fd: fd, inode: found[0].inode, socket: SocketView(tcp: found[0], fd: fd), session: nil))
        }
        for fd in fds {
            guard let target = table[fd] else { throw .fdMissing(fd: fd, pid: pid) }
            guard let inode = target.socketInode else { throw .fdNotSocket(fd: fd, pid: pid) }
            if let e = connected.first(where: { $0.inode == inode }) {
                out.append(CloseTarget(pid: pid, fd: fd, inode: inode, socket: SocketView(tcp: e, fd: fd), session: nil))
            } else if let u = kernel.unix.first(where: { $0.inode == inode && $0.isConnectedStream }) {
                out.append(CloseTarget(pid: pid, fd: fd, inode: inode, socket: SocketView(unix: u, fd: fd), session: nil))
            } else {
                throw .notAConnection(fd: fd, pid: pid)
            }
        }
        return out
    }
}
