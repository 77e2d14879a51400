import Foundation
import MySQLSessions
import SocketModel
import Testing
@testable import MyConnCore

/// `reap`'s rules over the recording of Fixtures/reap (see ``ReapFixture``): the first line of
/// list.jsonl, where sessions 6 (app, Sleep 8), 7 (app, Sleep 6, tcp6), 8 (report, Sleep 6,
/// unix), 9 (app, Query 4), 10 (app, Query 3), 11 (report, Query 3), 12 (app, Sleep 2) and the
/// event scheduler 1 (Daemon, 8) are; and list-no-sql.json, the same server's sockets alone.
@Suite("reap policy: rules AND together, ignore wins, TIME >= S, classes and victims as pt-kill's")
struct ReapPolicyTests {
    let report: ListReport

    init() throws {
        report = try ReapFixture.reports("list.jsonl")[0]
    }

    func rules(_ set: (inout ReapRules) throws -> Void) rethrows -> ReapRules {
        var r = ReapRules()
        r.victims = .all
        try set(&r)
        return r
    }

    func picked(_ r: ReapRules, in report: ListReport? = nil) -> [String] { ReapFixture.picked(report ?? self.report, r) }

    @Test("every rule must hold: --busy-time with --match-user app leaves app's idle sessions alone, as pt-kill does not")
    func andNotOr() throws {
        let busyApp = try rules { $0.busyTime = 4; $0.selection.matcher.user = try TextMatch("app") }
        #expect(picked(busyApp) == ["9"])
        #expect(try ReapFixture.ptKill("pt-kill-match-user-app-busy-time-4.out") == ["12", "6", "7", "9"],
                "pt-kill counts a row matched when any criterion applies: app's Sleep rows too")
        #expect(picked(try rules { $0.busyTime = 3; $0.selection.matcher.user = try TextMatch("app") }) == ["9", "10"])
        #expect(picked(try rules { $0.idleTime = 0; $0.selection.matcher.host = try TextMatch("localhost") }) == ["8"])
        let v = try #require(ReapPolicy.victims(ReapPolicy.candidates(report), rules: busyApp).first)
        #expect(v.reason == "match-user app, busy-time 4 (Query 4 s)")
        #expect(picked(ReapRules()) == [], "no rule picks nothing, not everything")
    }

    @Test("an --ignore-* matcher wins over every rule that matches, each one on its own")
    func ignoreWins() throws {
        #expect(picked(rules { $0.idleTime = 0 }) == ["6", "7", "8", "12"])
        #expect(picked(try rules { $0.idleTime = 0; $0.ignore.user = try TextMatch("app") }) == ["8"])
        #expect(picked(try rules {
            $0.idleTime = 0
            $0.selection.matcher.user = try TextMatch("app")
            $0.ignore.host = try TextMatch("127.0.0.1")
        }) == ["7"])
        #expect(picked(try rules { $0.selection.classes = [.idle]; $0.ignore.user = try TextMatch("report") }) == ["6", "7"])
        #expect(picked(try rules {
            $0.idleTime = 0
            $0.ignore.user = try TextMatch("nobody")
            $0.ignore.db = try TextMatch("reports")
        }) == ["6", "7", "12"], "ignore matchers do not AND: db reports alone excludes 8")
    }

    @Test("--idle-time and --busy-time hold at TIME >= S, each on its own commands")
    func thresholds() {
        #expect(picked(rules { $0.idleTime = 8 }) == ["6"])
        #expect(picked(rules { $0.idleTime = 9 }) == [])
        #expect(picked(rules { $0.idleTime = 6 }) == ["6", "7", "8"])
        #expect(picked(rules { $0.busyTime = 3 }) == ["9", "10", "11"])
        #expect(picked(rules { $0.busyTime = 4 }) == ["9"])
        #expect(picked(rules { $0.busyTime = 5 }) == [])
        #expect(picked(rules { $0.busyTime = 0 }) == ["9", "10", "11"], "Sleep is never busy, the Daemon never a candidate")
        #expect(picked(rules { $0.idleSinceReceive = 8 }) == ["6"], "last_recv_ms 8160")
        #expect(picked(rules { $0.idleSinceReceive = 6 }) == ["6", "7"], "the unix session 8 has no tcp_info")
    }

    @Test("server and replication threads are never picked: Command Daemon, Binlog Dump, an empty HOST")
    func serverThreads() throws {
        var r = report
        r.sessions.append(SessionView(row: ProcessListRow(id: 30, user: "system user", host: "", command: "Sleep", time: 900)))
        r.sessions.append(SessionView(row: ProcessListRow(id: 31, user: "repl", host: "10.0.0.2:40000", command: "Binlog Dump", time: 900)))
        r.sessions[0].zombie = [.idle]
        #expect(picked(rules { $0.idleTime = 0 }, in: r) == ["6", "7", "8", "12"])
        #expect(picked(try rules { $0.selection.matcher.host = try TextMatch("localhost") }, in: r) == ["8", "11"], "not the Daemon on localhost")
        #expect(picked(try rules { $0.selection.matcher.command = try TextMatch("Daemon") }, in: r) == [])
        #expect(picked(try rules { $0.selection.matcher.user = try TextMatch("repl") }, in: r) == [])
        #expect(picked(rules { $0.selection.classes = [.idle] }, in: r) == ["6", "7", "8"])
    }

    @Test("--group-by user --query-count N: classes of at least N matching sessions; --victims picks in each")
    func groupByUser() {
        #expect(picked(rules { $0.busyTime = 1; $0.groupBy = .user; $0.queryCount = 2 }) == ["9", "10"])
        #expect(picked(rules { $0.busyTime = 1; $0.groupBy = .user; $0.queryCount = 2; $0.victims = .oldest }) == ["9"])
        #expect(picked(rules { $0.busyTime = 1; $0.groupBy = .user; $0.queryCount = 2; $0.victims = .allButOldest }) == ["10"])
        #expect(picked(rules { $0.busyTime = 1; $0.groupBy = .user; $0.queryCount = 3 }) == [])
        #expect(picked(rules { $0.idleTime = 0; $0.groupBy = .user; $0.victims = .oldest }) == ["6", "8"], "app's oldest, then report's")
        let v = ReapPolicy.victims(ReapPolicy.candidates(report), rules: rules { $0.busyTime = 1; $0.groupBy = .user; $0.queryCount = 2 })
        #expect(v.map(\.group) == ["app", "app"])
        #expect(v.first?.reasons.last == "query-count 2 (2 in class)")
    }

    @Test("--any-busy-time and --each-busy-time: some or every matching session of the class has TIME > S")
    func classBusyTime() {
        func byUser(_ set: (inout ReapRules) -> Void) -> [String] {
            picked(rules { $0.busyTime = 0; $0.groupBy = .user; set(&$0) })
        }
        #expect(byUser { $0.anyBusyTime = 3 } == ["9", "10"], "app has 9 at 4 s; report's 11 is at 3, not over")
        #expect(byUser { $0.anyBusyTime = 4 } == [])
        #expect(byUser { $0.eachBusyTime = 2 } == ["9", "10", "11"])
        #expect(byUser { $0.eachBusyTime = 3 } == [], "10 and 11 are at exactly 3")
        #expect(byUser { $0.eachBusyTime = 2; $0.victims = .oldest } == ["9", "11"])
    }

    @Test("--victims: oldest by TIME first, equal TIMEs by lowest id, classes in the order of their oldest")
    func victimsOrder() {
        #expect(picked(rules { $0.idleTime = 0 }) == ["6", "7", "8", "12"], "7 and 8 both idle 6 s")
        #expect(picked(rules { $0.idleTime = 0; $0.victims = .allButOldest }) == ["7", "8", "12"])
        #expect(picked(rules { $0.idleTime = 0; $0.victims = .oldest }) == ["6"])
        var reversed = report
        reversed.sessions.reverse()
        #expect(picked(rules { $0.idleTime = 0 }, in: reversed) == ["6", "7", "8", "12"])
        #expect(picked(rules { $0.idleTime = 0; $0.victims = .oldest }, in: reversed) == ["6"])
        let byDB = ReapPolicy.victims(ReapPolicy.candidates(reversed), rules: rules { $0.idleTime = 0; $0.groupBy = .db })
        #expect(byDB.map { $0.candidate.row!.id } == [6, 7, 8, 12])
        #expect(byDB.map(\.group) == ["shop", "shop", "reports", "NULL"])
    }

    @Test("sockets without a session: only the socket rules pick them, with or without the processlist")
    func orphanSockets() throws {
        let kernel = try #require(try ReapFixture.reports("list-no-sql.json").first)
        let port = rules { $0.selection.matcher.clientPort = 40530 }
        #expect(port.kernelOnly)
        #expect(picked(port, in: kernel) == ["fd 53"])
        #expect(Set(picked(rules { $0.idleSinceReceive = 8 }, in: kernel)) == ["fd 44", "fd 51"], "last_recv_ms 10304 and 8292")
        #expect(picked(rules { $0.idleTime = 0 }, in: kernel) == [])
        #expect(picked(rules { $0.busyTime = 0 }, in: kernel) == [])
        #expect(picked(try rules { $0.selection.matcher.user = try TextMatch("app") }, in: kernel) == [])
        #expect(picked(rules { $0.selection.classes = [.clientGone, .peerUnreachable] }, in: kernel) == [], "all ESTABLISHED")

        var closing = kernel
        closing.unmatchedSockets[4].tcpState = .closeWait
        #expect(picked(rules { $0.selection.classes = [.clientGone] }, in: closing) == ["fd 54"], "kernel-only: classes from the state")

        var r = report
        var orphan = SocketView(transport: .tcp4, fd: 80, inode: 1, peer: SocketAddress(ip: IPAddress(text: "10.0.0.9")!, port: 5000),
                                tcpState: .established, health: TCPHealth(lastReceiveMilliseconds: 900_000, lastSendMilliseconds: 900_000))
        orphan.zombie = [.orphanSocket]
        r.unmatchedSockets = [orphan]
        #expect(picked(rules { $0.idleTime = 0 }, in: r) == ["6", "7", "8", "12"])
        #expect(picked(rules { $0.selection.classes = [.orphanSocket] }, in: r) == ["fd 80"])
        #expect(picked(rules { $0.selection.matcher.client = orphan.peer }, in: r) == ["fd 80"])
        #expect(picked(rules { $0.idleSinceReceive = 100 }, in: r) == ["fd 80"])
        #expect(picked(rules { $0.selection.matcher.client = orphan.peer; $0.ignore.clientPort = 5000 }, in: r) == [])
        // An --ignore-* of a session's text cannot protect a socket without a row: never a victim then.
        #expect(picked(try rules { $0.idleSinceReceive = 100; $0.ignore.user = try TextMatch("replicator") }, in: r) == [])
        // A sessionless socket that is sent to (a replica's binlog dump) is not idle, whatever it receives.
        var dump = r
        dump.unmatchedSockets[0].health = TCPHealth(lastReceiveMilliseconds: 900_000, lastSendMilliseconds: 200)
        #expect(picked(rules { $0.idleSinceReceive = 100 }, in: dump) == [])
        // Without PROCESS every other login's socket looks sessionless: none is a candidate.
        var partial = r
        partial.completeProcessList = false
        #expect(picked(rules { $0.selection.classes = [.orphanSocket] }, in: partial) == [])
    }

    @Test("fingerprints: literals become ?, lists ?+, whitespace one space, keywords lower case")
    func fingerprints() {
        #expect(StatementFingerprint.of("SELECT SLEEP(600)") == "select sleep(?)")
        #expect(StatementFingerprint.of("SELECT SLEEP(599)") == "select sleep(?)")
        #expect(StatementFingerprint.of("SELECT 'daily', SLEEP(600)") == "select ?, sleep(?)")
        #expect(StatementFingerprint.of("SELECT * FROM t WHERE id IN (1, 2, 3)") == "select * from t where id in(?+)")
        #expect(StatementFingerprint.of("select * from t where id in (7)") == "select * from t where id in(?+)")
        // One shape, however the list is spaced, as pt-kill's fingerprint has it.
        #expect(StatementFingerprint.of("SELECT a FROM t WHERE id IN(1,2)") == "select a from t where id in(?+)")
        #expect(StatementFingerprint.of("SELECT a FROM t WHERE id IN ( 1, 2 )") == "select a from t where id in(?+)")
        #expect(StatementFingerprint.of("INSERT INTO t VALUES (1, 'a'),(2, 'b')") == "insert into t values(?+)")
        #expect(StatementFingerprint.of("INSERT INTO t VALUES (3, 'c')") == "insert into t values(?+)")
        // A select list is not a value list.
        #expect(StatementFingerprint.of("SELECT 1, 2") == "select ?, ?")
        #expect(StatementFingerprint.of("SELECT   a,\n\t b FROM t2  ") == "select a, b from t2", "digits inside a name stay")
        #expect(StatementFingerprint.of(#"SELECT c1 FROM t WHERE b = 'O''Brien' AND c = "x\"y""#) == "select c1 from t where b = ? and c = ?")
        let classes = ReapPolicy.victims(ReapPolicy.candidates(report),
                                         rules: rules { $0.busyTime = 0; $0.groupBy = .fingerprint; $0.queryCount = 2 })
        #expect(classes.map { $0.candidate.row!.id } == [9, 10])
        #expect(classes.map(\.group) == ["select sleep(?)", "select sleep(?)"])
    }
}
