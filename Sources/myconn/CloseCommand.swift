import ArgumentParser
import MyConnCore

struct CloseCommand: ContainerResolving {
    static let configuration = CommandConfiguration(
        commandName: "close",
        abstract: "Cut sessions at their socket inside mysqld, without the server's cooperation.",
        discussion: """
            Targets are session ids (resolved with the same join as `list`), --zombie classes, or \
            --peer ADDR:PORT / --fd N (with --pid, no SQL at all). A target named twice is cut once. \
            Every target is re-checked at the moment of acting: the fd must still be the resolved \
            socket inode, else it is left alone. No method frees a descriptor number mysqld still \
            owns: the socket is shut down, mysqld's thread sees EOF and closes its own fd.

            Methods: ptrace (default) stops one mysqld thread for microseconds and injects \
            M = dup(fd), checks /proc/<pid>/fd/M, shutdown(M), close(M); pidfd duplicates the socket \
            with pidfd_getfd and shuts it down, stopping nothing; destroy sends SOCK_DESTROY through \
            sock_diag in mysqld's network namespace (TCP only; the client sees a reset).

            A session busy in the server (SELECT SLEEP, a lock wait) notices the cut only when it next \
            looks at its socket, holding its locks until then: close then exits 8 (session still there \
            after --wait). --kill-after follows each cut with KILL CONNECTION, so the client has seen a \
            network failure and the server ends the session's work at once.

            \(ExitStatus.helpText)
            """,
        helpNames: [.long]
    )

    @Argument(help: ArgumentHelp("Session ids (also comma-joined: 5,6,7).", valueName: "ids"))
    var idLists: [SessionIDs] = []
    var ids: [UInt64] { idLists.flatMap(\.ids) }

    @OptionGroup var connection: ConnectionArguments
    @OptionGroup var action: ActionArguments

    @Option(name: .long, help: "ptrace, pidfd or destroy.")
    var method: CloseMethod = .ptrace

    @OptionGroup var kernel: KernelTargetOptions

    @Option(name: .long, parsing: .singleValue, help: "A descriptor of mysqld; no SQL needed with --pid.")
    var fd: [Int32] = []

    @Flag(name: .customLong("kill-after"), help: "After cutting a session's socket, also send KILL CONNECTION for it (needs SQL): the server stops its query or lock wait at once.")
    var killAfter = false

    @Flag(name: .customLong("raw-close"), help: """
        DANGEROUS: the seed's bare close(fd), injected while every mysqld thread is stopped. It frees a \
        descriptor number mysqld's thread still owns: the next connection can receive that number and \
        this session's unsent rows; under pool-of-threads the session may never end, and its timeout \
        later cuts an innocent connection (docs/facts.md section 2). Stopping every thread stalls \
        all clients for the duration.
        """)
    var rawClose = false

    @OptionGroup var selection: Selection

    func validate() throws {
        try SocketTargets.validate(ids: ids, kernel: kernel, fds: fd, selection: selection)
        if rawClose && method != .ptrace { throw ValidationError("--raw-close is a ptrace injection; it takes no other --method") }
        if killAfter && ids.isEmpty && !selection.isGiven {
            throw ValidationError("--kill-after kills sessions: name session ids, --zombie or matchers (--peer and --fd name sockets)")
        }
    }

    /// Where `--container` puts mysqld's pid.
    var containerPID: Int32? {
        get { kernel.pid }
        set { kernel.pid = newValue }
    }

    func execute() throws {
        try action.requireConfirmable(verb: "close")
        let resolved = try SocketTargets.resolve(ids: ids, kernel: kernel, fds: fd, selection: selection,
                                                 connection: connection, purpose: "cut")
        if rawClose {
            printError("myconn: warning: --raw-close frees fd numbers mysqld still owns; a new connection may get one and this session's rows, and every mysqld thread stops while it runs")
        }
        let cut = SocketCut(how: method, rawClose: rawClose, killAfter: killAfter ? resolved.connection : nil)
        let front = ActionFrontEnd(arguments: action, method: cut, verb: "close", sessions: resolved.connection,
                                   preview: { ActionTables.closePreview($0, method: cut.method, dryRun: action.dryRun) },
                                   table: ActionTables.closeResult)
        let outcomes = try front.run(resolved.targets)
        let lingering = outcomes.contains { $0.sessionGone == false }
        if outcomes.contains(where: { $0.result != .done && $0.result != .dryRun }) || lingering {
            throw Failure(.notDone, lingering ? "a cut session is still in the processlist after --wait (busy in the server: see --kill-after)" : nil)
        }
    }
}

extension CloseMethod: ExpressibleByArgument {}
