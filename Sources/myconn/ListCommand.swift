import ArgumentParser
#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import MyConnCore

struct ListCommand: ContainerResolving {
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
    @OptionGroup var scope: ListScope

    @Flag(name: .long, help: "Also list mysqld's listening sockets.")
    var all = false

    @Flag(name: .long, help: "Add TCP health columns (tcp_info): rtt, retransmits, probes, unacked, ms since last receive/send.")
    var wide = false

    @Flag(name: .long, help: "Also find the client process (pid, command, uid) at the other end of loopback TCP and unix-socket connections (reads every process's descriptors, like ss -p).")
    var clients = false

    @Flag(name: .customLong("no-sql"), help: "List mysqld's connections from the kernel alone (with --pid, or the mysqld listening on -S/-P); also what list falls back to when the server refuses logins (Too many connections) or cannot be reached.")
    var noSQL = false

    @Option(name: .customLong("debug-dump-sock-diag"), help: .hidden)
    var dumpSockDiag: String?

    var json: Bool { scope.json }
    var pid: Int32? { scope.pid }
    var source: KernelSource { scope.source }

    /// Where `--container` puts mysqld's pid.
    var containerPID: Int32? {
        get { scope.pid }
        set { scope.pid = newValue }
    }

    func execute() throws {
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
                throw Failure(error, host: options.host)
            }
            try emit(fallback)
            return
        }
        let report: ListReport
        let recorder = SockDiagRecorder(path: dumpSockDiag)
        do {
            var lister = Lister(includeListening: all, requestedPID: pid, kernelSource: source,
                                recording: recorder.recording)
            lister.forcePID = scope.force
            lister.idleSeconds = scope.idle
            lister.clients = clients
            report = try lister.run(source: conn)
        } catch {
            if case .sql(let e) = error, e.kind == .timedOut,
               let fallback = try kernelOnlyIfLocal(why: "the server stopped answering (no reply within --read-timeout \(connection.readTimeout) s: \(e)); listing mysqld's sockets from the kernel alone: sessions unknown") {
                try emit(fallback)
                return
            }
            throw Failure(error)
        }
        try recorder.write()
        try emit(report)
    }

    func emit(_ report: ListReport) throws {
        for w in report.warnings { printError("myconn: warning: \(w)") }
        if json {
            JSONReport.write(report) { Terminal.writeStdout($0) }
        } else {
            Terminal.writeStdout(Array(TableReport.render(report, width: Terminal.width(), wide: wide, clients: clients).utf8))
        }
        if report.kernelViewIncomplete { throw Failure(.incomplete) }
    }

    /// The kernel-only report of the mysqld named by --pid, or listening on -S/-P.
    func kernelOnly(why: String?) throws -> ListReport {
        let port = connection.port.map { UInt16($0) }
        let found: MysqldProcess?
        do {
            found = try MysqldLocator().locateWithoutSQL(requested: pid, socketPath: connection.socket, port: port, force: scope.force)
        } catch {
            throw Failure(error)
        }
        guard let found else {
            throw Failure(.mysqldNotFound, "no mysqld/mariadbd listens on the given -S/-P; pass --pid PID to list without SQL")
        }
        let recorder = SockDiagRecorder(path: dumpSockDiag)
        let report: ListReport
        do {
            var lister = Lister(includeListening: all, kernelSource: source, recording: recorder.recording)
            lister.clients = clients
            report = try lister.runKernelOnly(pid: found.pid, why: why)
        } catch {
            throw Failure(error)
        }
        try recorder.write()
        return report
    }

    /// When the server refuses logins (Too many connections) or cannot be reached, and a local
    /// mysqld matching -S/-P (or --pid) is there: its kernel view, with a warning. A refused
    /// password is not such a case: it is reported as itself.
    func fallbackWhenLoginFails(_ error: MySQLError) throws -> ListReport? {
        guard KernelFallback.applies(to: error) else { return nil }
        return try kernelOnlyIfLocal(why: "cannot log in (\(error)); listing mysqld's sockets from the kernel alone: sessions unknown")
    }

    /// The kernel-only report, when the server is local and its mysqld can be found without SQL.
    func kernelOnlyIfLocal(why: String) throws -> ListReport? {
        let fallback = KernelFallback(requestedPID: pid, host: connection.host, socketPath: connection.socket,
                                      port: connection.port.map { UInt16($0) }, force: scope.force)
        guard fallback.locate() != nil else { return nil }
        return try kernelOnly(why: why)
    }
}

/// `--debug-dump-sock-diag FILE`: writes every raw sock_diag reply datagram, concatenated (a
/// valid netlink message stream), so a live server's replies can be replayed in unit tests.
final class SockDiagRecorder {
    let path: String?
    /// What the core keeps while listing, when a path is given.
    let recording: SockDiagRecording?

    init(path: String?) {
        self.path = path
        recording = path == nil ? nil : SockDiagRecording()
    }

    func write() throws {
        guard let path, let recording else { return }
        let bytes = recording.bytes
        guard let f = fopen(path, "w") else { throw Failure(.usage, "cannot write --debug-dump-sock-diag \(path)") }
        let written = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
        guard fclose(f) == 0, written == bytes.count else { throw Failure(.usage, "cannot write --debug-dump-sock-diag \(path)") }
    }
}

/// `--pid`, `--force`, `--source`: which mysqld is looked at, and how (`list`, `zombies`, `reap`).
struct MysqldOptions: ParsableArguments {
    @Option(name: .long, help: "mysqld's pid as seen from here (verified: it must be mysqld and listen on the server's port).")
    var pid: Int32?

    @Flag(name: .long, help: "Accept a --pid whose process is not named mysqld or mariadbd (it must still listen).")
    var force = false

    @Option(name: .long, help: "Where the TCP table comes from: netlink (sock_diag, filtered to mysqld's ports) or proc (/proc/<pid>/net/tcp*).")
    var source: KernelSource = .netlink

    func validate() throws {
        if let pid, pid <= 0 { throw ValidationError("--pid must be a positive process id") }
    }
}

/// `--json`, `--idle` and the mysqld looked at: what `list` and `zombies` look at and how they print it.
struct ListScope: ParsableArguments {
    @Flag(name: .long, help: "Print one JSON object (the format is described in README.md).")
    var json = false

    @Option(name: .long, help: "Sessions in Sleep for at least this many seconds (TIME >= N) are zombies of class idle.")
    var idle: Int64?

    @OptionGroup var mysqld: MysqldOptions

    var pid: Int32? {
        get { mysqld.pid }
        set { mysqld.pid = newValue }
    }
    var force: Bool { mysqld.force }
    var source: KernelSource { mysqld.source }

    func validate() throws {
        if let idle, idle < 0 { throw ValidationError("--idle must be 0 or more seconds") }
    }
}
