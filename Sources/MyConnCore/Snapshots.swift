import MySQLSessions
import ProcFS

/// When SQL cannot be had, the mysqld whose sockets can still be listed from the kernel alone:
/// the one named by `--pid`, or the local one listening on `-S`/`-P`. Shared by `list` (one look)
/// and ``SnapshotTaker`` (every look of `top`).
public struct KernelFallback: Sendable {
    public var requestedPID: Int32?
    public var host: String?
    public var socketPath: String?
    public var port: UInt16?
    public var force: Bool

    public init(requestedPID: Int32?, host: String?, socketPath: String?, port: UInt16?, force: Bool) {
        self.requestedPID = requestedPID
        self.host = host
        self.socketPath = socketPath
        self.port = port
        self.force = force
    }

    /// A login that failed this way leaves the kernel's view worth showing: the server is full
    /// (Too many connections) or does not answer. A refused password is reported as itself.
    public static func applies(to error: MySQLError) -> Bool {
        error.kind == .tooManyConnections || error.kind == .cannotConnect || error.kind == .timedOut
    }

    /// The mysqld to list without SQL, when the server is local and can be found without SQL;
    /// nil otherwise (no guessing).
    public func locate(proc: ProcReader = ProcReader()) -> MysqldProcess? {
        let local = [nil, "localhost", "127.0.0.1", "::1"].contains(host)
        guard requestedPID != nil || local, requestedPID != nil || socketPath != nil || port != nil else { return nil }
        return try? MysqldLocator(proc: proc).locateWithoutSQL(requested: requestedPID, socketPath: socketPath, port: port, force: force)
    }
}

/// One look at the server, as a front end that looks again and again shows it.
public struct Snapshot: Sendable {
    public enum Mode: Sendable, Equatable {
        /// The processlist joined with the kernel's view.
        case sql
        /// SQL could not be had (why); mysqld's connections from the kernel alone.
        case kernelOnly(String)
        /// Neither: no report (why).
        case unavailable(String)
    }

    public var mode: Mode
    /// nil only when `mode` is `.unavailable`.
    public var report: ListReport?
    /// The server's Uptime, where SQL gave it.
    public var uptimeSeconds: UInt64?
    /// What the look cost, wall clock.
    public var milliseconds: Double
    /// Counts up from 1 with each look.
    public var sequence: UInt64

    public init(mode: Mode, report: ListReport?, uptimeSeconds: UInt64?, milliseconds: Double, sequence: UInt64) {
        self.mode = mode
        self.report = report
        self.uptimeSeconds = uptimeSeconds
        self.milliseconds = milliseconds
        self.sequence = sequence
    }
}

/// Takes ``Snapshot``s for `top` (and any front end that watches): keeps one SQL connection,
/// makes it again when it was lost, and falls back to the kernel-only view while SQL cannot be
/// had. Not thread-safe: one thread takes the looks.
public final class SnapshotTaker {
    public typealias Connect = () -> Result<MySQLConnection, MySQLError>

    public var lister: Lister
    public var fallback: KernelFallback
    private let connect: Connect
    private var connection: MySQLConnection?
    private var sequence: UInt64 = 0

    public init(lister: Lister, fallback: KernelFallback, connect: @escaping Connect) {
        self.lister = lister
        self.fallback = fallback
        self.connect = connect
    }

    /// The SQL connection the looks go through, while there is one: a front end's lookups and
    /// actions between looks use it too (one session of myconn's, left out of every report).
    public var sqlConnection: MySQLConnection? { connection }

    /// The session id of this taker's own connection (left out of every report).
    public private(set) var ownSessionID: UInt64?

    /// One look; never throws: what went wrong is the snapshot's mode.
    public func take(clients: Bool = false) -> Snapshot {
        let start = Deadline.now()
        sequence += 1
        var snap = look(clients: clients)
        snap.milliseconds = (Deadline.now() - start) * 1000
        snap.sequence = sequence
        return snap
    }

    /// The open transaction of a session (`information_schema.INNODB_TRX`), through this taker's
    /// connection: nil when it has none, or when SQL is not available.
    public func transaction(of id: UInt64) -> OpenTransaction? {
        guard let connection else { return nil }
        let sql = "SELECT trx_state, TIMESTAMPDIFF(SECOND, trx_started, NOW()), trx_rows_locked, trx_rows_modified, "
            + "trx_isolation_level FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id = \(id)"
        guard let r = try? connection.query(sql), let row = r.rows.first else { return nil }
        return OpenTransaction(state: row[0] ?? "?", ageSeconds: row[1].flatMap { UInt64($0) },
                               rowsLocked: row[2].flatMap { UInt64($0) }, rowsModified: row[3].flatMap { UInt64($0) },
                               isolation: row[4])
    }

    private func look(clients: Bool) -> Snapshot {
        var lister = self.lister
        lister.clients = clients
        if connection == nil {
            switch connect() {
            case .success(let c):
                connection = c
            case .failure(let error):
                return kernelOnly(lister, why: "cannot log in (\(error))", error: error)
            }
        }
        guard let connection else { return unavailable("no connection") }
        do {
            let report = try lister.run(source: connection)
            ownSessionID = report.selfConnectionID
            return Snapshot(mode: .sql, report: report, uptimeSeconds: connection.uptimeSeconds(), milliseconds: 0, sequence: 0)
        } catch {
            switch error {
            case .sql(let e):
                // The connection is of no more use (lost, timed out): make a new one next time.
                self.connection = nil
                ownSessionID = nil
                return kernelOnly(lister, why: "the server stopped answering (\(e))", error: e)
            case .locate(let e):
                return unavailable("mysqld not found: \(e)")
            case .kernel(let e):
                return unavailable("mysqld's descriptors cannot be read: \(e)")
            }
        }
    }

    private func kernelOnly(_ lister: Lister, why: String, error: MySQLError) -> Snapshot {
        guard KernelFallback.applies(to: error), let found = fallback.locate(proc: lister.proc) else {
            return unavailable(why)
        }
        do {
            let report = try lister.runKernelOnly(pid: found.pid, why: nil)
            return Snapshot(mode: .kernelOnly(why), report: report, uptimeSeconds: nil, milliseconds: 0, sequence: 0)
        } catch {
            return unavailable("\(why); the kernel-only view failed too: \(error)")
        }
    }

    private func unavailable(_ why: String) -> Snapshot {
        Snapshot(mode: .unavailable(why), report: nil, uptimeSeconds: nil, milliseconds: 0, sequence: 0)
    }

}

/// A session's open InnoDB transaction: what a DBA checks before killing it.
public struct OpenTransaction: Sendable, Equatable {
    public var state: String
    public var ageSeconds: UInt64?
    public var rowsLocked: UInt64?
    public var rowsModified: UInt64?
    public var isolation: String?
}
