import Foundation
import MySQLSessions
import SocketModel
import Testing
@testable import MyConnCore

/// The recordings of Fixtures/reap (its README says how each was captured): MariaDB 10.11 with
/// sessions 6 (app, tcp4, idle 8 s), 7 (app, tcp6, idle 6 s), 8 (report, unix, idle 6 s),
/// 9 and 10 (app, tcp4, `SELECT SLEEP(600)` 4 s and `SLEEP(599)` 3 s), 11 (report, unix,
/// `SELECT 'daily', SLEEP(600)` 3 s), 12 (app, tcp4, no db, idle 2 s) and the event scheduler 1.
enum ReapFixture {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/reap")

    static func bytes(_ file: String) throws -> [UInt8] {
        Array(try Data(contentsOf: dir.appendingPathComponent(file)))
    }

    static func reports(_ file: String) throws -> [ListReport] {
        try ReapRecording.read(bytes(file))
    }

    /// The ids of sessions, or `fd N` for sessionless sockets, the rules pick, in order.
    static func picked(_ report: ListReport, _ rules: ReapRules) -> [String] {
        ReapPolicy.victims(ReapPolicy.candidates(report), rules: rules).map { v in
            v.candidate.row.map { String($0.id) } ?? "fd \(v.candidate.orphanSocket?.fd ?? -1)"
        }
    }

    /// The ids pt-kill printed (`KILL 9 (Query 4 sec) ...`), sorted.
    static func ptKill(_ file: String) throws -> [String] {
        try String(decoding: bytes(file), as: UTF8.self).split(separator: "\n")
            .compactMap { $0.split(separator: " ").dropFirst().first.map(String.init) }.sorted()
    }
}

@Suite("reap --test-matching: list --json recordings and pt-kill's SHOW PROCESSLIST files")
struct ReapRecordingTests {
    static let ids: [UInt64] = [1, 6, 7, 8, 9, 10, 11, 12]
    static let socketPath = "/tmp/myconn-test-rec.LNoN/mysqld.sock"

    func address(_ text: String, _ port: UInt16) -> SocketAddress { SocketAddress(ip: IPAddress(text: text)!, port: port) }

    @Test("list --json lines: the server, each row, its socket and tcp_info, match, zombie classes; one report per line")
    func jsonLines() throws {
        let reports = try ReapFixture.reports("list.jsonl")
        #expect(reports.count == 2)
        let r = reports[0]
        var server = ServerView(pid: 9049, version: "10.11.19-MariaDB-0+deb12u1", port: 16436, kernelSource: .netlink, sql: true)
        server.sameNetworkNamespace = true
        #expect(r.server == server)
        #expect(r.sessions.map(\.row.id) == Self.ids)
        #expect(r.sessions.map(\.row.user) == ["event_scheduler", "app", "app", "report", "app", "app", "report", "app"])
        #expect(r.sessions.map(\.row.command) == ["Daemon", "Sleep", "Sleep", "Sleep", "Query", "Query", "Query", "Sleep"])
        #expect(r.sessions.map(\.row.time) == [8, 8, 6, 6, 4, 3, 3, 2])
        #expect(reports[1].sessions.map(\.row.time) == [10, 10, 8, 8, 6, 5, 5, 4])
        #expect(r.sessions.map(\.transport) == [.unix, .tcp4, .tcp6, .unix, .tcp4, .tcp4, .unix, .tcp4])
        #expect(r.sessions.map(\.zombie) == [[], [.idle], [.idle], [.idle], [], [], [], []])
        #expect(r.sessions[1].row == ProcessListRow(id: 6, user: "app", host: "127.0.0.1:41414", db: "shop", command: "Sleep", time: 8, state: ""))
        #expect(r.sessions[6].row.info == "SELECT 'daily', SLEEP(600)")

        var six = SocketView(transport: .tcp4, fd: 44, inode: 40067, local: .inet(address("127.0.0.1", 16436)),
                             peer: address("127.0.0.1", 41414), tcpState: .established, sendQueue: 0, recvQueue: 0,
                             health: TCPHealth(rttMicroseconds: 5376, lastReceiveMilliseconds: 8160, lastSendMilliseconds: 8160))
        #expect(r.sessions[1].socket == six)
        #expect(r.sessions[1].match == .address)
        #expect(r.sessions[2].socket?.local == .inet(address("::1", 16436)))
        #expect(r.sessions[2].socket?.peer == address("::1", 53038))
        #expect(r.sessions[3].socket == SocketView(transport: .unix, fd: 52, inode: 40088, local: .unix(path: Self.socketPath)))
        #expect(r.sessions[3].match == .thread)
        #expect(r.sessions[0].socket == nil && r.sessions[6].socket == nil, "all-null kernel fields: no socket")
        #expect(r.sessions[6].unresolved?.hasPrefix("unix-socket session: fd not proven") == true)
        #expect(r.unmatchedSockets.isEmpty && r.warnings.count == 1 && !r.clientsLookedUp)

        #expect(reports[1].clientsLookedUp)
        six.clients = [SocketOwner(pid: 9079, command: "mariadb", uid: 0, fd: 3)]
        six.health = TCPHealth(rttMicroseconds: 5376, lastReceiveMilliseconds: 10220, lastSendMilliseconds: 10220)
        #expect(reports[1].sessions[1].socket == six)
    }

