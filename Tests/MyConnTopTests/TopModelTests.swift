import Foundation
import Testing
@testable import MyConnTop
import MyConnCore

/// The processlist recorded from MariaDB 10.11 in Tests/MyConnCoreTests/Fixtures/mariadb-10.11-netlink-tree
/// (its README says how): sessions 4-10, idle and in SELECT SLEEP(600), as rows of `top`.
enum RecordedRows {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../MyConnCoreTests/Fixtures/mariadb-10.11-netlink-tree").standardized

    static func processList() throws -> [ProcessListRow] {
        let text = try String(contentsOf: dir.appendingPathComponent("processlist.tsv"), encoding: .utf8)
        return text.split(separator: "\n").dropFirst().map { line in
            let c = line.split(separator: "\t", omittingEmptySubsequences: false).map { $0 == "NULL" ? nil : String($0) }
            return ProcessListRow(id: UInt64(c[0]!)!, user: c[1], host: c[2], db: c[3], command: c[4],
                                  time: Int64(c[5] ?? ""), state: c[6], info: c[7], tid: Int32(c[8] ?? ""))
        }.filter { $0.id != 11 }  // the session that read it
    }

    /// A snapshot of those rows (each with a made-up TIME, so that sorting by it means something).
    static func snapshot(_ rows: [ProcessListRow], sequence: UInt64 = 1) -> Snapshot {
        let sessions = rows.map { SessionView(row: $0) }
        let report = ListReport(server: ServerView(pid: 17167, version: "10.11.19-MariaDB-0+deb12u1", port: 33129, kernelSource: .netlink),
                                sessions: sessions, unmatchedSockets: [], listeningSockets: [], warnings: [], kernelViewIncomplete: false)
        return Snapshot(mode: .sql, report: report, uptimeSeconds: 100, milliseconds: 12.5, sequence: sequence)
    }

    static func timed() throws -> [ProcessListRow] {
        try processList().map { r in
            var r = r
            r.time = Int64(r.id * 7 % 11)  // 4:6 5:2 6:9 7:5 8:1 9:8 10:4
            return r
        }
    }
}

@Suite("top's model: sort, filters, cursor and marks over recorded processlist rows (no terminal)")
struct TopModelTests {
    func ids(_ m: TopModel) -> [UInt64] { m.rows.compactMap { $0.session?.row.id } }

    @Test("sorted by TIME, longest first; s cycles to ID; r reverses")
    func sorting() throws {
        var m = TopModel()
        m.apply(RecordedRows.snapshot(try RecordedRows.timed()))
        #expect(ids(m) == [6, 9, 4, 7, 10, 5, 8])
        #expect(m.cursor == .session(6), "the longest-running session is under the cursor first, as in innotop")
        m.cycleSort()
        #expect(m.sort == .id && ids(m) == [4, 5, 6, 7, 8, 9, 10])
        m.reverse()
        #expect(ids(m) == [10, 9, 8, 7, 6, 5, 4])
    }

    @Test("the filter is a case-insensitive regular expression over user, host, db, state and info; a bad one changes nothing")
    func filtering() throws {
        var m = TopModel()
        m.apply(RecordedRows.snapshot(try RecordedRows.processList()))
        try m.setFilter("sleep\\(")
        #expect(Set(ids(m)) == [9, 10])
        try m.setFilter("^::1")
        #expect(ids(m) == [6], "HOST of the tcp6 session")
        #expect(throws: (any Error).self) { try m.setFilter("(") }
        #expect(ids(m) == [6] && m.filterText == "^::1")
        m.toggleHideIdle()
        #expect(ids(m).isEmpty, "session 6 is in Sleep")
        m.clearFilters()
        #expect(ids(m).count == 7 && m.filterText == nil && !m.hideIdle)
        m.toggleHideIdle()
        #expect(Set(ids(m)) == [9, 10])
        m.toggleHideIdle()
        m.toggleZombiesOnly()
        #expect(ids(m).isEmpty, "none of the recorded sessions is a zombie")
    }

