#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import LinuxKernel
import ProcFS

/// A fault's own part of one target's outcome: where it lives and until when.
public struct FaultDetail: Sendable, Equatable {
    public var id: Int?
    /// Seconds since the epoch when the kernel drops it; nil: until healed.
    public var until: Int64?
    /// `inet input#7`, `netdev egress_1#9`: each rule of ours, by family, chain and handle.
    public var rules: [String] = []
    /// mysqld's network namespace (`net:[...]`).
    public var namespace: String?

    public init(id: Int? = nil, until: Int64? = nil, rules: [String] = [], namespace: String? = nil) {
        self.id = id
        self.until = until
        self.rules = rules
        self.namespace = namespace
    }
}

/// `myconn fault --blackhole|--loss|--rate`: an nftables fault on each target's own 4-tuple, in
/// mysqld's network namespace. At the moment of acting the socket is duplicated from mysqld
/// (pidfd) and checked: the same inode, the same peer, ESTABLISHED, and its cookie read. The
/// duplicate is held until the rules are in, so the 4-tuple cannot pass to another connection
/// in between; the rules are made from that socket's own addresses, not from the snapshot's.
public struct FaultInjection: ActionMethod {
    public var kind: FaultKind
    public var direction: FaultDirection
    /// `--for`: the kernel drops the fault after this many seconds; nil: until healed.
    public var seconds: Double?

    public init(kind: FaultKind, direction: FaultDirection, seconds: Double?) {
        self.kind = kind
        self.direction = direction
        self.seconds = seconds
    }

    public var action: String { "fault" }
    public var method: String { kind.name }
    public var noDetail: FaultDetail { FaultDetail() }
    public var recordsTransport: Bool { true }

    public func preflight(_ targets: [ActionTarget]) throws(MethodUnavailable) {
        for pid in Set(targets.compactMap { $0.socket?.pid }) {
            do { _ = try FaultTable(pid: pid).list() } catch {
                throw .nftables("\(error.message): faults need root (or CAP_NET_ADMIN in mysqld's network namespace)")
            }
        }
    }

    public func verify(_ targets: [ActionTarget], proc: ProcReader) -> [ActionResult?] {
        targets.map { t in
            if case .failure(let why) = Self.check(t) { return why }
            return nil
        }
    }

    /// The target's socket duplicated and proven, with the connection read from it.
    static func check(_ t: ActionTarget) -> Result<(OwnedDescriptor, FaultConnection), ActionResult> {
        guard let ref = t.socket else { return .failure(.refused("no socket: a fault needs the session's TCP connection")) }
        guard ref.transport != .unix else { return .failure(.refused("a unix socket: there is no network to fault")) }
        let dup: OwnedDescriptor
        do { dup = try Pidfd(pid: ref.pid).duplicate(ref.fd) } catch {
            return .failure(.refused("fd \(ref.fd) could not be duplicated with pidfd_getfd (\(error)); nothing changed"))
        }
        guard (try? inodeOf(fd: dup.fd)) == ref.inode else {
            return .failure(.refused("fd \(ref.fd) is no longer socket inode \(ref.inode); nothing changed"))
        }
        guard case .inet(let local, let peer)? = try? SocketEndpoints(fd: dup.fd), peer.normalized == ref.peer?.normalized else {
            return .failure(.refused("socket inode \(ref.inode) no longer has peer \(ref.peer?.description ?? "?"); nothing changed"))
        }
        guard let info = try? TCPHealth.read(fd: dup.fd), info.state == .established else {
            return .failure(.refused("the connection is not ESTABLISHED any more; nothing changed"))
        }
        guard let cookie = try? socketCookie(fd: dup.fd), ref.cookie == nil || ref.cookie == cookie else {
            return .failure(.refused("socket inode \(ref.inode) has another cookie than the one listed; nothing changed"))
        }
        return .success((dup, FaultConnection(server: local, client: peer, inode: ref.inode, cookie: cookie)))
    }

    public func act(_ targets: [ActionTarget], context: ActionContext) throws(MethodUnavailable) -> [ActionStep<FaultDetail>] {
        targets.map { t in
            let (dup, conn): (OwnedDescriptor, FaultConnection)
            switch Self.check(t) {
            case .failure(let why): return ActionStep(why, FaultDetail())
            case .success(let ok): (dup, conn) = ok
            }
            let table = FaultTable(pid: t.socket!.pid)
            let now = Int64(time(nil))
            let until = seconds.map { now + Int64($0.rounded(.up)) }
            let (kind, direction, session, pid) = (self.kind, self.direction, t.session?.id, t.socket!.pid)
            do throws(FaultError) {
                let added = try table.add(seconds: seconds) { id in
                    FaultRecord(id: id, mysqldPID: pid, session: session, connection: conn, kind: kind, direction: direction, created: now, until: until)
                }
                withExtendedLifetime(dup) {}  // held until the rules are in
                return ActionStep(.done, FaultDetail(id: added.record.id, until: until,
                                                     rules: added.rules.map(\.label), namespace: table.namespace))
            } catch {
                return ActionStep(.failed(error.message), FaultDetail())
            }
        }
    }

    public func goal(after step: ActionStep<FaultDetail>, target: ActionTarget) -> WaitGoal { [] }

    public func writeFields(of o: ActionOutcome<FaultDetail>, to w: JSONWriter) {
        w.field("outcome", o.result.name)
        w.field("message", o.result.message)
        w.field("fault", kind.token)
        w.field("direction", direction.rawValue)
        w.field("fault_id", o.detail.id.map(Int64.init))
        w.field("until", o.detail.until)
        w.field("namespace", o.detail.namespace)
        w.key("rules")
        w.array(o.detail.rules) { w.string($0) }
    }
}
