#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import LinuxKernel
import MySQLSessions
import ProcFS

/// What `list` needs from the SQL side; ``MySQLConnection`` is the real one.
public protocol SessionSource {
    func serverFacts() throws(MySQLError) -> ServerFacts
    func processList() throws(MySQLError) -> [ProcessListRow]
    func performanceSchemaSocketFDs() throws(MySQLError) -> [UInt64: Int32]
    /// The server's `Uptime` in seconds, nil when it cannot be read.
    func uptimeSeconds() -> UInt64?
    func presentSessions(_ ids: [UInt64]) throws(MySQLError) -> [UInt64: Int32?]
    /// Our own connection's descriptor in this process.
    var socketDescriptor: Int32 { get }
}

extension MySQLConnection: SessionSource {}

/// Why `list` could not produce a report.
public enum ListError: Error, Sendable {
    case sql(MySQLError)
    case locate(LocateError)
    case kernel(ProcError)
}

/// Runs `myconn list`: processlist, mysqld's kernel view, the join.
///
/// Order matters for exactness: the processlist is read first, the kernel second; only the
/// numbers of mysqld's descriptors are listed while the processlist is read (a descriptor opened
/// after that listing is simply not seen: its session's fd is left unknown, never guessed), and
/// what each number refers to (readlink) is read after the processlist. A
/// unix-socket session proven through its thread or performance_schema is kept only if the
/// same session (same thread) still exists after the kernel was read, so its descriptor
/// cannot have been handed to a newer connection in between. (Session ids are never reused,
/// a session keeps its socket, and with one thread per connection its thread, for life: present
/// at the processlist and at the re-check means present, on that fd, throughout.)
public struct Lister {
    public var proc: ProcReader
    public var includeListening: Bool
    public var requestedPID: Int32?
    /// `--force`: a `--pid` not named mysqld/mariadbd is taken (``MysqldLocator/verify(pid:force:)``).
    public var forcePID = false
    public var kernelSource: KernelSource
    /// `--idle SECONDS`: sessions in Sleep longer than this are zombies of class `idle`.
    public var idleSeconds: Int64?
    /// Keeps the raw sock_diag replies of the kernel read (the hidden `--debug-dump-sock-diag`).
    public var recording: SockDiagRecording?
    /// `--clients`: look up the processes at the other end (``ClientLookup``; costs a pass over
    /// every process's descriptors).
    public var clients = false
    /// Where the kernel read gets its sock_diag client; nil: a netlink socket in mysqld's
    /// network namespace. Tests give a `ReplayTransport` of recorded bytes here.
    public var openSockDiag: SockDiagOpener?

    public init(proc: ProcReader = ProcReader(), includeListening: Bool = false, requestedPID: Int32? = nil,
                kernelSource: KernelSource = .netlink, recording: SockDiagRecording? = nil) {
        self.proc = proc
        self.includeListening = includeListening
        self.requestedPID = requestedPID
        self.kernelSource = kernelSource
        self.recording = recording
    }

