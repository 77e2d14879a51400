import MySQLSessions

/// `reap --log-table DB.TABLE`: pt-kill's `kill_log` table (its `--log-dsn`), so that dashboards
/// built on it keep working, with myconn's columns after pt-kill's: `method` (action/method),
/// `fd`, `inode` and `outcome` (acted, skipped, failed, dry-run). pt-kill writes kill attempts
/// only; this writes every act, skip and failure. Created when missing (pt-kill's DDL, its
/// narrow VARCHARs widened); an existing pt-kill table gets the four columns added. Strings are
/// cut to the columns' lengths, as pt-kill's inserts would be in non-strict mode.
public final class KillLog {
    public let table: String
    private let quoted: String
    private var lengths: [String: Int] = [:]
    /// Columns in utf8mb3 (pt-kill's table is `DEFAULT CHARSET=utf8`): no 4-byte characters.
    private var narrow: Set<String> = []
    private var serverID: Int64 = 0

    /// `DB.TABLE`: two names, each of letters, digits, `_` and `$` (or backquoted by the caller's shell).
    public static func parse(_ text: String) -> (db: String, table: String)? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ p in
            !p.isEmpty && p.count <= 64 && p.unicodeScalars.allSatisfy { $0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "$" }
        }) else { return nil }
        return (String(parts[0]), String(parts[1]))
    }

    /// Creates the table (or adds myconn's columns to pt-kill's) on `connection`.
    /// - Throws: the server's error, for a one-line message (no such database, no privilege).
    public init(db: String, table: String, on connection: MySQLConnection) throws(MySQLError) {
        self.table = "\(db).\(table)"
        quoted = "`\(db)`.`\(table)`"
        try connection.query("""
            CREATE TABLE IF NOT EXISTS \(quoted) (
              kill_id int unsigned NOT NULL AUTO_INCREMENT, server_id bigint NOT NULL DEFAULT 0, timestamp DATETIME,
              reason TEXT, kill_error TEXT, Id bigint NOT NULL DEFAULT 0, User varchar(128) NOT NULL DEFAULT '',
              Host varchar(255) NOT NULL DEFAULT '', db varchar(64) DEFAULT NULL, Command varchar(32) NOT NULL DEFAULT '',
              Time int NOT NULL DEFAULT 0, State varchar(64) DEFAULT NULL, Info longtext, Time_ms bigint DEFAULT 0,
              method varchar(32) DEFAULT NULL, fd int DEFAULT NULL, inode bigint unsigned DEFAULT NULL, outcome varchar(16) DEFAULT NULL,
              PRIMARY KEY (kill_id))
            """)
        let columns = try connection.query("""
            SELECT COLUMN_NAME, CHARACTER_MAXIMUM_LENGTH, CHARACTER_SET_NAME FROM information_schema.COLUMNS \
            WHERE TABLE_SCHEMA = \(connection.literal(db)) AND TABLE_NAME = \(connection.literal(table))
            """).rows
        var have = Set<String>()
        for c in columns {
            guard let name = c[0] else { continue }
            have.insert(name.lowercased())
            if let n = c[1].flatMap({ Int($0) }) { lengths[name.lowercased()] = n }
            if let cs = c[2], cs.hasPrefix("utf8") && cs != "utf8mb4" { narrow.insert(name.lowercased()) }
        }
        let adds = [("method", "varchar(32)"), ("fd", "int"), ("inode", "bigint unsigned"), ("outcome", "varchar(16)")]
            .filter { !have.contains($0.0) }
        if !adds.isEmpty {
            try connection.query("ALTER TABLE \(quoted) " + adds.map { "ADD COLUMN \($0.0) \($0.1) DEFAULT NULL" }.joined(separator: ", "))
            if !have.contains("method") { lengths["method"] = 32 }
            if !have.contains("outcome") { lengths["outcome"] = 16 }
        }
        serverID = Int64(try connection.query("SELECT @@server_id").rows.first?.first.flatMap { $0 } ?? "0") ?? 0
    }

    /// One row per act, skip and failure (a `matched` event is not logged: `--print` touches nothing).
    public func write(_ events: [ReapEvent], on connection: MySQLConnection) throws(MySQLError) {
        let rows = events.filter { $0.kind != .matched }.map { e -> String in
            let row = e.victim.candidate.row
            let socket = e.target?.socket
            // Lengths count characters (code points), as CHARACTER_MAXIMUM_LENGTH does; a 4-byte
            // character in a utf8mb3 column would fail the row in strict mode: U+FFFD instead.
            func text(_ column: String, _ s: String?) -> String {
                guard var scalars = s.map({ Array($0.unicodeScalars) }) else { return "NULL" }
                if narrow.contains(column.lowercased()) { scalars = scalars.map { $0.value > 0xFFFF ? "\u{FFFD}" : $0 } }
                if let n = lengths[column.lowercased()], scalars.count > n { scalars = Array(scalars.prefix(n)) }
                var out = String.UnicodeScalarView()
                out.append(contentsOf: scalars)
                return connection.literal(String(out))
            }
            let values: [String] = [
                String(serverID), "NOW()", text("reason", e.victim.reason), text("kill_error", e.kind == .acted ? nil : e.message),
                String(row?.id ?? 0), text("User", row?.user ?? ""), text("Host", row?.host ?? ""), text("db", row?.db),
                text("Command", row?.command ?? ""), String(row?.time ?? 0), text("State", row?.state), text("Info", row?.info),
                String((row?.time ?? 0) * 1000),
                text("method", e.action.map { a in e.method.map { "\(a)/\($0)" } ?? a }), socket.map { String($0.fd) } ?? "NULL",
                socket.map { String($0.inode) } ?? "NULL", text("outcome", e.kind.rawValue),
            ]
            return "(" + values.joined(separator: ", ") + ")"
        }
        guard !rows.isEmpty else { return }
        try connection.query("""
            INSERT INTO \(quoted) (server_id, timestamp, reason, kill_error, Id, User, Host, db, Command, Time, State, Info, \
            Time_ms, method, fd, inode, outcome) VALUES 
            """ + rows.joined(separator: ", "))
    }
}
