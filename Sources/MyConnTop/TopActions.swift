import MyConnCore
import SystemPackage

/// What an uppercase key of `top` asks for.
public enum TopAction: Sendable, Equatable {
    case kill
    case killQuery
    case cut(CloseMethod)
    case probe

    var verb: String {
        switch self {
        case .kill: return "KILL CONNECTION"
        case .killQuery: return "KILL QUERY"
        case .cut(let m): return "cut (\(m.rawValue))"
        case .probe: return "probe"
        }
    }

    var needsSocket: Bool {
        switch self {
        case .kill, .killQuery: return false
        case .cut, .probe: return true
        }
    }
}

/// How `top`'s actions are done: the same pipeline, methods, audit log and waits as `kill`,
/// `close` and `probe`.
public struct TopActionSettings: Sendable {
    public var auditPath: String
    /// Seconds to watch for the outcome (as `--wait`).
    public var waitSeconds: Double
    public var probeTimeoutSeconds: Double
    /// Opens a connection of the action's own (a thread's connection is never shared).
    public var connect: @Sendable () -> Result<MySQLConnection, MySQLError>

    public init(auditPath: String, waitSeconds: Double, probeTimeoutSeconds: Double,
                connect: @escaping @Sendable () -> Result<MySQLConnection, MySQLError>) {
        self.auditPath = auditPath
        self.waitSeconds = waitSeconds
        self.probeTimeoutSeconds = probeTimeoutSeconds
        self.connect = connect
    }
}

enum TopActions {
    /// The targets of `action` on `rows` of the snapshot, and why the others are left out. A
    /// session's socket comes from the join of that snapshot; the pipeline re-verifies it at the
    /// moment of acting (mysqld's fd must still be that inode, and an inode is one socket for its
    /// whole life), and a KILL names a session id, which is never reused.
    static func targets(_ action: TopAction, rows: [TopRow], report: ListReport) -> (targets: [ActionTarget], skipped: [String]) {
        var targets: [ActionTarget] = []
        var skipped: [String] = []
        let pid = report.server.pid
        for r in rows {
            if action.needsSocket {
                guard let pid, let ref = r.socket?.reference(pid: pid) else {
                    skipped.append("session \(r.session.map { String($0.row.id) } ?? "?"): \(r.session?.unresolved ?? "no proven socket")")
                    continue
                }
                targets.append(ActionTarget(session: r.session?.row, socket: ref))
            } else {
                guard let s = r.session else {
                    skipped.append("fd \(r.socket?.fd.map(String.init) ?? "?"): a socket without a session cannot be killed through SQL")
                    continue
                }
                targets.append(ActionTarget(session: s.row, socket: nil))
            }
        }
        return (targets, skipped)
    }

    /// The job the worker runs: the pipeline with the worker's confirmation, summarised in a line.
    static func job(_ action: TopAction, targets: [ActionTarget], skipped: [String],
                    settings: TopActionSettings) -> @Sendable (ActionWorker) -> ActionWorker.Summary {
        { worker in
            let connection: MySQLConnection?
            switch settings.connect() {
            case .success(let c): connection = c
            case .failure(let e):
                if !action.needsSocket { return .init(text: "\(action.verb): cannot log in (\(e)); nothing done") }
                connection = nil
            }
            let audit: AuditLog
            do { audit = try AuditLog(path: settings.auditPath) } catch {
                return .init(text: "cannot write the audit log \(settings.auditPath) (\(error)); nothing done")
            }
            let preview = { (t: [ActionTarget]) in
                Self.preview(action, t, skipped: skipped)
            }
            func run<M: ActionMethod>(_ method: M, verdict: @escaping (M.Detail) -> String? = { _ in nil }) -> ActionWorker.Summary {
                let pipeline = ActionPipeline(method: method, dryRun: false, waitSeconds: settings.waitSeconds,
                                              audit: audit, sessions: connection)
                do {
                    let r = try pipeline.run(targets, confirm: { worker.ask(preview($0)) })
                    return .init(text: summary(action, r.outcomes, skipped: skipped, auditError: r.auditError, verdict: verdict),
                                 interruptedBy: r.interruptedBy)
                } catch {
                    switch error {
                    case .notConfirmed: return .init(text: "\(action.verb): not confirmed; nothing done (recorded in the audit log)")
                    case .methodUnavailable(let m): return .init(text: "\(action.verb): \(m.message); nothing done")
                    case .auditLog(let path, let e): return .init(text: "cannot write the audit log \(path) (\(e)); nothing done")
                    }
                }
            }
            switch action {
            case .kill, .killQuery:
                guard let connection else { return .init(text: "\(action.verb): no SQL connection") }
                return run(SQLKill(killer: connection, queryOnly: action == .killQuery))
            case .cut(let how):
                return run(SocketCut(how: how))
            case .probe:
                return run(Prober(timeoutSeconds: settings.probeTimeoutSeconds)) { d in
                    d.verdict.map { v in v.name + (v.message.isEmpty ? "" : " (\(v.message))") }
                }
            }
        }
    }

    /// What the confirmation shows: one line per target, and the rows left out.
    static func preview(_ action: TopAction, _ targets: [ActionTarget], skipped: [String]) -> String {
        var lines = ["\(action.verb) \(targets.count) target(s):"]
        for t in targets.prefix(8) {
            var l = "  "
            if let s = t.session {
                l += "session \(s.id) \(s.user ?? "")@\(s.host ?? "") \(s.command ?? "") \(s.time.map { "\($0) s" } ?? "")"
            }
            if let k = t.socket {
                l += "  fd \(k.fd) inode \(k.inode)" + (k.peer.map { " peer \($0)" } ?? "")
            }
            lines.append(TerminalText.escape(l))
        }
        if targets.count > 8 { lines.append("  ... and \(targets.count - 8) more") }
        for s in skipped.prefix(3) { lines.append(TerminalText.escape("  left out: \(s)")) }
        if skipped.count > 3 { lines.append("  ... and \(skipped.count - 3) more left out") }
        return lines.joined(separator: "\n")
    }

    /// The status line after an action: each target gone, still there (in which state), or refused.
    static func summary<D>(_ action: TopAction, _ outcomes: [ActionOutcome<D>], skipped: [String], auditError: Errno?,
                           verdict: (D) -> String? = { _ in nil }) -> String {
        let parts = outcomes.prefix(6).map { o -> String in
            let who = o.target.session.map { "session \($0.id)" } ?? o.target.socket.map { "fd \($0.fd)" } ?? "?"
            switch o.result {
            case .done:
                if let v = verdict(o.detail) { return "\(who): \(v)" }
                if o.sessionGone == true { return "\(who): gone" }
                if let after = o.after {
                    return "\(who): still there in \(after.command ?? "?")\(after.state.map { " (\($0))" } ?? "")"
                }
                if o.socketGone == true { return "\(who): socket gone" }
                return "\(who): done"
            case .refused(let m), .failed(let m), .interrupted(let m):
                return "\(who): \(o.result.name): \(m)"
            case .dryRun:
                return "\(who): dry run"
            }
        }
        var text = "\(action.verb): " + parts.joined(separator: "; ")
        if outcomes.count > 6 { text += "; ... \(outcomes.count - 6) more" }
        if !skipped.isEmpty { text += " (\(skipped.count) left out)" }
        if let auditError { text += " — the outcome could not be written to the audit log (\(auditError))" }
        return TerminalText.escape(text)
    }
}