    public func run(source: some SessionSource) throws(ListError) -> ListReport {
        let facts: ServerFacts
        do { facts = try source.serverFacts() } catch { throw .sql(error) }
        let mysqld: MysqldProcess
        do {
            mysqld = try MysqldLocator(proc: proc).locate(connectionFD: source.socketDescriptor,
                                                         serverPort: facts.port, requested: requestedPID, force: forcePID,
                                                         serverUptime: { source.uptimeSeconds() })
        } catch {
            throw .locate(error)
        }
        // mysqld's descriptor numbers are listed on a thread while the server answers the
        // processlist (getdents of /proc/<pid>/fd: 13 ms at 10,000 descriptors); their targets
        // are read after it, in the kernel read.
        let proc = self.proc
        let pid = mysqld.pid
        let listing = try? OSThread { () -> FDDirectory? in try? FDDirectory(reader: proc, pid: pid) }
        var rows: [ProcessListRow]
        do {
            rows = try source.processList()
            rows.sort { $0.id < $1.id }  // in place: a sorted copy is 1 MB of new pages at 5,000 sessions
        } catch {
            _ = listing?.join()
            throw .sql(error)
        }
        let listed = listing?.join() ?? nil
        var warnings: [String] = []
        if !facts.hasProcessPrivilege {
            warnings.append("without the PROCESS privilege the processlist shows only this user's own sessions")
        }
        let namespaces = MysqldNamespaces(pid: mysqld.pid, proc: proc)
        let kernel: KernelSnapshot
        do {
            kernel = try KernelSnapshot.read(pid: mysqld.pid, proc: proc, source: kernelSource, serverPort: facts.port,
                                             recording: recording, namespaces: namespaces, openSockDiag: openSockDiag,
                                             listing: listed)
        } catch {
            throw .kernel(error)
        }
        if mysqld.listenerUnchecked {
            do { try MysqldLocator(proc: proc).requireListener(pid: mysqld.pid, kernel: kernel, port: facts.port) } catch { throw .locate(error) }
        }
        var incomplete = false
        if let why = kernel.fallbackReason { warnings.append("TCP table read from /proc instead of sock_diag: \(why)") }
        if kernel.fds == nil {
            incomplete = true
            warnings.append("columns fd (all sessions) and unix-socket sockets missing: \(SessionJoin.fdReason(kernel.fdError))")
        }

        let unixEvidence = kernel.fds == nil ? [:] : gatherUnixEvidence(rows: rows, facts: facts, pid: mysqld.pid, source: source,
                                                                                 namespaces: namespaces)
        var selfPeer: SocketAddress?
        if case .inet(let local, _)? = try? SocketEndpoints(fd: source.socketDescriptor) { selfPeer = local }

        var join = SessionJoin(rows: rows, selfID: facts.connectionID, selfPeer: selfPeer, serverPort: facts.port,
                               kernel: kernel, unixEvidence: unixEvidence, includeListening: includeListening)
        if selfPeer == nil, let peers = kernel.unixPeers, let mine = try? inodeOf(fd: source.socketDescriptor) {
            join.selfServerUnixInode = peers.first { $0.value == mine }?.key
        }
        let joined = join.run()
        var report = ListReport(server: ServerView(pid: mysqld.pid, version: facts.version, port: facts.port,
                                             kernelSource: kernel.tcpSource),
                          sessions: joined.sessions, unmatchedSockets: joined.unmatchedSockets,
                          listeningSockets: joined.listeningSockets, warnings: warnings + joined.warnings,
                          kernelViewIncomplete: incomplete, selfConnectionID: facts.connectionID)
        report.server.sameNetworkNamespace = namespaces.sameNetwork
        report.completeProcessList = facts.hasProcessPrivilege
        ZombieRules.classify(&report, completeProcessList: facts.hasProcessPrivilege, idleSeconds: idleSeconds)
        if clients { report.warnings += ClientLookup(proc: proc).attach(to: &report, kernel: kernel, namespaces: namespaces) }
        return report
    }

    /// mysqld's connections from the kernel alone (no SQL): every connected socket of mysqld is
    /// listed under `unmatchedSockets` (no session is known), with `server.sql` false.
    public func runKernelOnly(pid: Int32, why: String?) throws(ListError) -> ListReport {
        let namespaces = MysqldNamespaces(pid: pid, proc: proc)
        let kernel: KernelSnapshot
        do {
            kernel = try KernelSnapshot.read(pid: pid, proc: proc, source: kernelSource, serverPort: 0, recording: recording,
                                             namespaces: namespaces, openSockDiag: openSockDiag)
        } catch {
            throw .kernel(error)
        }
        guard kernel.fds != nil else {
            throw .kernel(kernel.fdError ?? .permissionDenied(path: proc.path(pid, "fd").string))
        }
        do { try MysqldLocator(proc: proc).requireListener(pid: pid, kernel: kernel, port: nil) } catch { throw .locate(error) }
        let joined = SessionJoin(rows: [], selfID: nil, selfPeer: nil, serverPort: 0, kernel: kernel,
                                 includeListening: includeListening).run()
        var warnings = why.map { [$0] } ?? []
        if let reason = kernel.fallbackReason { warnings.append("TCP table read from /proc instead of sock_diag: \(reason)") }
        var report = ListReport(server: ServerView(pid: pid, version: nil, port: nil, kernelSource: kernel.tcpSource, sql: false),
                                sessions: [], unmatchedSockets: joined.unmatchedSockets, listeningSockets: joined.listeningSockets,
                                warnings: warnings + joined.warnings, kernelViewIncomplete: false)
        report.server.sameNetworkNamespace = namespaces.sameNetwork
        if clients { report.warnings += ClientLookup(proc: proc).attach(to: &report, kernel: kernel, namespaces: namespaces) }
        return report
    }

