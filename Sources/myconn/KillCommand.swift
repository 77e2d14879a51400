import ArgumentParser
import MyConnCore

struct KillCommand: ContainerResolving {
    static let configuration = CommandConfiguration(
        commandName: "kill",
        abstract: "End sessions through SQL: KILL CONNECTION (or KILL QUERY), then wait until they are gone.",
        discussion: ExitStatus.helpText,
        helpNames: [.long]
    )

    @Argument(help: ArgumentHelp("Session ids (also comma-joined: 5,6,7).", valueName: "ids"))
    var idLists: [SessionIDs] = []
    var ids: [UInt64] { idLists.flatMap(\.ids) }

    @OptionGroup var selection: Selection

    @Option(name: .long, help: "mysqld's pid, for --zombie (verified).")
    var pid: Int32?

    @Flag(name: .long, help: "Accept a --pid whose process is not named mysqld or mariadbd (it must still listen).")
    var force = false

    @Flag(name: .long, help: "KILL QUERY: end the running statement, keep the session.")
    var query = false

    @OptionGroup var connection: ConnectionArguments
    @OptionGroup var action: ActionArguments

    func validate() throws {
        if ids.isEmpty == !selection.isGiven { throw ValidationError("name session ids, or --zombie CLASS and/or matchers (--match-*, --client, --program), not both") }
        if let pid, pid <= 0 { throw ValidationError("--pid must be a positive process id") }
    }

    /// Where `--container` puts mysqld's pid.
    var containerPID: Int32? {
        get { pid }
        set { pid = newValue }
    }

    func execute() throws {
        try action.requireConfirmable(verb: "kill")
        let conn = try connection.connect()
        var ids = self.ids
        if selection.isGiven {
            let report = try SocketTargets.listReport(conn, pid: pid, force: force, idle: selection.idle)
            let chosen = try selection.selection().select(report, programs: try SocketTargets.programs(selection, conn))
            ids = chosen.sessions.map(\.row.id)
            if ids.isEmpty {
                if selection.anyMatcher { throw Failure(.noMatch, "no session matches \(selection.summary); nothing touched") }
                printError("myconn: no \(selection.zombie ?? "") zombie sessions; nothing to do")
            }
        }
        let targets: [ActionTarget]
        do { targets = try TargetResolver.sessions(ids, on: conn) } catch { throw Failure(error) }
        let front = ActionFrontEnd(arguments: action, method: SQLKill(killer: conn, queryOnly: query), verb: "kill",
                                   sessions: conn,
                                   preview: { ActionTables.killPreview($0, queryOnly: query, dryRun: action.dryRun) },
                                   table: ActionTables.killResult)
        let outcomes = try front.run(targets)
        let incomplete = outcomes.contains { o in
            if case .failed = o.result { return true }
            if case .refused = o.result { return true }
            return !query && o.result == .done && o.sessionGone == false
        }
        if incomplete { throw Failure(.notDone) }
    }
}
