import ArgumentParser
import MyConnCore
import MySQLSessions
import ProcFS

struct ProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Ask the kernel whether sessions' clients are still there (aggressive TCP keepalive on mysqld's socket).",
        discussion: """
            Each target socket is duplicated out of mysqld with pidfd_getfd and verified (same inode, same \
            peer, ESTABLISHED). Its keepalive options are saved and turned up (first probe after 1 s idle, \
            then every second; TCP_USER_TIMEOUT as well when data is already unacknowledged). A client \
            that acknowledges is alive: its socket gets its previous options back at once. A client that \
            does not is dropped by the kernel itself, and mysqld ends the session as after any network \
            error. A socket whose last ACK is under a second old is alive without being touched.

            Signals (INT, TERM, HUP, QUIT) wait until every live socket has its options back. If myconn \
            is killed (SIGKILL) meanwhile, a live client's socket keeps the probe's options: harmless to \
            a live client (a keepalive every second), but they are not the previous ones.

            Exit status: 0 every target is alive; 11 at least one client was found dead and dropped; \
            8 some target was not probed or got no verdict; otherwise as for close.

            \(ExitStatus.helpText)
            """,
        helpNames: [.long]
    )

    @Argument(help: "Session ids.")
    var ids: [UInt64] = []

    @OptionGroup var connection: ConnectionArguments
    @OptionGroup var action: ActionArguments

    @Option(name: .long, help: "Seconds to wait for each verdict (5-600).")
    var timeout: Double = 10

    @Option(name: .long, help: "mysqld's pid (required with --peer; verified with ids).")
    var pid: Int32?

    @Option(name: .long, parsing: .singleValue, help: "A client address ADDR:PORT (IPv6 as [addr]:port) of mysqld's connections; no SQL needed.")
    var peer: [String] = []

    @OptionGroup var selection: ZombieSelection

    @Flag(name: .long, help: "Accept a --pid whose process is not named mysqld or mariadbd.")
    var force = false

    @Option(name: .long, help: "Where the TCP table comes from: netlink or proc.")
    var source: KernelSource = .netlink

    func validate() throws {
        let selectors = [!ids.isEmpty, !peer.isEmpty, selection.zombie != nil].filter { $0 }.count
        if selectors == 0 { throw ValidationError("name targets: session ids, --zombie CLASS, or --pid with --peer") }
        if selectors > 1 { throw ValidationError("give one of: session ids, --zombie, --peer") }
        if !peer.isEmpty && pid == nil { throw ValidationError("--peer needs --pid (mysqld's pid)") }
        if let pid, pid <= 0 { throw ValidationError("--pid must be a positive process id") }
        for p in peer where CloseCommand.parsePeer(p) == nil {
            throw ValidationError("--peer \(p) is not ADDR:PORT (IPv6 as [addr]:port)")
        }
        if !(5...600).contains(timeout) { throw ValidationError("--timeout must be 5-600 seconds (a dead idle client takes 4: three keepalives a second apart)") }
    }

    func run() throws {
        var conn: MySQLConnection?
        let targets: [CloseTarget]
        if !peer.isEmpty {
            do {
                targets = try TargetResolver.fromKernel(pid: pid!, peers: peer.compactMap(CloseCommand.parsePeer), fds: [],
                                                        force: force, proc: ProcReader(), source: source)
            } catch {
                throw CloseCommand.exit(for: error)
            }
        } else {
            conn = try connection.connect()
            let report: ListReport
            do {
                var lister = Lister(requestedPID: pid, kernelSource: source)
                lister.idleSeconds = selection.idle
                report = try lister.run(source: conn!)
            } catch {
                throw ListCommand.exit(for: error)
            }
            if let classes = selection.classes {
                let found = TargetResolver.fromZombies(classes, report: report)
                for s in found.skipped { printError("myconn: warning: session \(s.id) skipped: \(s.why)") }
                guard !found.targets.isEmpty else {
                    printError("myconn: no \(selection.zombie ?? "") zombies with a socket to probe; nothing to do")
                    return
                }
                targets = found.targets
            } else {
                do {
                    targets = try TargetResolver.fromSessions(ids, report: report, selfID: report.selfConnectionID)
                } catch {
                    throw CloseCommand.exit(for: error)
                }
            }
        }
        try action.confirm(preview: ActionTables.probePreview(targets, timeout: timeout, dryRun: action.dryRun),
                           count: targets.count, verb: "probe")
        let audit = try action.openAudit()
        let outcomes = Prober(timeoutSeconds: timeout, dryRun: action.dryRun, audit: audit)
            .run(targets, waitSeconds: action.wait, presentSessions: conn.map { c in
                { ids in (try? c.presentSessions(ids)).map { Set($0.keys) } }
            })
        if action.json {
            Terminal.writeStdout(ActionTables.probeJSON(outcomes) + [0x0A])
        } else {
            print(ActionTables.probeResult(outcomes), terminator: "")
        }
        if outcomes.contains(where: { if case .dead = $0.verdict { return true } else { return false } }) {
            throw ExitStatus.peerDead.exitCode
        }
        if outcomes.contains(where: { $0.verdict.name != "alive" && $0.verdict != .dryRun }) { throw ExitStatus.notDone.exitCode }
    }
}
