#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import MyConnCore

/// What `fault` prints: the preview, the outcomes, `--list`, and what `--heal` removed (tables
/// through ``TableReport``, or one JSON object), and the heal's audit records.
enum FaultReport {
    static func preview(_ targets: [ActionTarget], method: FaultInjection, dryRun: Bool) -> String {
        let span = method.seconds.map { " for \(format($0)) s (kernel timeout)" } ?? " until healed"
        return "\(ActionTables.socketPreview(targets, what: dryRun ? "Would fault" : "Will fault")): \(method.kind.summary), \(method.direction.rawValue)\(span):\n"
            + TableReport.table(header: ActionTables.targetHeader, rows: targets.map(ActionTables.targetCells), width: Terminal.width(), shrinkable: [2, 6, 7])
    }

    static func delayPreview(_ targets: [ActionTarget], method: DelayInjection, dryRun: Bool) -> String {
        let span = method.seconds.map { " for \(format($0)) s" } ?? " until INT/TERM/HUP"
        let jitter = method.jitter > 0 ? " +-\(method.jitter) ms" : ""
        return "\(ActionTables.socketPreview(targets, what: dryRun ? "Would delay" : "Will delay")): \(method.milliseconds) ms\(jitter), \(method.direction.rawValue)\(span):\n"
            + TableReport.table(header: ActionTables.targetHeader, rows: targets.map(ActionTables.targetCells), width: Terminal.width(), shrinkable: [2, 6, 7])
    }

    static func delayResult(_ outcomes: [ActionOutcome<DelayDetail>]) -> String {
        let header = ActionTables.targetHeader + ["OUTCOME", "QUEUE", "PACKETS", "SECONDS", "ENDED", "MESSAGE"]
        let rows = outcomes.map { o in
            ActionTables.targetCells(o.target) + [o.result.name, o.detail.queue.map(String.init) ?? "-", String(o.detail.packets),
                                                  o.detail.seconds.map(format) ?? "-", o.detail.ended ?? "", o.result.message ?? ""]
        }
        return TableReport.table(header: header, rows: rows, width: Terminal.width(), shrinkable: [13, 2])
    }

    static func result(_ outcomes: [ActionOutcome<FaultDetail>]) -> String {
        let header = ActionTables.targetHeader + ["OUTCOME", "FAULT_ID", "UNTIL", "RULES", "MESSAGE"]
        let rows = outcomes.map { o in
            ActionTables.targetCells(o.target) + [o.result.name, o.detail.id.map(String.init) ?? "-", o.detail.until.map(clock) ?? "-",
                                                  o.detail.rules.joined(separator: ","), o.result.message ?? ""]
        }
        return TableReport.table(header: header, rows: rows, width: Terminal.width(), shrinkable: [12, 2])
    }

    /// `--list`: every fault of this mysqld, after the sweep (which is said too).
    static func list(_ table: FaultTable, swept: [FaultRuleset.Installed], json: Bool) throws {
        let faults: [FaultRuleset.Installed]
        do { faults = try table.list() } catch { throw Failure(.internalError, error.message) }
        if json {
            Terminal.writeStdout(FaultAudit.listJSON(table, faults: faults, swept: swept) + [0x0A])
            return
        }
        let place = FaultAudit.placer(table)
        for f in swept { printError("myconn: removed fault \(f.record.id): \(f.expired ? "expired" : "its socket is gone")") }
        if faults.isEmpty {
            printError("myconn: no faults in mysqld pid \(table.pid)'s network namespace \(table.namespace)")
            return
        }
        let header = ["FAULT", "SESSION", "CLIENT", "SERVER", "WHAT", "DIRECTION", "EXPIRES", "WHERE"]
        let rows = faults.map { f -> [String] in
            let r = f.record
            let expires = f.expired ? "expired" : f.expiresIn.map { "in \(format($0)) s" } ?? "when healed"
            return [String(r.id), r.session.map(String.init) ?? "-", r.connection.client.description, r.connection.server.description,
                    r.kind.summary, r.direction.rawValue, expires,
                    "\(table.namespace) " + f.rules.map(place).joined(separator: ",")]
        }
        Terminal.writeStdout(Array(TableReport.table(header: header, rows: rows, width: Terminal.width(), shrinkable: [7]).utf8))
    }

    /// What `--heal` removed: printed, and one audit record per fault.
    static func healed(_ removed: [FaultRuleset.Installed], swept: [FaultRuleset.Installed], table: FaultTable,
                       audit: AuditLog, dryRun: Bool, json: Bool) throws {
        let records = FaultAudit.records(removed, table: table, method: "heal", dryRun: dryRun) { _ in nil }
        do { try audit.append(records) } catch {
            printError("myconn: warning: the heal is done but the audit log could not be written (\(error))")
        }
        if json {
            Terminal.writeStdout(FaultAudit.healedJSON(method: "heal", dryRun: dryRun, healed: removed, swept: swept) + [0x0A])
        } else {
            for f in removed { printError("myconn: \(dryRun ? "would heal" : "healed") fault \(f.record.id) (\(f.record.kind.summary), session \(f.record.session.map(String.init) ?? "-"))") }
        }
    }

    /// One audit record per fault a sweep removed (its socket gone, expired, or its mysqld gone).
    static func audit(swept: [FaultRuleset.Installed], table: FaultTable, to audit: AuditLog?) {
        guard let audit, !swept.isEmpty else { return }
        try? audit.append(FaultAudit.sweptRecords(swept, table: table))
    }

    static func format(_ s: Double) -> String { s == s.rounded() ? String(Int(s)) : String(Double(Int(s * 10)) / 10) }

    /// Seconds since the epoch as local `HH:MM:SS`.
    static func clock(_ t: Int64) -> String {
        var tt = time_t(t)
        var tm = tm()
        localtime_r(&tt, &tm)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec))"
    }
}
