import Foundation
import MySQLSessions
import ProcFS
import Testing
@testable import MyConnCore

/// The matchers over the processlist recorded from MariaDB 10.11 in
/// Fixtures/mariadb-10.11-netlink-tree (its README says how): sessions 4-10 idle and in SELECT
/// SLEEP(600) over 127.0.0.1, ::1 and the unix socket; 11 is the recording session (myconn's own
/// here). Two rows of shapes that recording has none of are added, as MariaDB shows them: a
/// replica's `Binlog Dump` thread and the event scheduler's `Daemon` (empty HOST).
@Suite("selection: matchers AND together, exact or /regex/, never the server's threads or myconn's own session")
struct SessionSelectionTests {
    let report: ListReport

    init() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/mariadb-10.11-netlink-tree")
        let text = try String(contentsOf: dir.appendingPathComponent("processlist.tsv"), encoding: .utf8)
        var rows = text.split(separator: "\n").dropFirst().map { line in
            let c = line.split(separator: "\t", omittingEmptySubsequences: false).map { $0 == "NULL" ? nil : String($0) }
            return ProcessListRow(id: UInt64(c[0]!)!, user: c[1], host: c[2], db: c[3], command: c[4],
                                  time: Int64(c[5] ?? ""), state: c[6], info: c[7], tid: Int32(c[8] ?? ""))
        }
        rows.append(ProcessListRow(id: 20, user: "repl", host: "10.0.0.2:40000", command: "Binlog Dump", time: 900,
                                   state: "Master has sent all binlog to slave; waiting for more updates"))
        rows.append(ProcessListRow(id: 21, user: "event_scheduler", host: "", command: "Daemon", time: 900,
                                   state: "Waiting on empty queue"))
        let orphan = SocketView(transport: .tcp4, fd: 60, inode: 999, peer: SocketAddress(ip: IPAddress(text: "127.0.0.1")!, port: 41000))
        report = ListReport(server: ServerView(pid: 17167, version: "10.11.19-MariaDB-0+deb12u1", port: 33129, kernelSource: .netlink),
                            sessions: rows.map { SessionView(row: $0) }, unmatchedSockets: [orphan], listeningSockets: [],
                            warnings: [], kernelViewIncomplete: false, selfConnectionID: 11)
    }

    func ids(_ m: SessionMatcher, classes: [ZombieClass]? = nil, programs: [UInt64: String] = [:]) -> [UInt64] {
        SessionSelection(classes: classes, matcher: m).select(report, programs: programs).sessions.map(\.row.id)
    }

    func matcher(_ set: (inout SessionMatcher) throws -> Void) rethrows -> SessionMatcher {
        var m = SessionMatcher()
        try set(&m)
        return m
    }

    @Test("--match-host is the address without the port; localhost is the unix socket; an address matches its IPv4-mapped form")
    func host() throws {
        #expect(ids(try matcher { $0.host = try TextMatch("127.0.0.1") }) == [4, 5, 10])
        #expect(ids(try matcher { $0.host = try TextMatch("::1") }) == [6])
        #expect(ids(try matcher { $0.host = try TextMatch("::ffff:127.0.0.1") }) == [4, 5, 10])
        #expect(ids(try matcher { $0.host = try TextMatch("localhost") }) == [7, 8, 9], "11 is myconn's own")
        #expect(ids(try matcher { $0.host = try TextMatch("/^127\\./") }) == [4, 5, 10])
        #expect(ids(try matcher { $0.host = try TextMatch("127.0.0") }) == [], "exact, not a prefix")
    }

    @Test("matchers AND together; --match-info and --match-state are expressions; NULL matches nothing")
    func and() throws {
        #expect(ids(try matcher { $0.command = try TextMatch("Query") }) == [9, 10])
        #expect(ids(try matcher { $0.command = try TextMatch("Query"); $0.host = try TextMatch("localhost") }) == [9])
        #expect(ids(try matcher { $0.info = try TextMatch(#"SLEEP\(\d+\)"#, alwaysRegex: true) }) == [9, 10])
        #expect(ids(try matcher { $0.state = try TextMatch("(?i)^user SLEEP$", alwaysRegex: true) }) == [9, 10])
        #expect(ids(try matcher { $0.db = try TextMatch("/.*/") }) == [], "DB is NULL in every recorded row")
        #expect(ids(try matcher { $0.user = try TextMatch("root"); $0.command = try TextMatch("/^(Sleep|Daemon)$/") }) == [4, 5, 6, 7, 8])
    }

    @Test("a replica's Binlog Dump and the server's own threads are never selected by matchers")
    func protected() throws {
        #expect(ids(try matcher { $0.user = try TextMatch("/./") }) == [4, 5, 6, 7, 8, 9, 10])
        #expect(ids(try matcher { $0.user = try TextMatch("repl") }) == [])
        #expect(ids(try matcher { $0.command = try TextMatch("Daemon") }) == [])
    }

    @Test("--client and --client-port: the session's peer (HOST's when no socket is joined), and sockets without a session")
    func client() throws {
        let sel = SessionSelection(matcher: matcher { $0.client = SocketAddress(ip: IPAddress(text: "127.0.0.1")!, port: 39084) })
        #expect(sel.select(report).sessions.map(\.row.id) == [5])
        #expect(ids(matcher { $0.client = SocketAddress(ip: IPAddress(text: "::ffff:127.0.0.1")!, port: 39084) }) == [5])
        #expect(ids(matcher { $0.clientPort = 39872 }) == [6])
        let orphan = SessionSelection(matcher: matcher { $0.clientPort = 41000 }).select(report)
        #expect(orphan.sessions.isEmpty && orphan.sockets.map(\.inode) == [999])
        let withUser = SessionSelection(matcher: try matcher { $0.clientPort = 41000; $0.user = try TextMatch("root") }).select(report)
        #expect(withUser.sockets.isEmpty, "a socket without a session has no user to match")
    }

    @Test("--program compares program_name; a session without one never matches; targets need a proven socket")
    func program() throws {
        let names: [UInt64: String] = [4: "billing", 5: "billing", 9: "reports"]
        #expect(ids(try matcher { $0.program = try TextMatch("billing") }, programs: names) == [4, 5])
        #expect(ids(try matcher { $0.program = try TextMatch("/^r/") }, programs: names) == [9])
        let found = TargetResolver.fromSelection(SessionSelection(matcher: try matcher { $0.program = try TextMatch("billing") }),
                                                 report: report, programs: names)
        #expect(found.targets.isEmpty && found.skipped.map(\.id) == [4, 5], "no socket joined in this report: skipped, with the reason")
    }
}
