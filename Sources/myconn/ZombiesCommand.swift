import ArgumentParser
import MyConnCore

struct ZombiesCommand: ContainerResolving {
    static let configuration = CommandConfiguration(
        commandName: "zombies",
        abstract: "List sessions whose client is gone or unreachable, and sockets without a session.",
        discussion: """
            Classes (README.md, "Zombies"): client-gone (socket in CLOSE_WAIT, session still there), \
            peer-unreachable (unacknowledged data being retransmitted, or keepalive probes unanswered), \
            orphan-socket (an established socket of mysqld with no session; needs PROCESS), \
            orphan-session (a TCP session whose socket no longer exists), idle (Sleep longer than --idle). \
            Drop them with `myconn kill|close --zombie CLASS[,CLASS]`.

            \(ExitStatus.helpText)
            """,
        helpNames: [.long]
    )

    @OptionGroup var connection: ConnectionArguments
    @OptionGroup var scope: ListScope

    /// Where `--container` puts mysqld's pid.
    var containerPID: Int32? {
        get { scope.pid }
        set { scope.pid = newValue }
    }

    func execute() throws {
        let conn = try connection.connect()
        var report: ListReport
        do {
            var lister = Lister(requestedPID: scope.pid, kernelSource: scope.source)
            lister.forcePID = scope.force
            lister.idleSeconds = scope.idle
            report = try lister.run(source: conn)
        } catch {
            throw Failure(error)
        }
        report.sessions = report.sessions.filter { !$0.zombie.isEmpty }
        report.unmatchedSockets = report.unmatchedSockets.filter { !($0.zombie ?? []).isEmpty }
        for w in report.warnings { printError("myconn: warning: \(w)") }
        if scope.json {
            JSONReport.write(report) { Terminal.writeStdout($0) }
        } else {
            Terminal.writeStdout(Array(TableReport.render(report, width: Terminal.width()).utf8))
        }
    }
}

extension KernelSource: ExpressibleByArgument {}
