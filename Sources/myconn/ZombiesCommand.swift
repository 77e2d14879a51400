import ArgumentParser
import MyConnCore
import MySQLSessions

struct ZombiesCommand: ParsableCommand {
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

    @Flag(name: .long, help: "Print one JSON object (list's format, zombies only).")
    var json = false

    @Option(name: .long, help: "Sessions in Sleep longer than this many seconds are zombies of class idle.")
    var idle: Int64?

    @Option(name: .long, help: "mysqld's pid (verified).")
    var pid: Int32?

    @Option(name: .long, help: "Where the TCP table comes from: netlink or proc.")
    var source: KernelSource = .netlink

    func run() throws {
        let conn = try connection.connect()
        var report: ListReport
        do {
            var lister = Lister(requestedPID: pid, kernelSource: source)
            lister.idleSeconds = idle
            report = try lister.run(source: conn)
        } catch {
            throw ListCommand.exit(for: error)
        }
        report.sessions = report.sessions.filter { !$0.zombie.isEmpty }
        let keep = (report.unmatchedZombie ?? []).enumerated().filter { !$0.element.isEmpty }.map(\.offset)
        report.unmatchedSockets = keep.map { report.unmatchedSockets[$0] }
        report.unmatchedZombie = keep.map { report.unmatchedZombie![$0] }
        for w in report.warnings { printError("myconn: warning: \(w)") }
        if json {
            let w = JSONReport.writer(report)
            w.newline()
            w.withBytes { Terminal.writeStdout($0) }
        } else {
            print(TableReport.render(report, width: Terminal.width()), terminator: "")
        }
    }
}

extension KernelSource: ExpressibleByArgument {}