    @Test("the cursor stays on its session across snapshots, and near its place when its session goes")
    func cursorStays() throws {
        let rows = try RecordedRows.processList()
        var m = TopModel()
        m.cycleSort()  // by ID
        m.apply(RecordedRows.snapshot(rows))
        m.move(by: 4)
        #expect(m.cursor == .session(8))
        m.apply(RecordedRows.snapshot(rows.filter { $0.id != 4 && $0.id != 5 }, sequence: 2))
        #expect(m.cursor == .session(8) && m.cursorRow == 2)
        m.apply(RecordedRows.snapshot(rows.filter { ![4, 5, 8].contains($0.id) }, sequence: 3))
        #expect(m.cursor == .session(9), "its place is taken by the next row")
        m.moveToEnd()
        #expect(m.cursor == .session(10))
        m.move(by: 100)
        #expect(m.cursor == .session(10))
        m.moveToStart()
        #expect(m.cursor == .session(6))
    }

    @Test("Space marks and moves down; actions take the marked rows, else the cursor's; marks of gone rows are dropped")
    func marks() throws {
        let rows = try RecordedRows.processList()
        var m = TopModel()
        m.cycleSort()
        m.apply(RecordedRows.snapshot(rows))
        #expect(m.actionRows.map(\.key) == [.session(4)])
        m.toggleMark()
        m.move(by: 1)
        m.toggleMark()
        #expect(m.marks == [.session(4), .session(6)] && m.cursor == .session(7))
        #expect(m.actionRows.map(\.key) == [.session(4), .session(6)])
        m.apply(RecordedRows.snapshot(rows.filter { $0.id != 6 }, sequence: 2))
        #expect(m.marks == [.session(4)])
    }
}

@Suite("top's text: columns that fit, every value escaped, header counts (no terminal)")
struct TopLayoutTests {
    @Test("the columns fit the width: all of them at 200, the first ones and INFO at 90, never a line too long", arguments: [200, 120, 90, 60, 30])
    func fits(width: Int) throws {
        var m = TopModel()
        m.apply(RecordedRows.snapshot(try RecordedRows.processList()))
        let (header, lines) = TopLayout.table(m.rows, marks: [], cursor: m.cursor, width: width)
        #expect(([header] + lines).allSatisfy { $0.count <= width })
        #expect(header.hasPrefix("   ID"))
        if width >= 200 { #expect(header.contains("LAST_RECV") && header.contains("INFO")) }
        if width == 90 { #expect(header.contains("STATE") && header.contains("INFO") && !header.contains("RTT_MS")) }
        #expect(lines.count == 7)
        #expect(lines[0].hasPrefix(">"), "the cursor's row")
    }

    @Test("a hostile INFO or USER reaches the screen escaped")
    func escaped() throws {
        var rows = try RecordedRows.processList()
        rows[0].info = "SELECT '\u{1B}[2J\u{1B}]0;owned\u{07}'"
        rows[1].user = "ev\u{202E}il"
        var m = TopModel()
        m.cycleSort()
        m.apply(RecordedRows.snapshot(rows))
        let (_, lines) = TopLayout.table(m.rows, marks: [], cursor: nil, width: 200)
        #expect(lines.allSatisfy { !$0.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x202E } })
        #expect(lines[0].contains("\\x1B[2J"))
        #expect(lines[1].contains("ev\\u{202E}il"))
    }

    @Test("the header: server, pid, uptime, counts by command, zombies, unmatched sockets, refresh cost")
    func header() throws {
        var m = TopModel()
        m.apply(RecordedRows.snapshot(try RecordedRows.processList()))
        let h = TopLayout.header(m, interval: 2, paused: false)
        #expect(h[0].hasPrefix("mysqld pid 17167  10.11.19-MariaDB-0+deb12u1  port 33129  up 1m40s"))
        #expect(h[0].contains("refresh 12.5 ms, every 2 s"))
        #expect(h[1] == "sessions 7: Sleep 5, Query 2  |  zombies 0  |  unmatched sockets 0")
        #expect(h[2].hasPrefix("sort TIME  |  7 shown"))
    }
}
