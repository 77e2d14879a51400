import MyConnCore

/// Previews and outcomes of `close`, `kill` and `probe`, as tables (JSON is the pipeline's
/// front end's). Every cell goes through the terminal escaper in ``TableReport/table``.
enum ActionTables {
    static let targetHeader = ["SESSION", "USER", "HOST", "FD", "INODE", "TRANSPORT", "LOCAL", "PEER"]

    static func targetCells(_ t: ActionTarget) -> [String] {
        let s = t.socket
        return [t.session.map { String($0.id) } ?? "-", t.session?.user ?? "", t.session?.host ?? "",
                s.map { String($0.fd) } ?? "-", s.map { String($0.inode) } ?? "-", s?.transport.rawValue ?? "",
                s?.local?.description ?? "", s?.peer?.description ?? ""]
    }

    static func socketPreview(_ targets: [ActionTarget], what: String) -> String {
        let pid = targets.first?.socket.map { String($0.pid) } ?? "?"
        return "\(what) \(targets.count) socket(s) in mysqld pid \(pid)"
    }

    static func closePreview(_ targets: [ActionTarget], method: String, dryRun: Bool) -> String {
        "\(socketPreview(targets, what: dryRun ? "Would close" : "Will close")) with --method \(method):\n"
            + TableReport.table(header: targetHeader, rows: targets.map(targetCells), width: Terminal.width(), shrinkable: [2, 6, 7])
    }

    static func closeResult(_ outcomes: [ActionOutcome<CutDetail>]) -> String {
        let header = targetHeader + ["OUTCOME", "FREEZE_US", "SOCKET_GONE", "SESSION_GONE", "MESSAGE"]
        let rows = outcomes.map { o in
            targetCells(o.target) + [o.result.name, o.detail.freezeNanoseconds.map { String($0 / 1000) } ?? "-",
                                     yesNo(o.socketGone), yesNo(o.sessionGone), o.result.message ?? ""]
        }
        return TableReport.table(header: header, rows: rows, width: Terminal.width(), shrinkable: [12, 2])
    }

    static func probePreview(_ targets: [ActionTarget], timeout: Double, dryRun: Bool) -> String {
        "\(socketPreview(targets, what: dryRun ? "Would probe" : "Will probe")) (keepalive every second, up to \(Int(timeout)) s; a dead client's connection is dropped by the kernel):\n"
            + TableReport.table(header: targetHeader, rows: targets.map(targetCells), width: Terminal.width(), shrinkable: [2, 6, 7])
    }

    static func probeResult(_ outcomes: [ActionOutcome<Prober.Detail>]) -> String {
        let header = targetHeader + ["VERDICT", "SECONDS", "RESTORED", "SESSION_GONE", "MESSAGE"]
        let rows = outcomes.map { o in
            targetCells(o.target) + [o.detail.verdict?.name ?? o.result.name, o.detail.seconds.map(format2) ?? "-",
                                     yesNo(o.detail.restored), yesNo(o.sessionGone),
                                     o.detail.verdict?.message ?? o.result.message ?? ""]
        }
        return TableReport.table(header: header, rows: rows, width: Terminal.width(), shrinkable: [12, 2])
    }

    static func killPreview(_ targets: [ActionTarget], queryOnly: Bool, dryRun: Bool) -> String {
        "\(dryRun ? "Would run" : "Will run") KILL \(queryOnly ? "QUERY" : "CONNECTION") on \(targets.count) session(s):\n"
            + TableReport.table(header: ["SESSION", "USER", "HOST", "COMMAND", "TIME", "STATE", "INFO"],
                                rows: targets.compactMap(\.session).map(sessionCells), width: Terminal.width(), shrinkable: [6, 5])
    }

    static func sessionCells(_ s: ProcessListRow) -> [String] {
        [String(s.id), s.user ?? "", s.host ?? "", s.command ?? "", s.time.map { String($0) } ?? "", s.state ?? "",
         TerminalText.oneLine(s.info ?? "")]
    }

    static func killResult(_ outcomes: [ActionOutcome<SQLKill.Detail>]) -> String {
        let header = ["SESSION", "USER", "HOST", "OUTCOME", "NOW", "MESSAGE"]
        let rows = outcomes.map { o -> [String] in
            let now: String
            if let after = o.after {
                now = "still there: \(after.command ?? "") \(after.state ?? "")".trimmingTrailingSpaces
            } else {
                now = o.result == .done && o.sessionGone == true ? "gone" : "-"
            }
            let s = o.target.session
            return [s.map { String($0.id) } ?? "-", s?.user ?? "", s?.host ?? "", o.result.name, now, o.result.message ?? ""]
        }
        return TableReport.table(header: header, rows: rows, width: Terminal.width(), shrinkable: [5])
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
