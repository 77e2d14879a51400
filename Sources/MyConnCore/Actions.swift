#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import MySQLSessions
import ProcFS
import SystemPackage

/// `myconn close`: dry run or act, watch the outcome, audit every target.
public struct CloseRunner {
    public var proc: ProcReader
    public var method: CloseMethod
    public var dryRun: Bool
    /// How long to watch for the socket (and the session) to go.
    public var waitSeconds: Double
    public var audit: AuditLog
    /// The seed's bare close(fd) under a full freeze (`--raw-close`).
    public var rawClose: Bool

    public init(proc: ProcReader = ProcReader(), method: CloseMethod, dryRun: Bool, waitSeconds: Double, audit: AuditLog,
                rawClose: Bool = false) {
        self.proc = proc
        self.rawClose = rawClose
        self.method = method
        self.dryRun = dryRun
        self.waitSeconds = waitSeconds
        self.audit = audit
    }

    /// - Parameter presentSessions: which of these session ids still exist (nil: SQL unavailable).
    /// - Throws: ``MethodUnavailable`` before anything was touched (and audited as such).
    public func run(_ targets: [CloseTarget],
                    presentSessions: (([UInt64]) -> Set<UInt64>?)?) throws(MethodUnavailable) -> [CloseOutcome] {
        var outcomes: [CloseOutcome]
        if dryRun {
            outcomes = targets.map { CloseOutcome(target: $0, result: .dryRun) }
        } else {
            do {
                let closer = SocketCloser(proc: proc)
                outcomes = try rawClose ? closer.rawClose(targets) : closer.close(targets, method: method)
            } catch {
                for t in targets { record(CloseOutcome(target: t, result: .failed("\(error)"))) }
                throw error
            }
            watch(&outcomes, presentSessions: presentSessions)
        }
        for o in outcomes { record(o) }
        return outcomes
    }

    /// Polls every 10 ms until each cut socket has left mysqld's fd table and, where SQL is
    /// available, its session has left the processlist, or the wait is over.
    func watch(_ outcomes: inout [CloseOutcome], presentSessions: (([UInt64]) -> Set<UInt64>?)?) {
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let end = Double(deadline.tv_sec) + Double(deadline.tv_nsec) / 1e9 + waitSeconds
        while true {
            var pending = false
            for i in outcomes.indices where outcomes[i].result == .done {
                let t = outcomes[i].target
                if outcomes[i].socketGone != true {
                    outcomes[i].socketGone = (try? proc.fdTarget(pid: t.pid, fd: t.fd)) != .socket(inode: t.inode)
                }
                pending = pending || outcomes[i].socketGone != true
            }
            let ids = outcomes.compactMap { $0.result == .done && $0.sessionGone != true ? $0.target.session?.id : nil }
            if !ids.isEmpty, let presentSessions {
                if let present = presentSessions(ids) {
                    for i in outcomes.indices { if let id = outcomes[i].target.session?.id, ids.contains(id) { outcomes[i].sessionGone = !present.contains(id) } }
                    pending = pending || outcomes.contains { $0.sessionGone == false }
                }
            }
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            if !pending || Double(now.tv_sec) + Double(now.tv_nsec) / 1e9 >= end { return }
            usleep(10_000)
        }
    }

    func record(_ o: CloseOutcome) {
        let w = JSONWriter()
        w.object {
            w.field("time", AuditLog.timestamp())
            w.field("uid", Int64(getuid()))
            w.field("action", "close")
            w.field("method", rawClose ? "ptrace-raw-close" : method.rawValue)
            w.field("dry_run", dryRun)
            o.writeFields(to: w)
        }
        // The log was opened before acting; a failure now is reported by the caller's summary.
        try? audit.append(w.text)
    }
}

extension CloseOutcome {
    /// The target and what happened to it, as JSON fields: shared by the audit log and `--json`.
    public func writeFields(to w: JSONWriter) {
        target.writeFields(to: w, transport: true)
        w.field("outcome", result.name)
        w.field("message", result.message)
        w.field("freeze_us", freezeNanoseconds.map { Int64($0 / 1000) })
        w.field("socket_gone", socketGone)
        w.field("session_gone", sessionGone)
    }
}

extension CloseOutcome.Result {
    public var name: String {
        switch self {
        case .done: return "done"
        case .refused: return "refused"
        case .failed: return "failed"
        case .dryRun: return "dry-run"
        }
    }

    public var message: String? {
        switch self {
        case .refused(let m), .failed(let m): return m
        case .done, .dryRun: return nil
        }
    }
}

/// `myconn kill`: SQL KILL, then watch the processlist.
public struct KillRunner {
    public struct Outcome: Sendable, Equatable {
        public var session: ProcessListRow
        public var result: CloseOutcome.Result
        /// For KILL CONNECTION: whether the session left the processlist within the wait.
        public var sessionGone: Bool?
        /// The session as it was at the end of the wait, when still there.
        public var after: ProcessListRow?
    }

    public var queryOnly: Bool
    public var dryRun: Bool
    public var waitSeconds: Double
    public var audit: AuditLog

    public init(queryOnly: Bool, dryRun: Bool, waitSeconds: Double, audit: AuditLog) {
        self.queryOnly = queryOnly
        self.dryRun = dryRun
        self.waitSeconds = waitSeconds
        self.audit = audit
    }

    public func run(_ sessions: [ProcessListRow], connection: MySQLConnection) -> [Outcome] {
        var outcomes: [Outcome] = sessions.map { s in
            if dryRun { return Outcome(session: s, result: .dryRun) }
            do {
                try connection.kill(s.id, queryOnly: queryOnly)
                return Outcome(session: s, result: .done)
            } catch {
                return Outcome(session: s, result: .failed("KILL failed: \(error)"))
            }
        }
        if !dryRun {
            var waited = 0.0
            while true {
                let ids = outcomes.filter { $0.result == .done }.map(\.session.id)
                let now = (try? connection.sessions(ids)) ?? []
                var pending = false
                for i in outcomes.indices where outcomes[i].result == .done {
                    let row = now.first { $0.id == outcomes[i].session.id }
                    outcomes[i].after = row
                    if queryOnly {
                        // The query is over when the session is idle again (or gone).
                        outcomes[i].sessionGone = row == nil
                        pending = pending || row?.command == "Query" || row?.command == "Killed"
                    } else {
                        outcomes[i].sessionGone = row == nil
                        pending = pending || row != nil
                    }
                }
                if !pending || waited >= waitSeconds { break }
                usleep(20_000)
                waited += 0.02
            }
        }
        for o in outcomes { record(o) }
        return outcomes
    }

    func record(_ o: Outcome) {
        let w = JSONWriter()
        w.object {
            w.field("time", AuditLog.timestamp())
            w.field("uid", Int64(getuid()))
            w.field("action", queryOnly ? "kill-query" : "kill")
            w.field("method", "sql")
            w.field("dry_run", dryRun)
            o.writeFields(to: w)
        }
        try? audit.append(w.text)
    }
}

extension KillRunner.Outcome {
    /// The session and what happened to it, as JSON fields: shared by the audit log and `--json`.
    public func writeFields(to w: JSONWriter) {
        w.field("session_id", Int64(bitPattern: session.id))
        w.field("user", session.user)
        w.field("host", session.host)
        w.field("outcome", result.name)
        w.field("message", result.message)
        w.field("session_gone", sessionGone)
        w.field("command_after", after?.command)
        w.field("state_after", after?.state)
    }
}
