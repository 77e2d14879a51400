import MySQLSessions

/// `myconn kill`: `KILL CONNECTION` (or `KILL QUERY`) through SQL. Re-verified at the moment
/// of acting by the server itself: session ids are never reused, and a session that ended in
/// between answers "Unknown thread id" (refused: nothing done). A running statement whose
/// QUERY_ID was read (MariaDB) is ended with `KILL QUERY ID`: if it finished in between, the
/// server answers "Unknown query id" and the session's next statement is left alone.
public struct SQLKill: ActionMethod {
    public struct Detail: Sendable, Equatable {}

    public var killer: any SessionKiller
    public var queryOnly: Bool

    public init(killer: any SessionKiller, queryOnly: Bool) {
        self.killer = killer
        self.queryOnly = queryOnly
    }

    public var action: String { queryOnly ? "kill-query" : "kill" }
    public var method: String { "sql" }
    public var noDetail: Detail { Detail() }
    public var recordsTransport: Bool { false }

    public func preflight(_ targets: [ActionTarget]) throws(MethodUnavailable) {}

    public func act(_ targets: [ActionTarget], context: ActionContext) throws(MethodUnavailable) -> [ActionStep<Detail>] {
        targets.map { t in
            guard let id = t.session?.id else { return ActionStep(.refused("no session to kill"), Detail()) }
            do throws(MySQLError) {
                if queryOnly, let q = t.session?.queryID, ["Query", "Execute"].contains(t.session?.command ?? "") {
                    try killer.killStatement(id, queryID: q)
                } else {
                    try killer.kill(id, queryOnly: queryOnly)
                }
                return ActionStep(.done, Detail())
            } catch {
                // ER_NO_SUCH_THREAD: the session ended in between (ids are never reused).
                if error.code == 1094 { return ActionStep(.refused("session \(id) is already gone"), Detail()) }
                // ER_NO_SUCH_QUERY: the statement read ended in between; a later one is not ours.
                if error.code == 1957 {
                    return ActionStep(.refused("statement \(t.session?.queryID ?? 0) of session \(id) has ended; nothing killed"), Detail())
                }
                return ActionStep(.failed("KILL failed: \(error)"), Detail())
            }
        }
    }

    public func goal(after step: ActionStep<Detail>, target: ActionTarget) -> WaitGoal {
        step.result == .done ? (queryOnly ? .queryEnded : .sessionGone) : []
    }

    public func writeFields(of o: ActionOutcome<Detail>, to w: JSONWriter) {
        w.field("outcome", o.result.name)
        w.field("message", o.result.message)
        w.field("session_gone", o.sessionGone)
        w.field("command_after", o.after?.command)
        w.field("state_after", o.after?.state)
    }
}
