import ArgumentParser
import LinuxKernel
#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import MyConnCore
import MySQLSessions
import ProcFS

struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List every session beside its socket inside mysqld: fd, inode, addresses, TCP state, queues.",
        discussion: """
            The processlist comes through libmariadb; the kernel's view from /proc/<mysqld pid>/fd and \
            sock_diag (TCP with tcp_info, unix peers), taken in mysqld's own network namespace \
            (--source proc: /proc/<mysqld pid>/net/{tcp,tcp6}). TCP sessions are joined by their exact \
            peer address; unix-socket sessions get an fd only where it is proven (their own thread \
            blocked on it, or performance_schema). A value that is not proven is left empty, with the \
            reason. mysqld's pid is the owner of the server end of myconn's own connection.

            \(ExitStatus.helpText)
            """,
        helpNames: [.long]
    )

    @OptionGroup var connection: ConnectionArguments

    @Flag(name: .long, help: "Print one JSON object (the format is described in README.md).")
    var json = false

    @Flag(name: .long, help: "Also list mysqld's listening sockets.")
    var all = false

    @Option(name: .long, help: "Sessions in Sleep longer than this many seconds are zombies of class idle.")
    var idle: Int64?

    @Flag(name: .long, help: "Add TCP health columns (tcp_info): rtt, retransmits, probes, unacked, ms since last receive/send.")
    var wide = false

    @Flag(name: .long, help: "Also find the client process (pid, command, uid) at the other end of loopback TCP and unix-socket connections (reads every process's descriptors, like ss -p).")
    var clients = false

    @Flag(name: .customLong("no-sql"), help: "List mysqld's connections from the kernel alone (with --pid, or the mysqld listening on -S/-P); also what list falls back to when the server refuses logins (Too many connections) or cannot be reached.")
    var noSQL = false

    @Option(name: .long, help: "Where the TCP table comes from: netlink (sock_diag, filtered to mysqld's ports) or proc (/proc/<pid>/net/tcp*).")
    var source: KernelSource = .netlink

    @Option(name: .customLong("debug-dump-sock-diag"), help: .hidden)
    var dumpSockDiag: String?

    @Option(name: .long, help: "mysqld's pid as seen from here (verified: it must serve the connection or listen on the server's port).")
    var pid: Int32?

    func validate() throws {
        if let pid, pid <= 0 { throw ValidationError("--pid must be a positive process id") }
        if let idle, idle < 0 { throw ValidationError("--idle must be 0 or more seconds") }
    }

    func run() throws {
        if noSQL {
            try emit(kernelOnly(why: nil))
            return
        }
        let options = try connection.resolved()
        let conn: MySQLConnection
        switch try connection.open(options) {
        case .success(let c):
            conn = c
        case .failure(let error):
            guard let fallback = try fallbackWhenLoginFails(error) else {
                throw Self.exit(for: error, options: options)
            }
            try emit(fallback)
            return
        }
        let report: ListReport
        let recorder = SockDiagRecorder(path: dumpSockDiag)
        do {
            var lister = Lister(includeListening: all, requestedPID: pid, kernelSource: source,
                                recorder: dumpSockDiag == nil ? nil : recorder.attach)
            lister.idleSeconds = idle
            lister.clients = clients
            report = try lister.run(source: conn)
        } catch {
            if case .sql(let e) = error, e.kind == .timedOut,
               let fallback = try kernelOnlyIfLocal(why: "the server stopped answering (no reply within --read-timeout \(connection.readTimeout) s: \(e)); listing mysqld's sockets from the kernel alone: sessions unknown") {
                try emit(fallback)
                return
            }
            throw Self.exit(for: error)
        }
        try recorder.write()
        try emit(report)
    }

    func emit(_ report: ListReport) throws {
        for w in report.warnings { printError("myconn: warning: \(w)") }
        if json {
            let w = JSONReport.writer(report)
            w.newline()
            w.withBytes { Terminal.writeStdout($0) }
        } else {
            print(TableReport.render(report, width: Terminal.width(), wide: wide, clients: clients), terminator: "")
        }
        if report.kernelViewIncomplete { throw ExitStatus.incomplete.exitCode }
    }

    /// The kernel-only report of the mysqld named by --pid, or listening on -S/-P.
    func kernelOnly(why: String?) throws -> ListReport {
        let port = connection.port.map { UInt16($0) }
        let found: MysqldProcess?
        do {
            found = try MysqldLocator(proc: ProcReader()).locateWithoutSQL(requested: pid, socketPath: connection.socket, port: port)
        } catch {
            throw Self.exit(for: ListError.locate(error))
        }
        guard let found else {
            throw fail(.mysqldNotFound, "no mysqld/mariadbd listens on the given -S/-P; pass --pid PID to list without SQL")
        }
        do {
            var lister = Lister(includeListening: all, kernelSource: source)
            lister.clients = clients
            return try lister.runKernelOnly(pid: found.pid, why: why)
        } catch {
            throw Self.exit(for: error)
        }
    }

    /// When the server refuses logins (Too many connections) or cannot be reached, and a local
    /// mysqld matching -S/-P (or --pid) is there: its kernel view, with a warning. A refused
    /// password is not such a case: it is reported as itself.
    func fallbackWhenLoginFails(_ error: MySQLError) throws -> ListReport? {
        guard error.kind == .tooManyConnections || error.kind == .cannotConnect else { return nil }
        return try kernelOnlyIfLocal(why: "cannot log in (\(error)); listing mysqld's sockets from the kernel alone: sessions unknown")
    }

    /// The kernel-only report, when the server is local and its mysqld can be found without SQL.
    func kernelOnlyIfLocal(why: String) throws -> ListReport? {
        let local = [nil, "localhost", "127.0.0.1", "::1"].contains(connection.host)
        guard pid != nil || local, pid != nil || connection.socket != nil || connection.port != nil else { return nil }
        let port = connection.port.map { UInt16($0) }
        guard (try? MysqldLocator(proc: ProcReader()).locateWithoutSQL(requested: pid, socketPath: connection.socket, port: port)) != nil else {
            return nil
        }
        return try kernelOnly(why: why)
    }

    static func exit(for error: MySQLError, options: ConnectionOptions) -> ExitCode {
        switch error.kind {
        case .cannotConnect:
            return fail(.cannotConnect, "cannot reach the server: \(error.message); check -h/-P/-S and that mysqld is running")
        case .unknownHost:
            return fail(.cannotConnect, "unknown host '\(options.host ?? "")': \(error.message); check -h")
        case .accessDenied:
            return fail(.accessDenied, "login refused: \(error.message); check -u and -p, MYSQL_PWD or the [client] group of ~/.my.cnf")
        case .tooManyConnections:
            return fail(.tooManyConnections, "the server accepts no login now: \(error.message)")
        case .client where error.code == 0:
            return fail(.usage, error.message)
        case .timedOut:
            return fail(.cannotConnect, "the server stopped answering: \(error) within --read-timeout; it may be wedged: myconn list --no-sql --pid PID lists its sockets from the kernel")
        case .client, .query:
            return fail(.internalError, "MySQL client error: \(error)")
        }
    }

    static func exit(for error: ListError) -> ExitCode {
        switch error {
        case .sql(let e) where e.kind == .timedOut:
            return fail(.cannotConnect, "the server stopped answering: no reply within --read-timeout (\(e)); it may be wedged: myconn list --no-sql --pid PID lists its sockets from the kernel")
        case .sql(let e):
            return fail(.internalError, "reading the processlist failed: \(e)")
        case .locate(.notFound(let why)):
            return fail(.mysqldNotFound, "cannot find mysqld's process: \(why); pass --pid PID (mysqld's pid as seen from this host)")
        case .locate(.notMysqld(let pid, let comm, let port)):
            let which = port == 0 ? "" : " on port \(port)"
            return fail(.mysqldNotFound, "pid \(pid) (\(comm)) is not the mysqld serving this connection: it has no listening socket\(which); pass mysqld's pid or omit --pid")
        case .locate(.notNamedServer(let pid, let comm)):
            return fail(.mysqldNotFound, "pid \(pid) (\(comm)) is not the mysqld serving this connection: it is not named mysqld or mariadbd; pass mysqld's pid (pidof mariadbd mysqld) or omit --pid")
        case .locate(.notThreadGroupLeader(let pid, let leader, let comm)):
            return fail(.mysqldNotFound, "pid \(pid) (\(comm)) is not the mysqld serving this connection: it is a thread of process \(leader); pass --pid \(leader) or omit --pid")
        case .locate(.processGone(let pid)):
            return fail(.mysqldNotFound, "no process has pid \(pid); pass mysqld's pid or omit --pid")
        case .locate(.ambiguous(let pids, let port)):
            return fail(.mysqldNotFound, "several mysqld processes listen on port \(port) (pids \(pids.map(String.init).joined(separator: ", "))); pass --pid")
        case .kernel(.processGone(let pid)):
            return fail(.mysqldNotFound, "mysqld (pid \(pid)) exited while its sockets were read")
        case .kernel(.permissionDenied(let path)):
            return fail(.incomplete, "no permission to read \(path); run as root or with CAP_SYS_PTRACE")
        case .kernel(let e):
            return fail(.internalError, "reading mysqld's sockets failed: \(e)")
        }
    }
}


/// `--debug-dump-sock-diag FILE`: writes every raw sock_diag reply datagram, concatenated (a
/// valid netlink message stream), so a live server's replies can be replayed in unit tests.
final class SockDiagRecorder {
    let path: String?
    private var sockets: [NetlinkSockDiag] = []

    init(path: String?) { self.path = path }

    func attach(_ diag: NetlinkSockDiag) {
        diag.recording = []
        sockets.append(diag)
    }

    func write() throws {
        guard let path else { return }
        let bytes = sockets.flatMap { $0.recording ?? [] }.flatMap { $0 }
        guard let f = fopen(path, "w") else { throw fail(.usage, "cannot write --debug-dump-sock-diag \(path)") }
        defer { fclose(f) }
        _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
    }
}