    @Test("a report read back from its JSON writes the same JSON, byte for byte")
    func jsonRoundTrip() throws {
        let text = String(decoding: try ReapFixture.bytes("list.jsonl") + ReapFixture.bytes("list-no-sql.json"), as: UTF8.self)
        let lines = text.split(separator: "\n").map(String.init)
        let reports = try ReapRecording.read(Array(text.utf8))
        #expect(reports.count == 3)
        for (line, report) in zip(lines, reports) { #expect(json(report) == line) }
    }

    @Test("what JSON carries comes back equal: an orphan session, a sessionless socket and its classes, tcp_info")
    func jsonFaithful() throws {
        var report = try ReapFixture.reports("list.jsonl")[0]
        report.sessions[4].socket?.tcpState = .closeWait
        report.sessions[4].socket?.health = TCPHealth(state: .closeWait, rttMicroseconds: 9, retransmits: 3, probes: 2, unacked: 4,
                                                      lastReceiveMilliseconds: 70_000, lastSendMilliseconds: 60_000)
        report.sessions[4].socket?.health?.totalRetransmits = 12
        report.sessions[4].zombie = [.clientGone, .peerUnreachable]
        report.sessions[5].socket = nil
        report.sessions[5].socketMissing = true
        report.sessions[5].zombie = [.orphanSession]
        var orphan = SocketView(transport: .tcp6, fd: 70, inode: UInt64.max - 1, local: .inet(address("::1", 16436)),
                                peer: address("::ffff:10.0.0.9", 40000), tcpState: .established, sendQueue: 5, recvQueue: 0,
                                health: TCPHealth(probes: 2, lastReceiveMilliseconds: 1))
        orphan.zombie = [.orphanSocket, .peerUnreachable]
        report.unmatchedSockets = [orphan, SocketView(transport: .unix, fd: 71, inode: 9, local: .unix(path: "/run/mysqld/mysqld.sock"))]
        report.server.sameNetworkNamespace = nil
        #expect(try ReapRecording.read(Array(json(report).utf8)) == [report])
    }

    @Test("pretty-printed documents one after another, and a JSON array of them, read as the lines do")
    func jsonLayouts() throws {
        let lines = try ReapFixture.reports("list.jsonl")
        #expect(try ReapFixture.reports("list-pretty.json") == lines)
        #expect(try ReapFixture.reports("list-array.json") == lines)
        let glued = try ReapFixture.bytes("list.jsonl").filter { $0 != 0x0A }
        #expect(try ReapRecording.read(glued) == lines, "concatenated without a newline between")
    }

    @Test("list --no-sql: no processlist, every client socket unmatched and unclassified")
    func kernelOnly() throws {
        let r = try #require(try ReapFixture.reports("list-no-sql.json").first)
        #expect(!r.server.sql && r.server.version == nil && r.sessions.isEmpty)
        #expect(r.unmatchedSockets.map(\.fd) == [44, 51, 52, 53, 54, 55, 56])
        #expect(r.unmatchedSockets.map(\.transport) == [.tcp4, .tcp6, .unix, .tcp4, .tcp4, .unix, .tcp4])
        #expect(r.unmatchedSockets.allSatisfy { $0.zombie == nil })
        #expect(r.unmatchedSockets[3].peer == address("127.0.0.1", 40530))
        #expect(r.unmatchedSockets[0].health?.lastReceiveMilliseconds == 10304)
    }

    @Test("pt-kill's formats: \\G rows, a +---+ table and tab-separated text give the same sessions")
    func ptKillFormats() throws {
        let vertical = try #require(try ReapFixture.reports("processlist-vertical.txt").first)
        let rows = vertical.sessions.map(\.row)
        #expect(rows.map(\.id) == Self.ids + [13])
        #expect(rows.map(\.time) == [8, 8, 6, 6, 4, 3, 3, 2, 0])
        #expect(rows[1] == ProcessListRow(id: 6, user: "app", host: "127.0.0.1:41414", db: "shop", command: "Sleep", time: 8, state: ""))
        #expect(rows[6] == ProcessListRow(id: 11, user: "report", host: "localhost", db: "reports", command: "Query", time: 3,
                                          state: "User sleep", info: "SELECT 'daily', SLEEP(600)"))
        #expect(rows[7].db == nil && rows[7].info == nil, "NULL is nil, the empty State is empty")
        #expect(vertical.sessions.map(\.transport) == [.unix, .tcp4, .tcp6, .unix, .tcp4, .tcp4, .unix, .tcp4, .unix])
        #expect(vertical.sessions.allSatisfy { $0.socket == nil && $0.zombie.isEmpty })
        #expect(vertical.unmatchedSockets.isEmpty)
        #expect(vertical.server == ServerView(pid: nil, version: nil, port: nil, kernelSource: .proc, sql: true))

