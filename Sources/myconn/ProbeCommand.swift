import ArgumentParser
import MyConnCore

struct ProbeCommand: ContainerResolving {
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

            A signal (INT, TERM, HUP, QUIT) ends the probe early: every live socket first gets its options \
            back, the targets without a verdict are recorded as interrupted, and the exit status is 13. \
            If myconn is killed (SIGKILL) meanwhile, a live client's socket keeps the probe's options: \
            harmless to a live client (a keepalive every second), but they are not the previous ones.

            Exit status: 0 every target is alive; 11 at least one client was found dead and dropped; \
            8 some target was not probed or got no verdict; otherwise as for close.

            \(ExitStatus.helpText)
            """,
        helpNames: [.long]
    )

    @Argument(help: ArgumentHelp("Session ids (also comma-joined: 5,6,7).", valueName: "ids"))
    var idLists: [SessionIDs] = []
    var ids: [UInt64] { idLists.flatMap(\.ids) }

    @OptionGroup var connection: ConnectionArguments
    @OptionGroup var action: ActionArguments

    @Option(name: .long, help: "Seconds to wait for each verdict (5-600).")
    var timeout: Double = 10

    @OptionGroup var kernel: KernelTargetOptions

    @OptionGroup var selection: Selection

    func validate() throws {
        try requireFinite([("--timeout", timeout)])
        try SocketTargets.validate(ids: ids, kernel: kernel, fds: nil, selection: selection)
        if !(5...600).contains(timeout) { throw ValidationError("--timeout must be 5-600 seconds (a dead idle client takes 4: three keepalives a second apart)") }
    }

    /// Where `--container` puts mysqld's pid.
    var containerPID: Int32? {
        get { kernel.pid }
        set { kernel.pid = newValue }
    }

    func execute() throws {
        try action.requireConfirmable(verb: "probe")
        let resolved = try SocketTargets.resolve(ids: ids, kernel: kernel, fds: [], selection: selection,
                                                 connection: connection, purpose: "probe")
        let front = ActionFrontEnd(arguments: action, method: Prober(timeoutSeconds: timeout), verb: "probe",
                                   sessions: resolved.connection,
                                   preview: { ActionTables.probePreview($0, timeout: timeout, dryRun: action.dryRun) },
                                   table: ActionTables.probeResult)
        let outcomes = try front.run(resolved.targets)
        if outcomes.contains(where: { if case .dead? = $0.detail.verdict { return true } else { return false } }) {
            throw Failure(.peerDead)
        }
        if outcomes.contains(where: { $0.result != .dryRun && $0.detail.verdict?.name != "alive" }) { throw Failure(.notDone) }
    }
}
