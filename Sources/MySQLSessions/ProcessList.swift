/// One row of the processlist (`information_schema.PROCESSLIST`).
public struct ProcessListRow: Sendable, Equatable {
    public var id: UInt64
    public var user: String?
    public var host: String?
    public var db: String?
    public var command: String?
    public var time: Int64?
    public var state: String?
    public var info: String?
    /// The OS thread serving the session: MariaDB's `TID`, or MySQL's
    /// `performance_schema.threads.THREAD_OS_ID`; nil where the server has neither.
    public var tid: Int32?
    /// MariaDB's `QUERY_ID`: the statement the session runs (or ran last); nil where the server
    /// has none, or where it was not read (only ``MySQLConnection/sessions(_:)`` reads it).
    public var queryID: UInt64?

    public init(id: UInt64, user: String? = nil, host: String? = nil, db: String? = nil, command: String? = nil,
                time: Int64? = nil, state: String? = nil, info: String? = nil, tid: Int32? = nil, queryID: UInt64? = nil) {
        self.id = id
        self.user = user
        self.host = host
        self.db = db
        self.command = command
        self.time = time
        self.state = state
        self.info = info
        self.tid = tid
        self.queryID = queryID
    }
}

/// What the server says about itself and the session that asks.
public struct ServerFacts: Sendable, Equatable {
    public var version: String
    public var port: UInt16
    public var connectionID: UInt64
    public var performanceSchema: Bool
    /// `one-thread-per-connection`, `pool-of-threads`, `no-threads`, ...
    public var threadHandling: String
    /// Whether the current user holds PROCESS (else the processlist shows only its own sessions).
    public var hasProcessPrivilege: Bool

    public init(version: String, port: UInt16, connectionID: UInt64, performanceSchema: Bool,
                threadHandling: String, hasProcessPrivilege: Bool) {
        self.version = version
        self.port = port
        self.connectionID = connectionID
        self.performanceSchema = performanceSchema
        self.threadHandling = threadHandling
        self.hasProcessPrivilege = hasProcessPrivilege
    }

    /// Each session has its own OS thread for its whole life: a TID then names one session.
    public var dedicatedThreads: Bool { threadHandling == "one-thread-per-connection" }
}

extension MySQLConnection {
    /// Reads ``ServerFacts`` in one round trip.
    public func serverFacts() throws(MySQLError) -> ServerFacts {
        // information_schema.USER_PRIVILEGES lists the current account's global privileges,
        // one row each, also when granted as ALL PRIVILEGES.
        let r = try query("""
            SELECT @@version, @@port, CONNECTION_ID(), @@performance_schema, @@thread_handling, \
            (SELECT COUNT(*) FROM information_schema.USER_PRIVILEGES WHERE PRIVILEGE_TYPE IN ('PROCESS', 'SUPER'))
            """)
        guard let row = r.rows.first, row.count == 6 else {
            throw MySQLError(kind: .query, code: 0, message: "the server returned no row for its own variables")
        }
        return ServerFacts(
            version: row[0] ?? serverVersion,
            port: UInt16(row[1] ?? "") ?? 0,
            connectionID: UInt64(row[2] ?? "") ?? 0,
            performanceSchema: row[3] == "1",
            threadHandling: row[4] ?? "",
            hasProcessPrivilege: (Int(row[5] ?? "0") ?? 0) > 0)
    }

    /// Seconds since the server started (status variable `Uptime`). Not part of
    /// ``serverFacts()``: the server sums every session's status to answer (5 ms at 5,000 sessions).
    public func uptimeSeconds() -> UInt64? {
        guard let r = try? query("SHOW GLOBAL STATUS LIKE 'Uptime'"), let row = r.rows.first, row.count == 2 else { return nil }
        return UInt64(row[1] ?? "")
    }

    /// The processlist, with each session's OS thread where the server tells it in the same
    /// statement (MySQL with performance_schema). MariaDB: `SHOW FULL PROCESSLIST`, which costs
    /// the server half of what `information_schema.PROCESSLIST` does (12 against 23 ms at 5,000
    /// sessions: no temporary table); its TIDs are asked for where needed, by ``presentSessions(_:)``.
    public func processList() throws(MySQLError) -> [ProcessListRow] {
        if isMariaDB {
            var rows: [ProcessListRow] = []
            try forEachRow("SHOW FULL PROCESSLIST") { c in
                guard let id = c.unsigned(0) else { return }
                rows.append(ProcessListRow(id: id, user: c.string(1), host: c.string(2), db: c.string(3),
                                           command: c.string(4), time: c.unsigned(5).map { Int64(clamping: $0) },
                                           state: c.string(6), info: c.string(7)))
            }
            return rows
        }
        let r = try query("SELECT ID, USER, HOST, DB, COMMAND, TIME, STATE, INFO FROM information_schema.PROCESSLIST")
        var rows = r.rows.compactMap(Self.row)
        // MySQL: the OS thread is in performance_schema, when it is on.
        if let t = try? query("SELECT PROCESSLIST_ID, THREAD_OS_ID FROM performance_schema.threads WHERE PROCESSLIST_ID IS NOT NULL") {
            var tids: [UInt64: Int32] = [:]
            for row in t.rows {
                if let id = UInt64(row[0] ?? ""), let tid = Int32(row[1] ?? "") { tids[id] = tid }
            }
            for i in rows.indices { rows[i].tid = tids[rows[i].id] }
        }
        return rows
    }

