import ArgumentParser
import MyConnCore
import MySQLSessions
import ProcFS

/// What `close` and `probe` act on: session ids, `--zombie` classes, or, without SQL, `--pid`
/// with `--peer` (and, for close, `--fd`); and the SQL connection that resolved them.
struct SocketTargets {
    let targets: [CloseTarget]
    /// nil when the targets came from the kernel alone.
    let connection: MySQLConnection?

    /// Which of these session ids still exist now; nil without SQL.
    var presentSessions: (([UInt64]) -> Set<UInt64>?)? {
        connection.map { c in { ids in (try? c.presentSessions(ids)).map { Set($0.keys) } } }
    }

    /// The checks on how targets are named. `fds` is nil for a command without `--fd`.
    static func validate(ids: [UInt64], peers: [String], fds: [Int32]?, pid: Int32?, selection: ZombieSelection) throws {
        let kernelOptions = fds == nil ? "--peer" : "--peer/--fd"
        let kernelOnly = !peers.isEmpty || !(fds ?? []).isEmpty
        let selectors = [!ids.isEmpty, kernelOnly, selection.zombie != nil].filter { $0 }.count
        if selectors == 0 { throw ValidationError("name targets: session ids, --zombie CLASS, or --pid with \(kernelOptions)") }
        if selectors > 1 { throw ValidationError("give one of: session ids, --zombie, \(kernelOptions)") }
        if kernelOnly && pid == nil {
            throw ValidationError(fds == nil ? "--peer needs --pid (mysqld's pid)" : "--peer and --fd need --pid (mysqld's pid)")
        }
        if let pid, pid <= 0 { throw ValidationError("--pid must be a positive process id") }
        for p in peers where parsePeer(p) == nil {
            throw ValidationError("--peer \(p) is not ADDR:PORT (IPv6 as [addr]:port)")
        }
        if (fds ?? []).contains(where: { $0 < 0 }) { throw ValidationError("--fd must be a descriptor number (0 or more)") }
    }

    /// Resolves the targets (after ``validate(ids:peers:fds:pid:selection:)``); nil when
    /// `--zombie` found nothing with a socket (said on stderr, with `purpose`: "cut", "probe").
    static func resolve(ids: [UInt64], peers: [String], fds: [Int32], pid: Int32?, force: Bool, source: KernelSource,
                        selection: ZombieSelection, connection: ConnectionArguments, purpose: String) throws -> SocketTargets? {
        if ids.isEmpty && selection.classes == nil {
            do {
                return SocketTargets(targets: try TargetResolver.fromKernel(pid: pid!, peers: peers.compactMap(parsePeer), fds: fds,
                                                                            force: force, proc: ProcReader(), source: source),
                                     connection: nil)
            } catch {
                throw CloseCommand.exit(for: error)
            }
        }
        let conn = try connection.connect()
        let report: ListReport
        do {
            var lister = Lister(requestedPID: pid, kernelSource: source)
            lister.idleSeconds = selection.idle
            report = try lister.run(source: conn)
        } catch {
            throw ListCommand.exit(for: error)
        }
        guard let classes = selection.classes else {
            do {
                return SocketTargets(targets: try TargetResolver.fromSessions(ids, report: report, selfID: report.selfConnectionID),
                                     connection: conn)
            } catch {
                throw CloseCommand.exit(for: error)
            }
        }
        let found = TargetResolver.fromZombies(classes, report: report)
        for s in found.skipped { printError("myconn: warning: session \(s.id) skipped: \(s.why)") }
        guard !found.targets.isEmpty else {
            printError("myconn: no \(selection.zombie ?? "") zombies with a socket to \(purpose); nothing to do")
            return nil
        }
        return SocketTargets(targets: found.targets, connection: conn)
    }

    /// `ADDR:PORT`, IPv6 as `[addr]:port`.
    static func parsePeer(_ text: String) -> SocketAddress? {
        var t = Substring(text)
        var host: Substring
        if t.hasPrefix("[") {
            guard let close = t.firstIndex(of: "]") else { return nil }
            host = t[t.index(after: t.startIndex)..<close]
            t = t[t.index(after: close)...]
            guard t.hasPrefix(":") else { return nil }
            t = t.dropFirst()
        } else {
            guard let colon = t.lastIndex(of: ":") else { return nil }
            host = t[..<colon]
            t = t[t.index(after: colon)...]
        }
        guard let port = UInt16(t), let ip = IPAddress(text: String(host)) else { return nil }
        return SocketAddress(ip: ip, port: port)
    }
}
