import MyConnCore

/// `myconn list` for people: sessions, then reasons, then sockets without a session.
/// Cut to the terminal's width (INFO and STATE first); never cut when piped.
enum TableReport {
    static func render(_ report: ListReport, width: Int?, wide: Bool = false, clients: Bool = false) -> String {
        let server = report.server
        var out = "mysqld pid \(server.pid.map(String.init) ?? "?")"
        if server.sameNetworkNamespace == false { out += " (another network namespace: addresses as mysqld sees them)" }
        if server.sql {
            out += "  \(TerminalText.escape(server.version ?? "?"))  port \(server.port.map(String.init) ?? "?")  \(report.sessions.count) session(s)\n"
        } else {
            out += "  kernel only (no SQL): \(report.unmatchedSockets.count) connection(s), sessions unknown\n"
            out += socketTable(report.unmatchedSockets, width: width, clients: clients)
            if !report.listeningSockets.isEmpty {
                out += "\nmysqld listening sockets:\n" + socketTable(report.listeningSockets, width: width)
            }
            return out
        }
        let healthHeader = wide ? ["RTT_US", "RETRANS", "PROBES", "UNACKED", "LAST_RECV_MS", "LAST_SEND_MS"] : []
        let header = ["ID", "USER", "HOST", "DB", "COMMAND", "TIME", "STATE", "TRANSPORT", "FD", "INODE",
                      "LOCAL", "PEER", "TCP_STATE", "SENDQ", "RECVQ"] + healthHeader + (clients ? ["CLIENT"] : [])
                      + ["ZOMBIE", "INFO"]
        let rows = report.sessions.map { s -> [String] in
            let r = s.row
            let sql: [String] = [String(r.id), r.user ?? "", r.host ?? "", r.db ?? "", r.command ?? "",
                                 r.time.map(String.init) ?? "", r.state ?? ""]
            let transport = (s.socket?.transport ?? s.transport)?.rawValue ?? ""
            let health = wide ? healthCells(s.socket?.health) : []
            let zombie = s.zombie.map(\.rawValue).joined(separator: ",")
            return sql + [transport] + kernelCells(s.socket) + health + (clients ? [clientCell(s.socket)] : [])
                + [zombie, TerminalText.oneLine(r.info ?? "")]
        }
        out += table(header: header, rows: rows, width: width, shrinkable: [header.count - 1, 6, 2])
        let reasons = report.sessions.filter { $0.unresolved != nil && $0.transport != nil }
        if !reasons.isEmpty {
            out += "\nNot proven:\n"
            for s in reasons { out += "  session \(s.row.id): \(TerminalText.escape(s.unresolved!))\n" }
        }
        if !report.unmatchedSockets.isEmpty {
            out += "\nmysqld sockets without a session:\n"
            out += socketTable(report.unmatchedSockets, width: width, zombie: true, clients: clients)
        }
        if !report.listeningSockets.isEmpty {
            out += "\nmysqld listening sockets:\n"
            out += socketTable(report.listeningSockets, width: width)
        }
        return out
    }

    static func socketTable(_ sockets: [SocketView], width: Int?, zombie: Bool = false, clients: Bool = false) -> String {
        let header = ["TRANSPORT", "FD", "INODE", "LOCAL", "PEER", "TCP_STATE", "SENDQ", "RECVQ"] + (clients ? ["CLIENT"] : [])
            + (zombie ? ["ZOMBIE"] : [])
        let rows = sockets.map { k in
            [k.transport.rawValue] + kernelCells(k) + (clients ? [clientCell(k)] : [])
                + (zombie ? [(k.zombie ?? []).map(\.rawValue).joined(separator: ",")] : [])
        }
        return table(header: header, rows: rows, width: width, shrinkable: [3, 4])
    }

    /// FD INODE LOCAL PEER TCP_STATE SENDQ RECVQ; "-" where fd or inode is not proven.
    static func kernelCells(_ k: SocketView?) -> [String] {
        let fd = k?.fd.map { String($0) } ?? "-"
        let inode = k?.inode.map { String($0) } ?? "-"
        let sendQ = k?.sendQueue.map { String($0) } ?? ""
        let recvQ = k?.recvQueue.map { String($0) } ?? ""
        return [fd, inode, k?.local?.description ?? "", k?.peer?.description ?? "", k?.tcpState?.description ?? "", sendQ, recvQ]
    }

    /// `pid/command` of the lowest pid holding the other end, `+N` for more holders; "-" for none.
    static func clientCell(_ k: SocketView?) -> String {
        guard let first = k?.clients.first else { return "-" }
        let more = (k?.clients.count ?? 1) - 1
        return "\(first.pid)/\(first.command)" + (more > 0 ? " +\(more)" : "")
    }

    /// tcp_info columns for --wide; "-" where the kernel gave none (unix, --source proc).
    static func healthCells(_ h: TCPHealth?) -> [String] {
        guard let h else { return ["-", "-", "-", "-", "-", "-"] }
        return [String(h.rttMicroseconds), String(h.retransmits), String(h.probes), String(h.unacked),
                String(h.lastReceiveMilliseconds), String(h.lastSendMilliseconds)]
    }

    /// Left-aligned columns two spaces apart, every cell through the terminal escaper (values
    /// come from the server and other users). When wider than `width`, the `shrinkable`
    /// columns (in that order) give up characters, down to 8 each, cut with "…".
    static func table(header: [String], rows: [[String]], width: Int?, shrinkable: [Int]) -> String {
        let rows = rows.map { $0.map(TerminalText.escape) }
        var widths = header.map(\.count)
        for r in rows { for (i, v) in r.enumerated() { widths[i] = max(widths[i], v.count) } }
        if let width {
            var excess = widths.reduce(0, +) + 2 * (widths.count - 1) - width
            for i in shrinkable where excess > 0 {
                let give = min(excess, max(0, widths[i] - 8))
                widths[i] -= give
                excess -= give
            }
        }
        func line(_ cells: [String]) -> String {
            var s = ""
            for (i, v) in cells.enumerated() {
                let cell = v.count > widths[i] ? String(v.prefix(max(0, widths[i] - 1))) + "…" : v
                s += i == cells.count - 1 ? cell : cell.padding(to: widths[i]) + "  "
            }
            while s.hasSuffix(" ") { s.removeLast() }
            return s + "\n"
        }
        return line(header) + rows.map(line).joined()
    }
}

extension String {
    fileprivate func padding(to n: Int) -> String {
        count >= n ? self : self + String(repeating: " ", count: n - count)
    }
}
