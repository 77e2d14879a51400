import MyConnCore
import MySQLSessions

/// Previews and outcomes of `close` and `kill`, as tables and JSON.
enum ActionTables {
    static let targetHeader = ["SESSION", "USER", "HOST", "FD", "INODE", "TRANSPORT", "LOCAL", "PEER"]

    static func targetCells(_ t: CloseTarget) -> [String] {
        [t.session.map { String($0.id) } ?? "-", t.session?.user ?? "", t.session?.host ?? "", String(t.fd),
         String(t.inode), t.socket.transport.rawValue, t.socket.local ?? "", t.socket.peer ?? ""]
    }

    static func closePreview(_ targets: [CloseTarget], method: CloseMethod, dryRun: Bool) -> String {
        let pid = targets.first.map { String($0.pid) } ?? "?"
        var out = "\(dryRun ? "Would close" : "Will close") \(targets.count) socket(s) in mysqld pid \(pid) with --method \(method.rawValue):\n"
        out += TableReport.table(header: targetHeader, rows: targets.map(targetCells), width: Terminal.width(), shrinkable: [2, 6, 7])
        return out
    }

    static func closeResult(_ outcomes: [CloseOutcome]) -> String {
        let header = targetHeader + ["OUTCOME", "FREEZE_US", "SOCKET_GONE", "SESSION_GONE", "MESSAGE"]
        let rows = outcomes.map { o in
            targetCells(o.target) + [o.result.name, o.freezeNanoseconds.map { String($0 / 1000) } ?? "-",
                                     yesNo(o.socketGone), yesNo(o.sessionGone), o.result.message ?? ""]
        }
        return TableReport.table(header: header, rows: rows, width: Terminal.width(), shrinkable: [12, 2])
    }

    static func closeJSON(_ outcomes: [CloseOutcome], method: CloseMethod) -> [UInt8] {
        let w = JSONWriter()
        w.object {
            w.field("action", "close")
            w.field("method", method.rawValue)
            w.key("targets")
            w.array(outcomes) { o in w.object { o.writeFields(to: w) } }
        }
        return w.bytes
    }

    static func probePreview(_ targets: [CloseTarget], timeout: Double, dryRun: Bool) -> String {
        let pid = targets.first.map { String($0.pid) } ?? "?"
        var out = "\(dryRun ? "Would probe" : "Will probe") \(targets.count) socket(s) in mysqld pid \(pid) (keepalive every second, up to \(Int(timeout)) s; a dead client's connection is dropped by the kernel):\n"
        out += TableReport.table(header: targetHeader, rows: targets.map(targetCells), width: Terminal.width(), shrinkable: [2, 6, 7])
        return out
    }

    static func probeResult(_ outcomes: [Prober.Outcome]) -> String {
        let header = targetHeader + ["VERDICT", "SECONDS", "RESTORED", "SESSION_GONE", "MESSAGE"]
        let rows = outcomes.map { o in
            targetCells(o.target) + [o.verdict.name, o.seconds.map(format2) ?? "-", yesNo(o.restored),
                                     yesNo(o.sessionGone), o.verdict.message ?? ""]
        }
        return TableReport.table(header: header, rows: rows, width: Terminal.width(), shrinkable: [12, 2])
    }

    static func probeJSON(_ outcomes: [Prober.Outcome]) -> [UInt8] {
        let w = JSONWriter()
        w.object {
            w.field("action", "probe")
            w.key("targets")
            w.array(outcomes) { o in w.object { o.writeFields(to: w) } }
        }
        return w.bytes
    }

    static func killPreview(_ sessions: [ProcessListRow], queryOnly: Bool, dryRun: Bool) -> String {
        var out = "\(dryRun ? "Would run" : "Will run") KILL \(queryOnly ? "QUERY" : "CONNECTION") on \(sessions.count) session(s):\n"
        out += TableReport.table(header: ["SESSION", "USER", "HOST", "COMMAND", "TIME", "STATE", "INFO"],
                                 rows: sessions.map(sessionCells), width: Terminal.width(), shrinkable: [6, 5])
        return out
    }

    static func sessionCells(_ s: ProcessListRow) -> [String] {
        [String(s.id), s.user ?? "", s.host ?? "", s.command ?? "", s.time.map { String($0) } ?? "", s.state ?? "",
         TableReport.oneLine(s.info ?? "")]
    }

    static func killResult(_ outcomes: [KillRunner.Outcome], queryOnly: Bool) -> String {
        let header = ["SESSION", "USER", "HOST", "OUTCOME", "NOW", "MESSAGE"]
        let rows = outcomes.map { o -> [String] in
            let now: String
            if let after = o.after {
                now = "still there: \(after.command ?? "") \(after.state ?? "")".trimmingTrailingSpaces
            } else {
                now = o.result == .done ? "gone" : "-"
            }
            return [String(o.session.id), o.session.user ?? "", o.session.host ?? "", o.result.name, now, o.result.message ?? ""]
        }
        return TableReport.table(header: header, rows: rows, width: Terminal.width(), shrinkable: [5])
    }

    static func killJSON(_ outcomes: [KillRunner.Outcome], queryOnly: Bool) -> [UInt8] {
        let w = JSONWriter()
        w.object {
            w.field("action", queryOnly ? "kill-query" : "kill")
            w.key("targets")
            w.array(outcomes) { o in w.object { o.writeFields(to: w) } }
        }
        return w.bytes
    }

    static func yesNo(_ b: Bool?) -> String { b.map { $0 ? "yes" : "no" } ?? "-" }
}

extension String {
    fileprivate var trimmingTrailingSpaces: String {
        var s = self
        while s.hasSuffix(" ") { s.removeLast() }
        return s
    }
}
