import ArgumentParser
import MyConnCore

/// `--pid`, `--peer`, `--force`, `--source`: naming mysqld and its sockets from the kernel, for
/// the commands that act on sockets (close adds `--fd`).
struct KernelTargetOptions: ParsableArguments {
    @Option(name: .long, help: "mysqld's pid as seen from here (verified; found through SQL when omitted).")
    var pid: Int32?

    @Option(name: .long, parsing: .singleValue, help: "A client address ADDR:PORT (IPv6 as [addr]:port) of mysqld's connections; no SQL needed with --pid.")
    var peer: [String] = []

    @Flag(name: .long, help: "Accept a --pid whose process is not named mysqld or mariadbd.")
    var force = false

    @Option(name: .long, help: "Where the TCP table comes from: netlink or proc.")
    var source: KernelSource = .netlink

    func validate() throws {
        if let pid, pid <= 0 { throw ValidationError("--pid must be a positive process id") }
        for p in peer where SocketTargets.parsePeer(p) == nil {
            throw ValidationError("--peer \(p) is not ADDR:PORT (IPv6 as [addr]:port)")
        }
    }
}

/// What `close` and `probe` act on: session ids, `--zombie` classes, or `--peer`/`--fd` (with
/// `--pid`, no SQL at all; without it, mysqld's pid comes through SQL); and the SQL connection
/// that resolved them.
struct SocketTargets {
    let targets: [ActionTarget]
    /// nil when the targets came from the kernel alone.
    let connection: MySQLConnection?

    /// The checks on how targets are named. `fds` is nil for a command without `--fd`.
    static func validate(ids: [UInt64], kernel: KernelTargetOptions, fds: [Int32]?, selection: Selection) throws {
        let kernelOptions = fds == nil ? "--peer" : "--peer/--fd"
        let byKernel = !kernel.peer.isEmpty || !(fds ?? []).isEmpty
        let selectors = [!ids.isEmpty, byKernel, selection.isGiven].filter { $0 }.count
        if selectors == 0 { throw ValidationError("name targets: session ids, --zombie CLASS, --match-*/--client/--program, or \(kernelOptions)") }
        if selectors > 1 { throw ValidationError("give one of: session ids, --zombie and matchers (--match-*, --client, --program), \(kernelOptions)") }
        if (fds ?? []).contains(where: { $0 < 0 }) { throw ValidationError("--fd must be a descriptor number (0 or more)") }
    }

    /// Resolves the targets (after ``validate(ids:kernel:fds:selection:)``). `--zombie` alone
    /// finding nothing with a socket gives no targets (said on stderr, with `purpose`: "cut",
    /// "probe"); matchers finding nothing are a failure (``ExitStatus/noMatch``).
    static func resolve(ids: [UInt64], kernel: KernelTargetOptions, fds: [Int32], selection: Selection,
                        connection: ConnectionArguments, purpose: String) throws -> SocketTargets {
        let peers = kernel.peer.compactMap(parsePeer)
        if ids.isEmpty && !selection.isGiven {
            var conn: MySQLConnection?
            var pid = kernel.pid
            if pid == nil {
                // No --pid: SQL names mysqld (the owner of the server end of our connection).
                let c = try connection.connect()
                pid = try mysqldPID(c)
                conn = c
            }
            do {
                return SocketTargets(targets: try TargetResolver.fromKernel(pid: pid!, peers: peers, fds: fds, force: kernel.force,
                                                                            source: kernel.source),
                                     connection: conn)
            } catch {
                throw Failure(error)
            }
        }
        let conn = try connection.connect()
        let report = try listReport(conn, pid: kernel.pid, force: kernel.force, source: kernel.source, idle: selection.idle)
        guard selection.isGiven else {
            do {
                return SocketTargets(targets: try TargetResolver.fromSessions(ids, report: report, selfID: report.selfConnectionID),
                                     connection: conn)
            } catch {
                throw Failure(error)
            }
        }
        let found = TargetResolver.fromSelection(try selection.selection(), report: report, programs: try programs(selection, conn))
        for s in found.skipped { printError("myconn: warning: session \(s.id) skipped: \(s.why)") }
        if found.targets.isEmpty {
            if selection.anyMatcher {
                throw Failure(found.skipped.isEmpty ? .noMatch : .badTarget,
                              found.skipped.isEmpty ? "no session matches \(selection.summary); nothing touched"
                                                    : "the sessions matching \(selection.summary) have no proven socket to \(purpose); nothing touched")
            }
            printError("myconn: no \(selection.zombie ?? "") zombies with a socket to \(purpose); nothing to do")
        }
        return SocketTargets(targets: found.targets, connection: conn)
    }

    /// The `list` report selections are made from (the same join and proofs).
    static func listReport(_ conn: MySQLConnection, pid: Int32?, force: Bool, source: KernelSource = .netlink, idle: Int64?) throws -> ListReport {
        do {
            var lister = Lister(requestedPID: pid, kernelSource: source)
            lister.forcePID = force
            lister.idleSeconds = idle
            return try lister.run(source: conn)
        } catch {
            throw Failure(error)
        }
    }

    /// program_name by session, when `--program` asks for it; refused when performance_schema is off.
    static func programs(_ selection: Selection, _ conn: MySQLConnection) throws -> [UInt64: String] {
        guard selection.program != nil else { return [:] }
        let names: [UInt64: String]?
        do { names = try conn.programNames() } catch { throw Failure(.internalError, "reading session_connect_attrs failed: \(error)") }
        guard let names else {
            throw Failure(.badTarget, "--program reads performance_schema.session_connect_attrs, and this server runs with performance_schema=OFF: start it with --performance-schema=ON, or select by --match-user, --match-host or --client")
        }
        return names
    }

    /// mysqld's pid through our own SQL connection.
    static func mysqldPID(_ c: MySQLConnection) throws -> Int32 {
        do { return try MysqldLocator().locate(serving: c).pid } catch { throw Failure(error) }
    }

    /// `ADDR:PORT`, IPv6 as `[addr]:port`.
    static func parsePeer(_ text: String) -> SocketAddress? { SocketAddress(endpoint: text) }
}