    /// Candidate descriptors for unix-socket sessions, kept only where the session outlived the kernel read.
    func gatherUnixEvidence(rows: [ProcessListRow], facts: ServerFacts, pid: Int32,
                            source: some SessionSource, namespaces: MysqldNamespaces? = nil) -> [UInt64: UnixSocketEvidence] {
        var unixRows = rows.filter { $0.id != facts.connectionID && SessionEndpoint.isUnixSocket(host: $0.host) }
        guard !unixRows.isEmpty else { return [:] }
        var evidence: [UInt64: UnixSocketEvidence] = [:]
        // MariaDB's processlist comes without TIDs (see processList()): ask for these sessions'.
        // Asked after the kernel read; the re-check below compares with them, so a session
        // that changed threads or ended in between is still caught.
        let withoutTID = unixRows.filter { $0.tid == nil }.map(\.id)
        if !withoutTID.isEmpty, let tids = try? source.presentSessions(withoutTID) {
            for i in unixRows.indices where unixRows[i].tid == nil {
                guard let tid = tids[unixRows[i].id] else {
                    evidence[unixRows[i].id] = .notProven("the session ended while its socket was being read")
                    continue
                }
                unixRows[i].tid = tid
            }
        }
        let psFDs = facts.performanceSchema ? ((try? source.performanceSchemaSocketFDs()) ?? [:]) : [:]
        // Our own session is alive throughout: performance_schema's word on it needs no re-check.
        if let mine = psFDs[facts.connectionID] { evidence[facts.connectionID] = .fd(mine, .performanceSchema) }
        let tidCounts = Dictionary(unixRows.compactMap { $0.tid }.map { ($0, 1) }, uniquingKeysWith: +)
        let probe = ThreadSocketProbe(proc: proc)
        // The server reports thread ids of its own pid namespace (a container's): translate them,
        // never read them as ours, or another thread's socket could be taken for the session's.
        let samePID = (namespaces ?? MysqldNamespaces(pid: pid, proc: proc)).samePID
        let tidMap: [Int32: Int32]? = samePID == true ? nil : proc.namespacedThreadIDs(pid: pid)
        for row in unixRows where evidence[row.id] == nil {
            if let fd = psFDs[row.id] {
                evidence[row.id] = .fd(fd, .performanceSchema)
            } else if !facts.dedicatedThreads {
                evidence[row.id] = .notProven("thread_handling=\(facts.threadHandling) shares threads between sessions; enable performance_schema for an exact answer")
            } else if let reported = row.tid, tidCounts[reported] == 1 {
                guard let tid = tidMap == nil ? reported : tidMap?[reported] else {
                    evidence[row.id] = .notProven("its thread \(reported) (in mysqld's pid namespace) was not found; enable performance_schema for an exact answer")
                    continue
                }
                switch probe.probe(pid: pid, tid: tid) {
                case .fd(let fd): evidence[row.id] = .fd(fd, .thread)
                case .notProven(let why): evidence[row.id] = .notProven(why + "; enable performance_schema for an exact answer")
                }
            } else {
                evidence[row.id] = .notProven("the server gives no thread id for it; enable performance_schema for an exact answer")
            }
        }
        let proven = evidence.compactMap { id, e -> UInt64? in
            if case .fd = e, id != facts.connectionID { return id } else { return nil }
        }
        guard !proven.isEmpty else { return evidence }
        guard let present = try? source.presentSessions(proven.sorted()) else {
            for id in proven { evidence[id] = .notProven("could not re-check that the session still exists") }
            return evidence
        }
        let tidByID = Dictionary(unixRows.map { ($0.id, $0.tid) }, uniquingKeysWith: { a, _ in a })
        for id in proven {
            guard let nowTID = present[id] else {
                evidence[id] = .notProven("the session ended while its socket was being read")
                continue
            }
            if nowTID != tidByID[id] ?? nil {
                evidence[id] = .notProven("the session changed threads while its socket was being read")
            }
        }
        return evidence
    }
}
