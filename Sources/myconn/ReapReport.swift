import MyConnCore

/// `reap`'s output: one line, or one JSON object (`--json`), per decision, on stdout as it is
/// made. Every server- or client-supplied text goes through the terminal escaper.
enum ReapReport {
    /// One decision as it goes to stdout: its JSON object, or its line.
    static func bytes(_ e: ReapEvent, json: Bool) -> [UInt8] {
        json ? Self.json(e) : Array((line(e) + "\n").utf8)
    }

    static func line(_ e: ReapEvent) -> String {
        let c = e.victim.candidate
        var who: String
        if let row = c.row {
            who = "session \(row.id) \(row.user ?? "?")@\(row.host ?? "?") (\(row.command ?? "?") \(row.time.map(String.init) ?? "?") s)"
        } else {
            who = "socket"
            if let p = c.socket?.peer { who += " of \(p.description)" }
        }
        if let fd = e.target?.socket?.fd ?? c.socket?.fd { who += " fd \(fd)" }
        var out = "\(e.time) cycle \(e.cycle) "
        switch e.kind {
        case .matched: out += "matched \(who): \(e.victim.reason)"
            if let g = e.victim.group { out += " [class \(g)]" }
        case .acted: out += "acted \(verb(e)) \(who)" + (e.message.map { ": \($0)" } ?? ": " + (verdict(e) ?? "done"))
        case .skipped: out += "skipped \(who): \(e.message ?? "?")"
        case .failed: out += "failed \(verb(e)) \(who): \(e.message ?? "?")"
        case .dryRun: out += "dry-run \(verb(e)) \(who): would act"
        }
        return TerminalText.escape(out)
    }

    /// A probe's verdict (alive, dead, no-verdict), from its outcome fields.
    private static func verdict(_ e: ReapEvent) -> String? {
        guard e.action == "probe", let f = e.fields, let r = f.firstRange(of: #""verdict":""#) else { return nil }
        let rest = f[r.upperBound...]
        return rest.firstIndex(of: "\"").map { String(rest[..<$0]) }
    }

    private static func verb(_ e: ReapEvent) -> String {
        guard let a = e.action else { return "" }
        if a == "close", let m = e.method { return "close (\(m))" }
        return a
    }

    /// One object: `time`, `cycle`, `decision`, the session's row, its socket, the rules that
    /// matched, then the action's own outcome fields (as `close --json` has them) under `outcome`.
    static func json(_ e: ReapEvent) -> [UInt8] {
        let c = e.victim.candidate
        let w = JSONWriter(capacity: 1024)
        w.object {
            w.field("time", e.time)
            w.field("cycle", Int64(e.cycle))
            w.field("decision", e.kind.rawValue)
            w.field("action", e.action)
            w.field("method", e.method)
            let row = c.row
            w.field("session_id", row.map { Int64(bitPattern: $0.id) })
            w.field("user", row?.user)
            w.field("host", row?.host)
            w.field("db", row?.db)
            w.field("command", row?.command)
            w.field("seconds", row?.time)
            w.field("state", row?.state)
            w.field("info", row?.info)
            let socket = c.socket
            w.field("fd", (e.target?.socket?.fd ?? socket?.fd).map(Int64.init))
            w.field("inode", (e.target?.socket?.inode ?? socket?.inode).map { Int64(bitPattern: $0) })
            w.field("peer", socket?.peer)
            w.key("zombie")
            w.array(c.zombie) { w.string($0.rawValue) }
            w.key("rules")
            w.array(e.victim.reasons) { w.string($0) }
            w.field("group", e.victim.group)
            w.field("message", e.message)
            w.key("outcome")
            if let f = e.fields { w.raw(f) } else { w.null() }
        }
        w.newline()
        return w.bytes
    }
}
