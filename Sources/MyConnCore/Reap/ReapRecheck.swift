import LinuxKernel
import MySQLSessions
import ProcFS
import SocketModel

/// What `reap` re-reads of a session at the moment of acting (``MySQLConnection`` is the real one).
public protocol ReapLookup: SessionLookup {
    func transactionAges(_ ids: [UInt64]?) throws(MySQLError) -> [UInt64: Int64]
    /// Every session's HOST, by id.
    func hosts() throws(MySQLError) -> [UInt64: String]
}

extension MySQLConnection: ReapLookup {}

/// An action of `reap`'s: the inner method (kill, close, probe), acting only on the victims that
/// are, at the moment of acting, still the sessions the snapshot showed (same id, user and
/// command; for socket actions and socket rules the same fd, inode and cookie) and that still
/// match the rules on what is read then. The others are refused as `changed: …`, nothing done.
/// The inner method then re-verifies its own part again, as it does for every front end.
public struct Rechecked<Inner: ActionMethod>: ActionMethod {
    public typealias Detail = Inner.Detail

    public var inner: Inner
    public var rules: ReapRules
    /// The victims of the cycle, by target identity.
    public var victims: [ActionTarget.Identity: ReapCandidate]
    /// nil in kernel-only mode.
    public var lookup: (any ReapLookup)?
    /// The inner method acts on the socket: re-read it even when no rule looks at it.
    public var socketAction: Bool
    /// `--idle` of the snapshot, for the `idle` zombie class.
    public var idleSeconds: Int64?
    /// Called with the targets just before they are re-verified: a test's way to change the
    /// world between the snapshot and the act.
    public var beforeRecheck: (([ActionTarget]) -> Void)?

    public init(inner: Inner, rules: ReapRules, victims: [ActionTarget.Identity: ReapCandidate], lookup: (any ReapLookup)?,
                socketAction: Bool, idleSeconds: Int64?, beforeRecheck: (([ActionTarget]) -> Void)? = nil) {
        self.inner = inner
        self.rules = rules
        self.victims = victims
        self.lookup = lookup
        self.socketAction = socketAction
        self.idleSeconds = idleSeconds
        self.beforeRecheck = beforeRecheck
    }

    public var action: String { inner.action }
    public var method: String { inner.method }
    public var noDetail: Detail { inner.noDetail }
    public var recordsTransport: Bool { inner.recordsTransport }

    public func preflight(_ targets: [ActionTarget]) throws(MethodUnavailable) { try inner.preflight(targets) }

    public func verify(_ targets: [ActionTarget], proc: ProcReader) -> [ActionResult?] {
        let checks = recheck(targets).results
        let ok = targets.indices.filter { checks[$0] == nil }
        let more = inner.verify(ok.map { targets[$0] }, proc: proc)
        var out = checks
        if !more.isEmpty { for (k, i) in ok.enumerated() { out[i] = more[k] } }
        return out
    }

    public func act(_ targets: [ActionTarget], context: ActionContext) throws(MethodUnavailable) -> [ActionStep<Detail>] {
        let (checks, rows) = recheck(targets)
        var steps = checks.map { ActionStep($0 ?? .done, inner.noDetail) }
        let ok = targets.indices.filter { checks[$0] == nil }
        guard !ok.isEmpty else { return steps }
        // The inner method gets the rows as just read (kill-query's QUERY_ID is the statement
        // re-verified now, not the snapshot's).
        let fresh = ok.map { i -> ActionTarget in
            var t = targets[i]
            if let id = t.session?.id, let now = rows?[id] { t.session = now }
            return t
        }
        do {
            let done = try inner.act(fresh, context: context)
            for (k, i) in ok.enumerated() { steps[i] = done[k] }
        } catch {
            // Nothing could be done for the survivors; the refused ones stay refused.
            guard ok.count < targets.count else { throw error }
            for i in ok { steps[i] = ActionStep(.failed(error.message), inner.noDetail) }
        }
        return steps
    }

    public func goal(after step: ActionStep<Detail>, target: ActionTarget) -> WaitGoal { inner.goal(after: step, target: target) }

    public func writeFields(of outcome: ActionOutcome<Detail>, to w: JSONWriter) { inner.writeFields(of: outcome, to: w) }

