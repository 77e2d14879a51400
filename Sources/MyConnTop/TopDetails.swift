import MyConnCore

/// Enter: everything `list --json` knows of one row, its client process and its open
/// transaction; every value through the terminal escaper.
enum TopDetails {
    static func lines(_ row: TopRow, transaction: (id: UInt64, trx: OpenTransaction?)?, clientsLookedUp: Bool) -> [String] {
        var out: [String] = []
        func add(_ name: String, _ value: String?) {
            out.append(TerminalText.escape("  \(name.padding(12))\(value ?? "-")"))
        }
        if let s = row.session {
            let r = s.row
            out.append("SESSION \(r.id)   (Esc: back)")
            add("user", r.user)
            add("host", r.host)
            add("db", r.db)
            add("command", r.command)
            add("time", r.time.map { "\($0) s" })
            add("state", r.state)
            add("thread", r.tid.map(String.init))
            add("info", r.info.map(TerminalText.oneLine))
            add("transport", s.transport?.rawValue)
            add("matched by", s.match?.rawValue)
            if let why = s.unresolved { add("not proven", why) }
        } else {
            out.append("SOCKET WITHOUT A SESSION   (Esc: back)")
        }
        out.append("")
        if let k = row.socket {
            out.append("SOCKET")
            add("fd", k.fd.map(String.init))
            add("inode", k.inode.map(String.init))
            add("local", k.local?.description)
            add("peer", k.peer?.description)
            add("cookie", k.cookie.map { "0x" + String($0, radix: 16) })
            add("tcp state", k.tcpState?.description)
            add("queues", "recv \(k.recvQueue.map(String.init) ?? "-"), send \(k.sendQueue.map(String.init) ?? "-")")
            if let h = k.health {
                add("tcp_info", "rtt \(h.rttMicroseconds) us, retransmits \(h.retransmits), probes \(h.probes), unacked \(h.unacked)")
                add("", "last receive \(h.lastReceiveMilliseconds) ms, last send \(h.lastSendMilliseconds) ms, last ack \(h.lastAckReceivedMilliseconds) ms ago")
            }
            if !clientsLookedUp {
                add("client", "looking up...")
            } else if k.clients.isEmpty {
                add("client", "no process on this host holds the other end")
            } else {
                for c in k.clients { add("client", "pid \(c.pid) \(c.command) uid \(c.uid.map(String.init) ?? "?") fd \(c.fd)") }
            }
        } else {
            out.append("SOCKET  none proven")
        }
        out.append("")
        out.append("ZOMBIE")
        if row.zombie.isEmpty { add("classes", "none") }
        for z in row.zombie { add(z.rawValue, z.rule) }
        if let id = row.session?.row.id {
            out.append("")
            out.append("TRANSACTION (information_schema.INNODB_TRX)")
            if let t = transaction, t.id == id {
                if let trx = t.trx {
                    add("state", trx.state)
                    add("age", trx.ageSeconds.map { "\($0) s" })
                    add("rows locked", trx.rowsLocked.map(String.init))
                    add("rows changed", trx.rowsModified.map(String.init))
                    add("isolation", trx.isolation)
                } else {
                    add("open", "none")
                }
            } else {
                add("open", "looking up...")
            }
        }
        return out
    }
}

/// `?`: the keys.
enum TopHelp {
    static let lines = [
        "KEYS   (any key: back)",
        "  Up Down PgUp PgDn Home End   move (the cursor stays on its session across refreshes)",
        "  Space      mark / unmark (actions act on the marked sessions, else the one under the cursor)",
        "  s  r       cycle the sort column, reverse it",
        "  /          filter: a regular expression over user, host, db, state and info",
        "  z  i  \\    only zombies; hide idle (Sleep); clear every filter",
        "  Enter      details: socket, tcp_info, client process, zombie rules, open transaction",
        "  d  p       refresh interval; pause",
        "  K  Q       KILL CONNECTION, KILL QUERY (SQL)",
        "  C          cut at the socket: then t ptrace, f pidfd, d destroy, Enter the --method",
        "  P          probe: is the client still there?",
        "             every action shows what it will do and waits for y; n cancels",
        "  q  Ctrl-C  quit",
    ]
}

extension String {
    fileprivate func padding(_ n: Int) -> String { count >= n ? self + " " : self + String(repeating: " ", count: n - count) }
}