        // The same moment; only the id of the root session that asked differs.
        func same(_ r: ListReport) -> [ProcessListRow] { r.sessions.map(\.row).filter { $0.user != "root" } }
        let json = try ReapFixture.reports("list.jsonl")[0]
        for file in ["processlist-tabular.txt", "processlist.tsv"] {
            let r = try #require(try ReapFixture.reports(file).first, "\(file)")
            #expect(same(r) == same(vertical), "\(file)")
            #expect(r.sessions.map(\.transport) == vertical.sessions.map(\.transport), "\(file)")
        }
        #expect(same(vertical) == json.sessions.map(\.row), "the JSON of the same second")
    }

    @Test("pt-kill reads a file in paragraph mode: snapshots separated by an empty line")
    func ptKillParagraphs() throws {
        let reports = try ReapFixture.reports("processlist-tabular-2.txt")
        #expect(reports.count == 2)
        #expect(reports.map { $0.sessions.map(\.row.time) } == [[10, 10, 8, 8, 6, 5, 5, 4, 0], [12, 12, 10, 10, 8, 7, 7, 6, 0]])
        #expect(reports.map { $0.sessions.last?.row.id } == [18, 19])
        let mixed = "Id\tUser\tHost\tCommand\tTime\n5\tapp\t10.0.0.1:1\tSleep\t9\n\n\n"
            + "*************************** 1. row ***************************\n     Id: 6\n   Time: 3\n"
        #expect(try ReapRecording.read(Array(mixed.utf8)).map { $0.sessions.map(\.row.id) } == [[5], [6]])
    }

    @Test("pt-kill's NULL and empty values: NULL is nil; tab-separated trailing empties and `Name:` without a space are nil")
    func ptKillValues() throws {
        let tabs = "Id\tUser\tHost\tdb\tCommand\tTime\tState\tInfo\n3\tapp\tNULL\t\tSleep\t5\t\t\r\n4\tapp\th:1\td\tQuery\t7\t\tSELECT 1\n"
        let t = try ReapRecording.read(Array(tabs.utf8))[0].sessions.map(\.row)
        #expect(t[0] == ProcessListRow(id: 3, user: "app", db: "", command: "Sleep", time: 5), "CRLF too")
        #expect(t[1].state == "" && t[1].info == "SELECT 1")
        let g = "*************************** 1. row ***************************\n     Id: 3\n  State:\n   Info: \n     db: NULL\n"
            + "   Time: x\n"
        let v = try ReapRecording.read(Array(g.utf8))[0].sessions[0].row
        #expect(v == ProcessListRow(id: 3, info: ""))
        let table = "+----+------+\n| ID | USER |\n+----+------+\n|  3 | NULL |\n|  4 |      |\n+----+------+\n"
        #expect(try ReapRecording.read(Array(table.utf8))[0].sessions.map(\.row) == [ProcessListRow(id: 3), ProcessListRow(id: 4, user: "")],
                "information_schema's upper-case names too")
    }

    static let minimal = #"{"server":{"pid":null,"version":null,"port":null,"kernel_source":"proc","sql":false,"#
        + #""same_network_namespace":null},"sessions":[],"unmatched_sockets":[],"listening_sockets":[],"warnings":[]}"#

    @Test("garbage: one line that says what was expected and where", arguments: [
        ("", "line 1: the recording is empty; expected `myconn list --json` documents"),
        ("hello world\n", "line 1: expected `myconn list --json` documents, or SHOW FULL PROCESSLIST output"),
        ("+----+\n| Id |\n+----+\n\nnot a table\n", "line 5: expected `myconn list --json` documents"),
        ("| Id |\n+----+\n| x  |\n", "line 3: a processlist row without a numeric Id"),
        ("{\"server\": {\n", "line 1: the JSON document that starts here does not end"),
        ("{}\n", "line 1: server: missing"),
        ("[1]", "line 1: [0]: expected an object"),
        (ReapRecordingTests.minimal + "\n x", "line 2: expected a `myconn list --json` document ({...}) or an array of them"),
        ("{,}", "line 1: not valid JSON"),
        ("{\"server\":\n{\n\"pid\": tru}}", "line 3: not valid JSON: invalid value"),
    ])
    func garbage(input: String, start: String) throws {
        let error = #expect(throws: RecordingError.self) { try ReapRecording.read(Array(input.utf8)) }
        #expect(error?.message.hasPrefix(start) == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("\n") == false)
    }

    @Test("a bad field names its document's line, the field's path and what it wanted")
    func badField() throws {
        var lines = String(decoding: try ReapFixture.bytes("list.jsonl"), as: UTF8.self).split(separator: "\n").map(String.init)
        let cases = [
            (#""time":8,"#, #""time":"8","#, "line 2: sessions[2].time: expected an integer"),
            (#""tcp_state":"ESTABLISHED""#, #""tcp_state":"BOGUS""#, #"line 2: sessions[1].tcp_state: unknown value "BOGUS""#),
            (#""peer":"127.0.0.1:41414""#, #""peer":"127.0.0.1""#, #"line 2: sessions[1].peer: unknown value "127.0.0.1""#),
            (#""zombie":["idle"]"#, #""zombie":["sleepy"]"#, #"line 2: sessions[1].zombie[0]: unknown value "sleepy""#),
            (#""zombie":["idle"]"#, #""zombie":"idle""#, "line 2: sessions[1].zombie: expected an array"),
            (#""id":6,"#, #""id":null,"#, "line 2: sessions[1].id: null where an integer is expected"),
            (#""sql":true"#, #""sql":1"#, "line 2: server.sql: expected true or false"),
        ]
        for (from, to, message) in cases {
            let good = lines[1]
            lines[1] = good.replacing(from, with: to, maxReplacements: 1)
            let error = #expect(throws: RecordingError.self) { try ReapRecording.read(Array(lines.joined(separator: "\n").utf8)) }
            #expect(error?.message == message)
            lines[1] = good
        }
    }

    @Test("a recording decides as its report: the JSON, its table and pt-kill itself pick the same sessions")
    func decidesAsLive() throws {
        let json = try ReapFixture.reports("list.jsonl")[0]
        let table = try #require(try ReapFixture.reports("processlist-tabular.txt").first)
        var busy = ReapRules()
        busy.busyTime = 4
        busy.victims = .all
        var idle = ReapRules()
        idle.idleTime = 6
        idle.victims = .all
        for (rules, oracle) in [(busy, "pt-kill-busy-time-4.out"), (idle, "pt-kill-idle-time-6.out")] {
            #expect(ReapFixture.picked(json, rules) == ReapFixture.picked(table, rules))
            #expect(ReapFixture.picked(json, rules).sorted() == (try ReapFixture.ptKill(oracle)), "\(oracle)")
        }
        #expect(ReapFixture.picked(json, busy) == ["9"])
        #expect(ReapFixture.picked(json, idle) == ["6", "7", "8"])
        // Read back from its own JSON, a report decides as before.
        let again = try ReapRecording.read(Array(self.json(json).utf8))[0]
        var zombies = ReapRules()
        zombies.selection.classes = [.idle]
        zombies.idleSinceReceive = 6
        zombies.victims = .all
        #expect(ReapFixture.picked(again, zombies) == ReapFixture.picked(json, zombies))
        #expect(ReapFixture.picked(json, zombies) == ["6", "7"], "the unix session 8 has no tcp_info")
    }

    func json(_ report: ListReport) -> String {
        var out: [UInt8] = []
        JSONReport.write(report) { out += $0 }
        return String(decoding: out.dropLast(), as: UTF8.self)
    }
}
