import ArgumentParser
import MyConnCore
import MySQLSessions

struct KillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kill",
        abstract: "End sessions through SQL: KILL CONNECTION (or KILL QUERY), then wait until they are gone.",
        discussion: ExitStatus.helpText,
        helpNames: [.long]
    )

    @Argument(help: "Session ids.")
    var ids: [UInt64] = []

    @OptionGroup var selection: ZombieSelection

    @Option(name: .long, help: "mysqld's pid, for --zombie (verified).")
    var pid: Int32?

    @Flag(name: .long, help: "KILL QUERY: end the running statement, keep the session.")
    var query = false

    @OptionGroup var connection: ConnectionArguments
    @OptionGroup var action: ActionArguments

    func validate() throws {
        if ids.isEmpty == (selection.zombie == nil) { throw ValidationError("name session ids, or --zombie CLASS (not both)") }
    }

    func run() throws {
        let conn = try connection.connect()
        var ids = self.ids
        if let classes = selection.classes {
            do {
                var lister = Lister(requestedPID: pid)
                lister.idleSeconds = selection.idle
                let report = try lister.run(source: conn)
                ids = report.sessions.filter { !Set($0.zombie).isDisjoint(with: classes) }.map(\.row.id)
            } catch {
                throw ListCommand.exit(for: error)
            }
            guard !ids.isEmpty else {
                printError("myconn: no \(selection.zombie ?? "") zombie sessions; nothing to do")
                return
            }
        }
        let sessions: [ProcessListRow]
        let selfID: UInt64
        do {
            selfID = try conn.serverFacts().connectionID
            sessions = try conn.sessions(ids)
        } catch {
            throw fail(.internalError, "reading the processlist failed: \(error)")
        }
        if let own = ids.first(where: { $0 == selfID }) {
            throw fail(.badTarget, "session \(own) is myconn's own connection; nothing was done")
        }
        if let missing = ids.first(where: { id in !sessions.contains { $0.id == id } }) {
            throw fail(.badTarget, "no session \(missing) on this server (see myconn list); nothing was done")
        }
        let ordered = ids.compactMap { id in sessions.first { $0.id == id } }
        try action.confirm(preview: ActionTables.killPreview(ordered, queryOnly: query, dryRun: action.dryRun),
                           count: ordered.count, verb: "kill")
        let audit = try action.openAudit()
        let outcomes = KillRunner(queryOnly: query, dryRun: action.dryRun, waitSeconds: action.wait, audit: audit)
            .run(ordered, connection: conn)
        if action.json {
            Terminal.writeStdout(ActionTables.killJSON(outcomes, queryOnly: query) + [0x0A])
        } else {
            print(ActionTables.killResult(outcomes, queryOnly: query), terminator: "")
        }
        let incomplete = outcomes.contains { o in
            if case .failed = o.result { return true }
            return !query && o.result == .done && o.sessionGone == false
        }
        if incomplete { throw ExitStatus.notDone.exitCode }
    }
}
