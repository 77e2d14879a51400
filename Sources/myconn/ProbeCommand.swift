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
        try SocketTargets.validate(ids: ids, peers: peer, fds: nil, pid: pid, selection: selection)
        if !(5...600).contains(timeout) { throw ValidationError("--timeout must be 5-600 seconds (a dead idle client takes 4: three keepalives a second apart)") }
    }

    func run() throws {
        guard let resolved = try SocketTargets.resolve(ids: ids, peers: peer, fds: [], pid: pid, force: force, source: source,
                                                       selection: selection, connection: connection, purpose: "probe")
        else { return }
        let targets = resolved.targets
        try action.confirm(preview: ActionTables.probePreview(targets, timeout: timeout, dryRun: action.dryRun),
                           count: targets.count, verb: "probe")
        let audit = try action.openAudit()
        let outcomes = Prober(timeoutSeconds: timeout, dryRun: action.dryRun, audit: audit)
            .run(targets, waitSeconds: action.wait, presentSessions: resolved.presentSessions)
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
