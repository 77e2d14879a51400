import MyConnCore

/// How a row is coloured: by zombie class first, then by how long its statement has run (as
/// innotop colours by time).
public enum RowTone: Sendable, Equatable {
    case plain
    /// client-gone, peer-unreachable: the client is gone or cannot be reached.
    case deadClient
    /// orphan-socket, orphan-session, idle.
    case zombie
    /// A statement running for 10 s or more.
    case slow
    /// A statement running for 60 s or more.
    case verySlow
}

/// The text of `top`'s screen, apart from the terminal: which `list` columns fit the width, each
/// cell through the terminal escaper, the header lines. Pure, so it is tested without a screen.
public enum TopLayout {
    struct Column: Sendable {
        var title: String
        var maxWidth: Int
        var rightAligned = false
        var cell: @Sendable (TopRow) -> String
    }

    /// In the order they are given room; INFO last, taking what is left.
    static let columns: [Column] = [
        Column(title: "ID", maxWidth: 12, rightAligned: true) { r in r.session.map { String($0.row.id) } ?? "-" },
        Column(title: "USER", maxWidth: 16) { $0.session?.row.user ?? "" },
        Column(title: "HOST", maxWidth: 26) { $0.session?.row.host ?? "" },
        Column(title: "COMMAND", maxWidth: 12) { $0.session?.row.command ?? "" },
        Column(title: "TIME", maxWidth: 8, rightAligned: true) { r in r.session?.row.time.map(String.init) ?? "" },
        Column(title: "FD", maxWidth: 6, rightAligned: true) { r in r.socket?.fd.map(String.init) ?? "-" },
        Column(title: "ZOMBIE", maxWidth: 22) { r in r.zombie.map(\.rawValue).joined(separator: ",") },
        Column(title: "STATE", maxWidth: 22) { $0.session?.row.state ?? "" },
        Column(title: "DB", maxWidth: 16) { $0.session?.row.db ?? "" },
        Column(title: "TRANSPORT", maxWidth: 9) { r in (r.socket?.transport ?? r.session?.transport)?.rawValue ?? "" },
        Column(title: "TCP", maxWidth: 11) { r in r.socket?.tcpState?.description ?? "" },
        Column(title: "RECVQ", maxWidth: 7, rightAligned: true) { r in r.socket?.recvQueue.map(String.init) ?? "" },
        Column(title: "SENDQ", maxWidth: 7, rightAligned: true) { r in r.socket?.sendQueue.map(String.init) ?? "" },
        Column(title: "RTT_MS", maxWidth: 8, rightAligned: true) { r in
            r.socket?.health.map { h in formatMilliseconds(Double(h.rttMicroseconds) / 1000) } ?? ""
        },
        Column(title: "LAST_RECV", maxWidth: 9, rightAligned: true) { r in
            r.socket?.health.map { h in String(h.lastReceiveMilliseconds / 1000) } ?? ""
        },
    ]
    static let info = Column(title: "INFO", maxWidth: Int.max) { r in TerminalText.oneLine(r.session?.row.info ?? "") }

    /// The chosen columns and their widths for `width` terminal columns: each column, in order,
    /// as wide as its widest cell (capped), while it fits; from DB on, only while INFO keeps 20
    /// columns; INFO gets what remains (at least 10), else is left out. Two columns come first:
    /// ">" on the cursor's row, "*" on marked rows (readable without colour or reverse video).
    /// `cells[row][column]` holds each row's cells of ``columns`` then INFO, escaped; the result
    /// is each chosen column's index there and width.
    static func fit(_ cells: [[String]], width: Int) -> [(Int, Int)] {
        var chosen: [(Int, Int)] = []
        var used = 2
        for (i, c) in columns.enumerated() {
            var w = c.title.count
            for r in cells { w = max(w, r[i].count); if w >= c.maxWidth { w = c.maxWidth; break } }
            let keepForInfo = i >= firstOptional ? 21 : 0
            if used + 1 + w + keepForInfo > width {
                if i < firstOptional { break } else { continue }
            }
            chosen.append((i, w))
            used += 1 + w
        }
        if width - used - 1 >= 10 { chosen.append((columns.count, width - used - 1)) }
        return chosen
    }

    /// The index of DB in ``columns``: the ones before it come first, INFO next.
    static let firstOptional = 8