    /// The sessions among `ids` that still exist, with their OS thread (nil where unknown).
    public func presentSessions(_ ids: [UInt64]) throws(MySQLError) -> [UInt64: Int32?] {
        guard !ids.isEmpty else { return [:] }
        let list = ids.map(String.init).joined(separator: ",")
        var out: [UInt64: Int32?] = [:]
        if isMariaDB {
            let r = try query("SELECT ID, TID FROM information_schema.PROCESSLIST WHERE ID IN (\(list))")
            for row in r.rows { if let id = UInt64(row[0] ?? "") { out[id] = Int32(row[1] ?? "") } }
        } else {
            let r = try query("SELECT PROCESSLIST_ID, THREAD_OS_ID FROM performance_schema.threads WHERE PROCESSLIST_ID IN (\(list))")
            for row in r.rows { if let id = UInt64(row[0] ?? "") { out[id] = Int32(row[1] ?? "") } }
        }
        return out
    }

    /// Each session's socket descriptor inside mysqld, from `performance_schema.socket_instances`
    /// (`SOCKET_ID` is the descriptor). Empty when performance_schema is off.
    public func performanceSchemaSocketFDs() throws(MySQLError) -> [UInt64: Int32] {
        let r = try query("""
            SELECT t.PROCESSLIST_ID, s.SOCKET_ID FROM performance_schema.socket_instances s \
            JOIN performance_schema.threads t ON t.THREAD_ID = s.THREAD_ID \
            WHERE t.PROCESSLIST_ID IS NOT NULL
            """)
        var out: [UInt64: Int32] = [:]
        var seen: [UInt64: Int] = [:]
        for row in r.rows {
            guard let id = UInt64(row[0] ?? ""), let fd = Int32(row[1] ?? "") else { continue }
            seen[id, default: 0] += 1
            out[id] = fd
        }
        // A session with two socket rows names no single descriptor.
        for (id, n) in seen where n > 1 { out[id] = nil }
        return out
    }

    /// Each session's `program_name` connection attribute
    /// (`performance_schema.session_connect_attrs`); nil when performance_schema is off, where
    /// the server keeps no attributes to read.
    public func programNames() throws(MySQLError) -> [UInt64: String]? {
        let on = try query("SELECT @@performance_schema").rows.first?.first.flatMap { $0 }
        guard on == "1" || on?.uppercased() == "ON" else { return nil }
        let r = try query("""
            SELECT PROCESSLIST_ID, ATTR_VALUE FROM performance_schema.session_connect_attrs \
            WHERE ATTR_NAME = 'program_name'
            """)
        var out: [UInt64: String] = [:]
        for row in r.rows { if let id = UInt64(row[0] ?? ""), let v = row[1] { out[id] = v } }
        return out
    }

    static func row(_ r: [String?]) -> ProcessListRow? {
        guard let id = UInt64(r[0] ?? "") else { return nil }
        return ProcessListRow(id: id, user: r[1], host: r[2], db: r[3], command: r[4],
                              time: Int64(r[5] ?? ""), state: r[6], info: r[7],
                              tid: r.count > 8 ? Int32(r[8] ?? "") : nil)
    }
}

extension MySQLConnection {
    /// `KILL CONNECTION id`, or `KILL QUERY id` (the session stays). Needs CONNECTION ADMIN or SUPER,
    /// or the session being the user's own.
    public func kill(_ id: UInt64, queryOnly: Bool) throws(MySQLError) {
        try query("KILL \(queryOnly ? "QUERY" : "CONNECTION") \(id)")
    }

    /// Every session's HOST now, by id (a socket's owner, looked for by its peer).
    public func hosts() throws(MySQLError) -> [UInt64: String] {
        var out: [UInt64: String] = [:]
        for r in try query("SELECT ID, HOST FROM information_schema.PROCESSLIST").rows {
            if let id = UInt64(r[0] ?? ""), let h = r[1] { out[id] = h }
        }
        return out
    }

    /// The processlist rows of `ids` that exist now, with MariaDB's QUERY_ID.
    public func sessions(_ ids: [UInt64]) throws(MySQLError) -> [ProcessListRow] {
        guard !ids.isEmpty else { return [] }
        let list = ids.map(String.init).joined(separator: ",")
        let mariadb = isMariaDB
        let r = try query("SELECT ID, USER, HOST, DB, COMMAND, TIME, STATE, INFO\(mariadb ? ", NULL, QUERY_ID" : "") "
                          + "FROM information_schema.PROCESSLIST WHERE ID IN (\(list))")
        return r.rows.compactMap { c in
            var row = Self.row(c)
            if mariadb, c.count > 9 { row?.queryID = UInt64(c[9] ?? "") }
            return row
        }
    }

    /// MariaDB's `KILL QUERY ID q`: ends statement `q` only, never the one after it.
    public func killStatement(queryID: UInt64) throws(MySQLError) {
        try query("KILL QUERY ID \(queryID)")
    }
}
