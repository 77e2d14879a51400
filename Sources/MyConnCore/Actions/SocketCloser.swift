#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import LinuxKernel
import ProcFS
import SockDiag
import SyscallInjector
import SystemPackage

/// Runs one method over targets of one mysqld, re-verifying each target at the moment of acting.
public struct SocketCloser {
    public var proc: ProcReader

    public init(proc: ProcReader = ProcReader()) {
        self.proc = proc
    }

    /// Whether `method` can act on these targets here, checked before anything is shown or
    /// touched (the acting path checks again).
    public func preflight(_ targets: [SocketRef], method: CloseMethod) throws(MethodUnavailable) {
        guard let pid = targets.first?.pid else { return }
        switch method {
        case .destroy:
            if let unix = targets.first(where: { $0.transport == .unix }) {
                throw .destroy("SOCK_DESTROY works on TCP sockets only; fd \(unix.fd) is a unix socket: use --method pidfd or ptrace")
            }
        case .ptrace:
            if let tracer = InjectedThread.tracerPID(pid: pid, tid: pid, proc: proc), tracer != 0 {
                throw alreadyTraced(tid: pid, tracer: tracer)
            }
        case .pidfd:
            do {
                _ = try Pidfd(pid: pid)
            } catch {
                throw .pidfd("pidfd_open(\(pid)) failed: \(error)")
            }
        }
    }

    /// The seed's bare `close(fd)`, injected while every mysqld thread is stopped (in the
    /// ptrace helper, ``PtraceJob/rawClose(_:)``): only on explicit request.
    public func rawClose(_ targets: [SocketRef]) throws(MethodUnavailable) -> [ActionStep<CutDetail>] {
        guard let pid = targets.first?.pid else { return [] }
        try preflight(targets, method: .ptrace)
        return try PtraceHelper.run(pid: pid, mode: .close, targets: targets, proc: proc)
    }

    public func close(_ targets: [SocketRef], method: CloseMethod) throws(MethodUnavailable) -> [ActionStep<CutDetail>] {
        guard let pid = targets.first?.pid else { return [] }
        precondition(targets.allSatisfy { $0.pid == pid }, "one mysqld per batch")
        switch method {
        case .pidfd: return try viaPidfd(targets, pid: pid)
        case .destroy: return try viaDestroy(targets, pid: pid)
        case .ptrace: return try viaPtrace(targets, pid: pid)
        }
    }

    func viaPidfd(_ targets: [SocketRef], pid: Int32) throws(MethodUnavailable) -> [ActionStep<CutDetail>] {
        let pidfd: Pidfd
        do {
            pidfd = try Pidfd(pid: pid)
        } catch {
            throw .pidfd("pidfd_open(\(pid)) failed: \(error)")
        }
        return targets.map { t in
            let dup: OwnedDescriptor
            do {
                dup = try pidfd.duplicate(t.fd)
            } catch .badFileDescriptor {
                return ActionStep(.refused("fd \(t.fd) is closed now"), CutDetail())
            } catch {
                return ActionStep(.failed("pidfd_getfd(fd \(t.fd)) failed: \(error)"), CutDetail())
            }
            guard let inode = try? inodeOf(fd: dup.fd), inode == t.inode else {
                return ActionStep(.refused("fd \(t.fd) is no longer socket inode \(t.inode)"), CutDetail())
            }
            guard shutdown(dup.fd, Int32(SHUT_RDWR)) == 0 else {
                return ActionStep(.failed("shutdown failed: \(Errno(rawValue: errno))"), CutDetail())
            }
            return ActionStep(.done, CutDetail())
        }
    }

    func viaDestroy(_ targets: [SocketRef], pid: Int32) throws(MethodUnavailable) -> [ActionStep<CutDetail>] {
        try preflight(targets, method: .destroy)
        let diag: SockDiagClient
        switch MysqldNamespaces(pid: pid, proc: proc).openSockDiag() {
        case .success(let d): diag = d
        case .failure(let e): throw .destroy(e.reason)
        }
        var outcomes: [ActionStep<CutDetail>] = []
        for t in targets {
            let family = t.transport == .tcp4 ? InetDiag.afInet : InetDiag.afInet6
            guard let port = t.local?.address?.port else {
                outcomes.append(ActionStep(.failed("no local port"), CutDetail()))
                continue
            }
            // The socket's kernel identity (cookie included) from a fresh dump; its inode must
            // still be the target's, and mysqld must still hold it at the same fd.
            let found: InetDiag.DiagSocket?
            do {
                found = try diag.dumpSockets(family: family, states: InetDiag.allButListen, sourcePort: port)
                    .first { $0.entry.inode == t.inode }
            } catch {
                outcomes.append(ActionStep(.failed("sock_diag dump failed: \(error)"), CutDetail()))
                continue
            }
            guard let found, (try? proc.fdTarget(pid: pid, fd: t.fd)) == .socket(inode: t.inode) else {
                outcomes.append(ActionStep(.refused("socket inode \(t.inode) is no longer at fd \(t.fd)"), CutDetail()))
                continue
            }
            // The kernel's own identity, where the join saw it: the same socket object, not one
            // that reuses its inode number.
            if let cookie = t.cookie, found.entry.cookie != cookie {
                outcomes.append(ActionStep(.refused("socket inode \(t.inode) has another sock_diag cookie now"), CutDetail()))
                continue
            }
            switch Result(catching: { () throws(SockDiagClient.DumpError) in try diag.destroy(found) }) {
            case .success(let errno):
                outcomes.append(ActionStep(try Self.destroyResult(errno: errno), CutDetail()))
            case .failure(let e):
                outcomes.append(ActionStep(.failed("SOCK_DESTROY: \(e)"), CutDetail()))
            }
        }
        return outcomes
    }

    func alreadyTraced(tid: Int32, tracer: Int32) -> MethodUnavailable {
        PtraceJob(pid: tid, proc: proc).alreadyTraced(tid: tid, tracer: tracer)
    }

    /// The hold of mysqld's thread runs in a helper process (``PtraceHelper``), so that a
    /// SIGKILL of myconn cannot leave the thread with injected registers.
    func viaPtrace(_ targets: [SocketRef], pid: Int32) throws(MethodUnavailable) -> [ActionStep<CutDetail>] {
        try PtraceHelper.run(pid: pid, mode: .shutdown, targets: targets, proc: proc)
    }

    /// What the kernel's answer to SOCK_DESTROY means: nil is done; EOPNOTSUPP means this kernel
    /// cannot do it at all (no CONFIG_INET_DIAG_DESTROY), so nothing else is tried either.
    static func destroyResult(errno: Int32?) throws(MethodUnavailable) -> ActionResult {
        switch errno {
        case nil: return .done
        case EOPNOTSUPP?:
            throw .destroy("this kernel has no SOCK_DESTROY (CONFIG_INET_DIAG_DESTROY): use --method pidfd or ptrace")
        case ENOENT?: return .refused("the socket is already gone")
        case EPERM?: return .failed("SOCK_DESTROY not permitted: needs CAP_NET_ADMIN in mysqld's network namespace")
        case let e?: return .failed("SOCK_DESTROY: \(Errno(rawValue: e))")
        }
    }

}