    /// nil for each target that is still its victim, else why not (`changed: …`); and the
    /// sessions' rows as read now.
    func recheck(_ targets: [ActionTarget]) -> (results: [ActionResult?], rows: [UInt64: ProcessListRow]?) {
        beforeRecheck?(targets)
        let ids = targets.compactMap { $0.session?.id }
        var rows: [UInt64: ProcessListRow]?
        var ages: [UInt64: Int64] = [:]
        var owners: [UInt64: String]?
        if let lookup {
            do throws(MySQLError) {
                if !ids.isEmpty {
                    rows = Dictionary(try lookup.sessions(ids).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
                    if rules.needsTransactions { ages = try lookup.transactionAges(ids) }
                }
                // A socket without a session in the snapshot may have one now (a client that
                // logged in while the snapshot was read): look for its peer among the sessions.
                if targets.contains(where: { $0.session == nil }) { owners = try lookup.hosts() }
            } catch {
                return (targets.map { _ in .refused("cannot re-verify: \(error)") }, nil)
            }
        }
        return (targets.map { check($0, rows: rows, ages: ages, owners: owners) }, rows)
    }

    private func check(_ t: ActionTarget, rows: [UInt64: ProcessListRow]?, ages: [UInt64: Int64], owners: [UInt64: String]?) -> ActionResult? {
        guard var c = victims[t.identity] else { return .refused("not a victim of this cycle") }
        if t.session != nil && rows == nil { return .refused("cannot re-verify the session: no SQL") }
        if t.session == nil, let owners, let peer = t.socket?.peer {
            for (id, host) in owners {
                if case .tcp(let a) = SessionEndpoint(host: host), a.normalized == peer.normalized {
                    return .refused("changed: the socket of \(peer.description) belongs to session \(id) now")
                }
            }
        }
        if rules.readsSocket && t.socket == nil { return .refused("cannot re-verify the socket rule: the session's fd is not known") }
        if let was = t.session, var s = c.session, let rows {
            guard let now = rows[was.id] else { return .refused("changed: session \(was.id) ended") }
            if now.user != was.user {
                return .refused("changed: session \(was.id) is user \(now.user ?? "NULL") now, not \(was.user ?? "NULL")")
            }
            if now.command != was.command {
                return .refused("changed: session \(was.id) is \(now.command ?? "NULL") now, not \(was.command ?? "NULL")")
            }
            s.row = now
            c.session = s
            if rules.needsTransactions { c.transactionSeconds = ages[was.id] }
        }
        if let ref = t.socket, socketAction || rules.readsSocket {
            switch Self.socketNow(ref) {
            case .failure(let why): return why
            case .success(let health):
                if var s = c.session, var k = s.socket {
                    k.health = health ?? k.health
                    k.tcpState = health?.state ?? k.tcpState
                    s.socket = k
                    var z = ZombieRules.classes(of: s, idleSeconds: idleSeconds)
                    if s.zombie.contains(.orphanSession) && !z.contains(.orphanSession) { z.append(.orphanSession) }
                    s.zombie = z.sorted()
                    c.session = s
                } else if var k = c.orphanSocket {
                    let kept = (k.zombie ?? []).filter { $0 == .orphanSocket }
                    k.health = health ?? k.health
                    k.tcpState = health?.state ?? k.tcpState
                    k.zombie = (kept + ZombieRules.socketClasses(state: k.tcpState, health: k.health)).sorted()
                    c.orphanSocket = k
                }
            }
        } else if var s = c.session, rules.selection.classes?.contains(.idle) == true {
            s.zombie = ZombieRules.classes(of: s, idleSeconds: idleSeconds).filter { $0 == .idle || s.zombie.contains($0) }
            c.session = s
        }
        guard rules.reasons(c) != nil else { return .refused("changed: no longer matches the rules") }
        return nil
    }

    /// The socket behind mysqld's fd now: the same inode and cookie, with fresh tcp_info (nil
    /// for a unix socket).
    static func socketNow(_ ref: SocketRef) -> Result<TCPHealth?, ActionResult> {
        let dup: OwnedDescriptor
        do { dup = try Pidfd(pid: ref.pid).duplicate(ref.fd) } catch {
            if error == .badFileDescriptor { return .failure(.refused("changed: fd \(ref.fd) is closed")) }
            return .failure(.refused("cannot re-verify fd \(ref.fd) (pidfd_getfd: \(error))"))
        }
        guard let inode = try? inodeOf(fd: dup.fd) else { return .failure(.refused("cannot re-verify fd \(ref.fd): not a socket")) }
        guard inode == ref.inode else {
            return .failure(.refused("changed: fd \(ref.fd) is socket inode \(inode) now, not \(ref.inode)"))
        }
        if let cookie = ref.cookie, let now = try? socketCookie(fd: dup.fd), now != cookie {
            return .failure(.refused("changed: socket inode \(ref.inode) has another cookie"))
        }
        guard ref.transport != .unix else { return .success(nil) }
        guard let health = try? TCPHealth.read(fd: dup.fd) else { return .failure(.refused("cannot re-read fd \(ref.fd)'s tcp_info")) }
        return .success(health)
    }
}

extension ReapRules {
    /// Whether a rule reads the socket's TCP state or tcp_info, which the act re-reads.
    var readsSocket: Bool {
        idleSinceReceive != nil
            || (selection.classes.map { !Set($0).isDisjoint(with: [.clientGone, .peerUnreachable]) } ?? false)
    }
}
