import ArgumentParser
import MyConnCore
import MySQLSessions
import ProcFS

struct CloseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "close",
        abstract: "Cut sessions at their socket inside mysqld, without the server's cooperation.",
        discussion: """
            Targets are session ids (resolved with the same join as `list`), or, with no SQL at all, \
            --pid with --peer ADDR:PORT or --fd N. Every target is re-checked at the moment of acting: \
            the fd must still be the resolved socket inode, else it is left alone. No method frees a \
            descriptor number mysqld still owns: the socket is shut down, mysqld's thread sees EOF \
            and closes its own fd.

            Methods: ptrace (default) stops one mysqld thread for microseconds and injects \
            M = dup(fd), checks /proc/<pid>/fd/M, shutdown(M), close(M); pidfd duplicates the socket \
            with pidfd_getfd and shuts it down, stopping nothing; destroy sends SOCK_DESTROY through \
            sock_diag in mysqld's network namespace (TCP only; the client sees a reset).

            \(ExitStatus.helpText)
            """,
        helpNames: [.long]
    )

    @Argument(help: "Session ids.")
    var ids: [UInt64] = []

    @OptionGroup var connection: ConnectionArguments
    @OptionGroup var action: ActionArguments

    @Option(name: .long, help: "ptrace, pidfd or destroy.")
    var method: CloseMethod = .ptrace

    @Option(name: .long, help: "mysqld's pid (required with --peer/--fd; verified with ids).")
    var pid: Int32?

    @Option(name: .long, parsing: .singleValue, help: "A client address ADDR:PORT (IPv6 as [addr]:port) of mysqld's connections; no SQL needed.")
    var peer: [String] = []

    @Option(name: .long, parsing: .singleValue, help: "A descriptor of mysqld; no SQL needed.")
    var fd: [Int32] = []

    @Flag(name: .customLong("raw-close"), help: """
        DANGEROUS: the seed's bare close(fd), injected while every mysqld thread is stopped. It frees a \
        descriptor number mysqld's thread still owns: the next connection can receive that number and \
        this session's unsent rows; under pool-of-threads the session may never end, and its timeout \
        later cuts an innocent connection (shared/DESIGN.md section 2). Stopping every thread stalls \
        all clients for the duration.
        """)
    var rawClose = false

    @OptionGroup var selection: ZombieSelection

    @Flag(name: .long, help: "Accept a --pid whose process is not named mysqld or mariadbd.")
    var force = false

    @Option(name: .long, help: "Where the TCP table comes from: netlink or proc.")
    var source: KernelSource = .netlink

    func validate() throws {
        try SocketTargets.validate(ids: ids, peers: peer, fds: fd, pid: pid, selection: selection)
        if rawClose && method != .ptrace { throw ValidationError("--raw-close is a ptrace injection; it takes no other --method") }
    }

    func run() throws {
        guard let resolved = try SocketTargets.resolve(ids: ids, peers: peer, fds: fd, pid: pid, force: force, source: source,
                                                       selection: selection, connection: connection, purpose: "cut")
        else { return }
        let targets = resolved.targets
        do {
            try SocketCloser().preflight(targets, method: method)
        } catch {
            throw fail(.methodUnavailable, "\(error.message); nothing was done")
        }
        if rawClose {
            printError("myconn: warning: --raw-close frees fd numbers mysqld still owns; a new connection may get one and this session's rows, and every mysqld thread stops while it runs")
        }
        try action.confirm(preview: ActionTables.closePreview(targets, method: method, dryRun: action.dryRun),
                           count: targets.count, verb: "close")
        let audit = try action.openAudit()
        let runner = CloseRunner(method: method, dryRun: action.dryRun, waitSeconds: action.wait, audit: audit,
                                 rawClose: rawClose)
        let outcomes: [CloseOutcome]
        do {
            outcomes = try runner.run(targets, presentSessions: resolved.presentSessions)
        } catch {
            throw fail(.methodUnavailable, "\(error.message); nothing was done")
        }
        if action.json {
            Terminal.writeStdout(ActionTables.closeJSON(outcomes, method: method) + [0x0A])
        } else {
            print(ActionTables.closeResult(outcomes), terminator: "")
        }
        if outcomes.contains(where: { $0.result != .done && $0.result != .dryRun }) { throw ExitStatus.notDone.exitCode }
    }

    static func exit(for error: TargetError) -> ExitCode {
        switch error {
        case .unknownSession(let id):
            return fail(.badTarget, "no session \(id) on this server (see myconn list); nothing was done")
        case .ownConnection(let id):
            return fail(.badTarget, "session \(id) is myconn's own connection; nothing was done")
        case .notProven(let id, let why):
            return fail(.badTarget, "session \(id)'s socket is not proven (\(why)); nothing was done: use --pid with --peer or --fd")
        case .fdNotSocket(let fd, let pid):
            return fail(.badTarget, "fd \(fd) of pid \(pid) is not a socket; nothing was done")
        case .fdMissing(let fd, let pid):
            return fail(.badTarget, "pid \(pid) has no fd \(fd); nothing was done")
        case .notAConnection(let fd, let pid):
            return fail(.badTarget, "fd \(fd) of pid \(pid) is not a TCP or unix-socket connection of mysqld; nothing was done")
        case .peerNotFound(let p):
            return fail(.badTarget, "mysqld has no connection from \(p); nothing was done (see myconn list)")
        case .peerAmbiguous(let p, let n):
            return fail(.badTarget, "\(n) mysqld connections have peer \(p); nothing was done: use --fd")
        case .notMysqld(let pid, let comm):
            return fail(.badTarget, "pid \(pid) is \(comm), not mysqld or mariadbd; nothing was done (--force to act anyway)")
        case .processGone(let pid):
            return fail(.mysqldNotFound, "no process has pid \(pid); nothing was done")
        case .kernel(.permissionDenied(let path)):
            return fail(.incomplete, "no permission to read \(path); run as root or with CAP_SYS_PTRACE; nothing was done")
        case .kernel(let e):
            return fail(.internalError, "reading mysqld's sockets failed: \(e); nothing was done")
        }
    }
}

extension CloseMethod: ExpressibleByArgument {}

extension MethodUnavailable {
    var message: String {
        switch self {
        case .ptrace(let m), .pidfd(let m), .destroy(let m): return m
        }
    }
}