    /// The column titles and one line per row, each exactly `width` characters or fewer. Each
    /// cell is made and escaped once.
    public static func table<Rows: Collection<TopRow>>(_ rows: Rows, marks: Set<RowKey>, cursor: RowKey?, width: Int) -> (header: String, lines: [String]) {
        let all = columns + [info]
        let cells = rows.map { r in all.map { TerminalText.escape($0.cell(r)) } }
        let cols = fit(cells, width: width)
        func line(_ row: [String], mark: String) -> String {
            var s = mark
            for (n, (i, w)) in cols.enumerated() {
                var v = row[i]
                if v.count > w { v = String(v.prefix(max(0, w - 1))) + "~" }
                let pad = String(repeating: " ", count: max(0, w - v.count))
                s += " " + (all[i].rightAligned ? pad + v : (n == cols.count - 1 ? v : v + pad))
            }
            return s
        }
        let header = line(all.map(\.title), mark: "  ")
        let lines = zip(rows, cells).map { r, row in
            line(row, mark: (r.key == cursor ? ">" : " ") + (marks.contains(r.key) ? "*" : " "))
        }
        return (header, lines)
    }

    public static func tone(_ r: TopRow) -> RowTone {
        let z = Set(r.zombie)
        if !z.isDisjoint(with: [.clientGone, .peerUnreachable]) { return .deadClient }
        if !z.isEmpty { return .zombie }
        guard let row = r.session?.row, row.command == "Query" || row.command == "Execute", let t = row.time else { return .plain }
        return t >= 60 ? .verySlow : t >= 10 ? .slow : .plain
    }

    /// The lines above the table: the server, counts by command, zombies by class, unmatched
    /// sockets, the refresh cost; then the view's own state.
    public static func header(_ model: TopModel, interval: Double, paused: Bool) -> [String] {
        guard let snap = model.snapshot else { return ["myconn top: first refresh..."] }
        let refresh = "refresh \(formatMilliseconds(snap.milliseconds)) ms, every \(formatSeconds(interval))" + (paused ? " (paused: p)" : "")
        guard let report = snap.report else {
            return ["myconn top  |  \(refresh)"]
        }
        let server = report.server
        var first = "mysqld pid \(server.pid.map(String.init) ?? "?")"
        if let v = server.version { first += "  \(TerminalText.escape(v))" }
        if let p = server.port { first += "  port \(p)" }
        if let up = snap.uptimeSeconds { first += "  up \(formatDuration(up))" }
        first += "  |  " + refresh
        // Counted on the refresher's thread, once per snapshot (PreparedSnapshot).
        func counts(_ d: [(name: String, count: Int)]) -> String {
            d.map { "\(TerminalText.escape($0.name)) \($0.count)" }.joined(separator: ", ")
        }
        let byCommand = model.commandCounts, byZombie = model.zombieCounts
        var second = server.sql ? "sessions \(report.sessions.count)" + (byCommand.isEmpty ? "" : ": " + counts(byCommand)) : "sessions unknown (no SQL)"
        second += "  |  zombies " + (byZombie.isEmpty ? "0" : counts(byZombie))
        second += "  |  unmatched sockets \(report.unmatchedSockets.count)"
        var third = "sort \(model.sort.rawValue)\(model.reversed ? " (reversed)" : "")  |  \(model.rows.count) shown"
        if let f = model.filterText { third += "  |  filter /\(TerminalText.escape(f))/" }
        if model.zombiesOnly { third += "  |  zombies only" }
        if model.hideIdle { third += "  |  idle hidden" }
        if !model.marks.isEmpty { third += "  |  \(model.marks.count) marked" }
        return [first, second, third]
    }

    static func formatMilliseconds(_ ms: Double) -> String {
        ms >= 100 ? String(Int(ms.rounded())) : String(Double(Int(ms * 10)) / 10)
    }

    static func formatSeconds(_ s: Double) -> String {
        s == s.rounded() ? "\(Int(s)) s" : "\(s) s"
    }

    static func formatDuration(_ s: UInt64) -> String {
        let d = s / 86400, h = s % 86400 / 3600, m = s % 3600 / 60
        if d > 0 { return "\(d)d\(h)h" }
        if h > 0 { return "\(h)h\(m)m" }
        return m > 0 ? "\(m)m\(s % 60)s" : "\(s)s"
    }
}
