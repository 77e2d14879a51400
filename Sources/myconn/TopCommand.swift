import ArgumentParser
#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import MyConnCore
import MyConnTop

struct TopCommand: ContainerResolving {
    static let configuration = CommandConfiguration(
        commandName: "top",
        abstract: "Pick sessions interactively, see each one's socket and health live, and KILL, cut or probe them.",
        discussion: """
            A live table of the sessions beside their sockets (the `list` join), refreshed every \
            --interval on a thread of its own. Keys: arrows, PgUp/PgDn, Home/End move; Space marks; \
            s/r sort; / filters by regular expression; z zombies only; i hides idle; \\ clears; Enter \
            shows a session's socket, tcp_info, client process and open transaction; K KILL \
            CONNECTION, Q KILL QUERY, C cut at the socket (then a method key), P probe; ? help; q quits. \
            Every action shows its targets and waits for y, then goes through the same pipeline as \
            kill, close and probe: re-verified at the moment of acting, written to the audit log. \
            When SQL cannot be had (Too many connections, a wedged server) the view falls back to the \
            kernel's, where C still cuts by socket.

            \(ExitStatus.helpText)
            """,
        helpNames: [.long]
    )

    @OptionGroup var connection: ConnectionArguments

    @Option(name: .long, help: "mysqld's pid as seen from here (verified).")
    var pid: Int32?

    @Flag(name: .long, help: "Accept a --pid whose process is not named mysqld or mariadbd (it must still listen).")
    var force = false

    @Option(name: .long, help: "Seconds between refreshes (0.2-3600; the d key changes it).")
    var interval: Double = 2

    @Option(name: .long, help: "Sessions in Sleep for at least this many seconds are zombies of class idle.")
    var idle: Int64?

    @Option(name: .long, help: "The cut's default method: ptrace, pidfd or destroy.")
    var method: CloseMethod = .ptrace

    @Option(name: .long, help: "Seconds to watch each action's outcome (as --wait of kill and close).")
    var wait: Double = 5

    @Option(name: .customLong("probe-timeout"), help: "Seconds to wait for each probe's verdict (5-600).")
    var probeTimeout: Double = 10

    @Option(name: .customLong("audit-log"), help: "Audit log file (default /var/log/myconn/audit.log for root, else under $XDG_STATE_HOME).")
    var auditLog: String?

    @Option(name: .long, help: "Where the TCP table comes from: netlink or proc.")
    var source: KernelSource = .netlink

    /// bench/list.sh: takes this many of top's refreshes with no terminal and prints each one's
    /// cost in ms, one per line (the first also opens the connection).
    @Option(name: .customLong("debug-refreshes"), help: .hidden)
    var debugRefreshes: Int?

    func validate() throws {
        try requireFinite([("--interval", interval), ("--wait", wait), ("--probe-timeout", probeTimeout)])
        if let pid, pid <= 0 { throw ValidationError("--pid must be a positive process id") }
        if !(interval >= 0.2 && interval <= 3600) { throw ValidationError("--interval must be 0.2-3600 seconds") }
        if let idle, idle < 0 { throw ValidationError("--idle must be 0 or more seconds") }
        if wait < 0 || wait > 3600 { throw ValidationError("--wait must be 0-3600 seconds") }
        if probeTimeout < 5 || probeTimeout > 600 { throw ValidationError("--probe-timeout must be 5-600 seconds") }
    }

    /// Where `--container` puts mysqld's pid.
    var containerPID: Int32? {
        get { pid }
        set { pid = newValue }
    }

    func execute() throws {
        guard debugRefreshes != nil || (isatty(STDIN_FILENO) == 1 && isatty(STDOUT_FILENO) == 1) else {
            throw Failure(.usage, "top needs a terminal on standard input and output; for a pipe or a file use `myconn list` (or `myconn zombies`)")
        }
        let options = try connection.resolved()
        // The audit log is checked before the screen is taken: if it cannot be written, say so now.
        let auditPath = try openAuditLog(auditLog).path
        var lister = Lister(requestedPID: pid, kernelSource: source)
        lister.forcePID = force
        lister.idleSeconds = idle
        let fallback = KernelFallback(requestedPID: pid, host: connection.host, socketPath: connection.socket,
                                      port: connection.port.map { UInt16($0) }, force: force)
        let connect = connection.opener(options)
        let taker = SnapshotTaker(lister: lister, fallback: fallback, connect: connect)
        if let n = debugRefreshes {
            for _ in 0..<max(1, n) {
                let snap = taker.take()
                guard snap.mode == .sql, let report = snap.report else { throw Failure(.cannotConnect, "a refresh had no SQL: \(snap.mode)") }
                // A refresh is the look and the rows made from it, as on top's refresh thread.
                let started = Deadline.now()
                let prepared = PreparedSnapshot(snap)
                withExtendedLifetime(prepared) {}
                // Numbers only: milliseconds and the session count.
                print("\(snap.milliseconds + (Deadline.now() - started) * 1000) \(report.sessions.count)")
            }
            return
        }
        let settings = TopActionSettings(auditPath: auditPath, waitSeconds: wait, probeTimeoutSeconds: probeTimeout, connect: connect)
        let color = getenv("NO_COLOR").map { String(cString: $0).isEmpty } ?? true
        do {
            _ = try TopApp.run(taker: taker, options: .init(interval: interval, method: method, color: color, actions: settings))
        } catch {
            switch error {
            case .terminal(let term):
                throw Failure(.usage, "TERM=\(term) is not a terminal type this machine's terminfo knows; set TERM (e.g. TERM=xterm-256color), or use `myconn list`")
            case .thread(let e):
                throw Failure(.internalError, "cannot start top's refresh thread (\(e))")
            }
        }
    }
}
