import MySQLSessions
import ProcFS

/// How a socket inside mysqld is cut. None frees a descriptor number mysqld still owns
/// (docs/facts.md section 2): mysqld's thread sees EOF or an error and closes its own fd.
public enum CloseMethod: String, Sendable, CaseIterable {
    /// Stop one mysqld thread, inject `M = dup(fd)`, check `/proc/<pid>/fd/M`, `shutdown(M)`, and
    /// `close(M)` once at the end (several targets reuse M through `dup3`).
    case ptrace
    /// `pidfd_getfd` the socket into myconn, check its inode, `shutdown` it. Nothing is stopped.
    case pidfd
    /// SOCK_DESTROY over sock_diag in mysqld's network namespace (the client sees RST). TCP only.
    case destroy
}

/// A close's own part of one target's outcome.
public struct CutDetail: Sendable, Equatable {
    /// How long mysqld's thread was stopped (ptrace), shared by a batch.
    public var freezeNanoseconds: UInt64?
    /// Of that, how long the injected thread held registers not its own (ptrace; shared by a
    /// batch): the window a SIGKILL of myconn must not fall in (README, "kill and close").
    public var injectedNanoseconds: UInt64?
    /// `--kill-after`: whether KILL CONNECTION was sent after the cut (nil: not asked, or not cut).
    public var killSent: Bool?

    public init(freezeNanoseconds: UInt64? = nil, killSent: Bool? = nil) {
        self.freezeNanoseconds = freezeNanoseconds
        self.killSent = killSent
    }
}

/// Ends sessions by SQL; ``MySQLConnection`` is the real one.
public protocol SessionKiller {
    func kill(_ id: UInt64, queryOnly: Bool) throws(MySQLError)
    /// Ends statement `queryID` of session `id` and no later one (MariaDB's `KILL QUERY ID`).
    func killStatement(_ id: UInt64, queryID: UInt64) throws(MySQLError)
}

extension SessionKiller {
    /// Without a statement-exact KILL: the session's statement, whichever it is now.
    public func killStatement(_ id: UInt64, queryID: UInt64) throws(MySQLError) { try kill(id, queryOnly: true) }
}

extension MySQLConnection: SessionKiller {
    public func killStatement(_ id: UInt64, queryID: UInt64) throws(MySQLError) { try killStatement(queryID: queryID) }
}

/// `myconn close`: cut each target's socket inside mysqld (``SocketCloser``). With `killAfter`,
/// each cut is followed by `KILL CONNECTION`: the client has already seen a network failure,
/// and the server stops the session's work at once (a session in SLEEP or a lock wait would
/// otherwise go on until it next looks at its socket, holding its locks).
public struct SocketCut: ActionMethod {
    public var how: CloseMethod
    /// The seed's bare close(fd) under a full freeze (`--raw-close`).
    public var rawClose: Bool
    public var killAfter: (any SessionKiller)?
    public var proc: ProcReader

    public init(how: CloseMethod, rawClose: Bool = false, killAfter: (any SessionKiller)? = nil, proc: ProcReader = ProcReader()) {
        self.how = how
        self.rawClose = rawClose
        self.killAfter = killAfter
        self.proc = proc
    }

    public var action: String { "close" }
    public var method: String { rawClose ? "ptrace-raw-close" : how.rawValue }
    public var noDetail: CutDetail { CutDetail() }
    public var recordsTransport: Bool { true }

    public func preflight(_ targets: [ActionTarget]) throws(MethodUnavailable) {
        try SocketCloser(proc: proc).preflight(targets.compactMap(\.socket), method: rawClose ? .ptrace : how)
    }

    /// A dry run's check: mysqld's descriptor still refers to the target's socket.
    public func verify(_ targets: [ActionTarget], proc: ProcReader) -> [ActionResult?] {
        targets.map { t in
            guard let s = t.socket else { return .refused("no socket to cut") }
            return (try? proc.fdTarget(pid: s.pid, fd: s.fd)) == .socket(inode: s.inode)
                ? nil : .refused("fd \(s.fd) is no longer socket inode \(s.inode)")
        }
    }

    public func act(_ targets: [ActionTarget], context: ActionContext) throws(MethodUnavailable) -> [ActionStep<CutDetail>] {
        let closer = SocketCloser(proc: proc)
        // A target without a socket (a session alone) is refused, the others cut in one batch.
        let withSocket = targets.indices.filter { targets[$0].socket != nil }
        let sockets = withSocket.map { targets[$0].socket! }
        let cut = try rawClose ? closer.rawClose(sockets) : closer.close(sockets, method: how)
        var steps = targets.map { _ in ActionStep(.refused("no socket to cut"), CutDetail()) }
        for (k, i) in withSocket.enumerated() { steps[i] = cut[k] }
        if let killAfter {
            for (i, t) in targets.enumerated() where steps[i].result == .done {
                guard let id = t.session?.id else { continue }
                steps[i].detail.killSent = (try? killAfter.kill(id, queryOnly: false)) != nil
            }
        }
        return steps
    }

    public func goal(after step: ActionStep<CutDetail>, target: ActionTarget) -> WaitGoal {
        step.result == .done ? [.socketGone, .sessionGone] : []
    }

    public func writeFields(of o: ActionOutcome<CutDetail>, to w: JSONWriter) {
        w.field("outcome", o.result.name)
        w.field("message", o.result.message)
        w.field("freeze_us", o.detail.freezeNanoseconds.map { Int64($0 / 1000) })
        w.field("injected_us", o.detail.injectedNanoseconds.map { Int64($0 / 1000) })
        w.field("socket_gone", o.socketGone)
        w.field("session_gone", o.sessionGone)
        w.field("kill_sent", o.detail.killSent)
    }
}
