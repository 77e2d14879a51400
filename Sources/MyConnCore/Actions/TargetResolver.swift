import MySQLSessions
import ProcFS

/// Why a target cannot be acted on. Raised before anything is touched.
public enum TargetError: Error, Equatable, Sendable {
    case unknownSession(UInt64)
    /// Not in the processlist of a user without PROCESS, which shows only that user's own
    /// sessions: it may exist.
    case unseenSession(UInt64)
    case ownConnection(UInt64)
    case notProven(UInt64, String)
    case fdNotSocket(fd: Int32, pid: Int32)
    case fdMissing(fd: Int32, pid: Int32)
    case notAConnection(fd: Int32, pid: Int32)
    case peerNotFound(SocketAddress)
    case peerAmbiguous(SocketAddress, count: Int)
    case notMysqld(pid: Int32, comm: String)
    /// `--pid` names a thread of process `leader`, not a process.
    case notProcess(pid: Int32, leader: Int32, comm: String)
    /// `--pid` holds no listening socket: not a serving mysqld.
    case noListener(pid: Int32, comm: String)
    case processGone(pid: Int32)
    case kernel(ProcError)
    case sql(MySQLError)
}

extension TargetError {
    /// A `--pid` that ``MysqldLocator/verify(pid:force:)`` refused, in the words of targets.
    init(_ error: LocateError) {
        switch error {
        case .processGone(let pid): self = .processGone(pid: pid)
        case .notNamedServer(let pid, let comm): self = .notMysqld(pid: pid, comm: comm)
        case .notThreadGroupLeader(let pid, let leader, let comm):
            self = .notProcess(pid: pid, leader: leader, comm: comm)
        case .notMysqld(let pid, let comm, _): self = .noListener(pid: pid, comm: comm)
        case .notFound, .ambiguous, .behindProxy: self = .notMysqld(pid: 0, comm: "?")
        case .notServer(let pid, let comm): self = .notMysqld(pid: pid, comm: comm)
        }
    }
}

/// Turns what the user named (session ids, zombie classes, or mysqld's pid with peers and
/// descriptors) into proven targets. Each result is deduplicated by the pipeline.
public enum TargetResolver {
    /// Targets for session ids, from a `list` report (the same join and proofs).
    public static func fromSessions(_ ids: [UInt64], report: ListReport, selfID: UInt64?) throws(TargetError) -> [ActionTarget] {
        guard let pid = report.server.pid else { throw .notMysqld(pid: 0, comm: "?") }
        var out: [ActionTarget] = []
        for id in ids {
            if id == selfID { throw .ownConnection(id) }
            guard let s = report.sessions.first(where: { $0.row.id == id }) else {
                throw report.completeProcessList ? .unknownSession(id) : .unseenSession(id)
            }
            guard let ref = s.socket?.reference(pid: pid) else {
                throw .notProven(id, s.unresolved ?? "no client socket")
            }
            out.append(ActionTarget(session: s.row, socket: ref))
        }
        return out
    }

    /// Targets for an action on sessions alone (`kill`): each id must be a session of this server
    /// other than myconn's own; in the order given.
    public static func sessions(_ ids: [UInt64], on server: some SessionSource & SessionLookup) throws(TargetError) -> [ActionTarget] {
        let rows: [ProcessListRow]
        let facts: ServerFacts
        do {
            facts = try server.serverFacts()
            rows = try server.sessions(ids)
        } catch {
            throw .sql(error)
        }
        if let own = ids.first(where: { $0 == facts.connectionID }) { throw .ownConnection(own) }
        return try ids.map { id throws(TargetError) in
            guard let row = rows.first(where: { $0.id == id }) else {
                throw facts.hasProcessPrivilege ? .unknownSession(id) : .unseenSession(id)
            }
            return ActionTarget(session: row, socket: nil)
        }
    }

    /// Targets for zombie classes: sessions of those classes with a proven socket, and sockets
    /// without a session of those classes. Sessions whose socket is not proven are returned as
    /// skipped, with the reason (an orphan session has no socket to cut: `kill` it).
    public static func fromZombies(_ classes: [ZombieClass], report: ListReport)
        -> (targets: [ActionTarget], skipped: [(id: UInt64, why: String)]) {
        fromSelection(SessionSelection(classes: classes), report: report)
    }

    /// Targets for a selection (zombie classes and matchers, all holding): the selected sessions
    /// with a proven socket, and the selected sockets without a session; sessions without a
    /// proven socket come back as skipped, with the reason.
    public static func fromSelection(_ selection: SessionSelection, report: ListReport, programs: [UInt64: String] = [:])
        -> (targets: [ActionTarget], skipped: [(id: UInt64, why: String)]) {
        guard let pid = report.server.pid else { return ([], []) }
        let (sessions, sockets) = selection.select(report, programs: programs)
        var targets: [ActionTarget] = []
        var skipped: [(UInt64, String)] = []
        for s in sessions {
            if let ref = s.socket?.reference(pid: pid) {
                targets.append(ActionTarget(session: s.row, socket: ref))
            } else {
                skipped.append((s.row.id, s.unresolved ?? "no socket"))
            }
        }
        for socket in sockets { if let ref = socket.reference(pid: pid) { targets.append(ActionTarget(session: nil, socket: ref)) } }
        return (targets, skipped)
    }

    /// Targets from the kernel alone (no SQL): by peer address and/or fd of a given mysqld pid.
    /// `force` accepts a process not named mysqld/mariadbd.
    public static func fromKernel(pid: Int32, peers: [SocketAddress], fds: [Int32], force: Bool,
                                  proc: ProcReader = ProcReader(), source: KernelSource) throws(TargetError) -> [ActionTarget] {
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
        func target(_ view: SocketView) -> ActionTarget { ActionTarget(session: nil, socket: view.reference(pid: pid)) }
        var out: [ActionTarget] = []
        for peer in peers {
            let found = connected.filter { $0.peer.normalized == peer.normalized && listeners.contains($0.local.port) }
            guard !found.isEmpty else { throw .peerNotFound(peer) }
            guard found.count == 1, let fd = fdByInode[found[0].inode] else { throw .peerAmbiguous(peer, count: found.count) }
            out.append(target(SocketView(tcp: found[0], fd: fd)))
        }
        for fd in fds {
            guard let entry = table[fd] else { throw .fdMissing(fd: fd, pid: pid) }
            guard let inode = entry.socketInode else { throw .fdNotSocket(fd: fd, pid: pid) }
            if let e = connected.first(where: { $0.inode == inode }) {
                out.append(target(SocketView(tcp: e, fd: fd)))
            } else if let u = kernel.unix.first(where: { $0.inode == inode && $0.isConnectedStream }) {
                out.append(target(SocketView(unix: u, fd: fd)))
            } else {
                throw .notAConnection(fd: fd, pid: pid)
            }
        }
        return out
    }
}
