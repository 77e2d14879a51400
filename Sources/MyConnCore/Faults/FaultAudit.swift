/// The words of faults removed (healed, swept) in the audit log and in JSON: shared by `fault`
/// and `serve`, so that a fault reads the same whoever removed it.
public enum FaultAudit {
    /// The audit records of faults removed by `method` (heal, sweep, reset), one per fault.
    public static func records(_ faults: [FaultRuleset.Installed], table: FaultTable, method: String, dryRun: Bool,
                               annotate: ((JSONWriter) -> Void)? = nil,
                               message: (FaultRuleset.Installed) -> String?) -> [String] {
        faults.map { f -> String in
            let w = JSONWriter()
            w.object {
                w.field("time", AuditLog.timestamp())
                w.field("uid", Int64(AuditLog.uid))
                w.field("action", "fault")
                w.field("method", method)
                w.field("dry_run", dryRun)
                w.field("phase", "outcome")
                w.field("mysqld_pid", Int64(table.pid))
                fields(f, to: w)
                w.field("outcome", dryRun ? "dry-run" : "done")
                w.field("message", message(f))
                annotate?(w)
            }
            return w.text
        }
    }

    /// The records of what a sweep removed: each fault's socket gone, expired, or its mysqld gone.
    public static func sweptRecords(_ swept: [FaultRuleset.Installed], table: FaultTable) -> [String] {
        records(swept, table: table, method: "sweep", dryRun: false) {
            $0.expired ? "expired" : "its socket or its mysqld is gone"
        }
    }

    /// One fault's fields (after `fault_id` the connection, the fault, its span, rules and sets).
    public static func fields(_ f: FaultRuleset.Installed, to w: JSONWriter) {
        let r = f.record
        w.field("fault_id", Int64(r.id))
        w.field("session_id", r.session.map { Int64(bitPattern: $0) })
        w.field("inode", Int64(bitPattern: r.connection.inode))
        w.field("cookie", String(r.connection.cookie))
        w.field("client", r.connection.client.description)
        w.field("server", r.connection.server.description)
        w.field("fault", r.kind.token)
        w.field("direction", r.direction.rawValue)
        w.field("created", r.created)
        w.field("until", r.until)
        w.field("expired", f.expired)
        w.key("rules")
        w.array(f.rules) { w.string($0.label) }
        w.key("sets")
        w.array(f.sets) { w.string($0) }
    }

    /// Names a rule where a person would look: `netdev egress_2#5` as `netdev egress eth0#5`.
    public static func placer(_ table: FaultTable) -> (FaultRuleset.Installed.Rule) -> String {
        let names = (try? table.interfaces()) ?? [:]
        return { r in
            guard r.chain.hasPrefix("egress_"), let i = UInt32(r.chain.dropFirst(7)), let name = names[i] else { return r.label }
            return "\(r.family) egress \(name)#\(r.handle)"
        }
    }

    /// Every fault of a mysqld as one JSON object (`fault --list --json`, `GET /faults`), with
    /// what the sweep before it removed.
    /// `extra` adds fields at the end (`serve`'s delays).
    public static func listJSON(_ table: FaultTable, faults: [FaultRuleset.Installed], swept: [FaultRuleset.Installed],
                                extra: ((JSONWriter) -> Void)? = nil) -> [UInt8] {
        let place = placer(table)
        let w = JSONWriter()
        w.object {
            w.field("mysqld_pid", Int64(table.pid))
            w.field("namespace", table.namespace)
            w.field("table", "inet \(FaultRuleset.table)")
            w.key("faults")
            w.array(faults) { f in
                w.object {
                    fields(f, to: w)
                    w.key("where")
                    w.array(f.rules) { w.string(place($0)) }
                }
            }
            w.key("removed")
            w.array(swept) { f in w.object { fields(f, to: w) } }
            extra?(w)
        }
        return w.bytes
    }

    /// What a heal removed, as one JSON object (`fault --heal --json`, `serve`'s `DELETE /faults`
    /// and `/reset`): the faults healed and those the sweep before it removed; `extra` adds
    /// fields at the end (`serve`'s delays).
    public static func healedJSON(method: String, dryRun: Bool, healed: [FaultRuleset.Installed], swept: [FaultRuleset.Installed],
                                  extra: ((JSONWriter) -> Void)? = nil) -> [UInt8] {
        let w = JSONWriter()
        w.object {
            w.field("action", "fault")
            w.field("method", method)
            w.field("dry_run", dryRun)
            w.key("healed")
            w.array(healed) { f in w.object { fields(f, to: w) } }
            w.key("removed")
            w.array(swept) { f in w.object { fields(f, to: w) } }
            extra?(w)
        }
        return w.bytes
    }
}
