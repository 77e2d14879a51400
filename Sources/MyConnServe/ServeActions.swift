import LinuxKernel
import MyConnCore

/// An answer of the API: a status and a JSON body.
struct APIReply: Error, Sendable, Equatable {
    var status: Int
    var body: [UInt8]

    /// Toxiproxy's error shape: `{"error": "...", "status": N}`.
    static func error(_ status: Int, _ message: String) -> APIReply {
        let w = JSONWriter()
        w.object {
            w.field("error", message)
            w.field("status", Int64(status))
        }
        return APIReply(status: status, body: w.bytes + [0x0A])
    }

    static func json(_ status: Int, _ body: [UInt8]) -> APIReply { APIReply(status: status, body: body + [0x0A]) }
}

/// A fault of `DELETE /faults/{id}`: nftables rules by their fault id (`3`), or a delay (`delay-2`).
enum FaultID: Sendable, Equatable {
    case rules(Int)
    case delay(Int)

    init?(_ text: String) {
        if text.hasPrefix("delay-"), let n = Int(text.dropFirst(6)), n >= 0 { self = .delay(n); return }
        guard let n = Int(text), n >= 0 else { return nil }
        self = .rules(n)
    }
}

/// Who asked, in each audit record the API causes.
struct Caller: Sendable {
    var remote: String
    var path: String
}

extension Engine {
    /// One action on session `id`, on the engine's thread: the target from the last snapshot
    /// (a fresh one when that did not have the session), then the pipeline, which re-verifies it
    /// at the moment of acting, records intent and outcome, and waits for the outcome.
    func act(_ request: ActionRequest, _ options: ActionOptions, on id: UInt64, caller: Caller) -> APIReply {
        let needsSocket: Bool
        if case .kill = request { needsSocket = false } else { needsSocket = true }
        let target: ActionTarget
        switch resolve(id, needsSocket: needsSocket) {
        case .failure(let reply): return reply
        case .success(let t): target = t
        }
        let wait = options.wait ?? settings.waitSeconds
        switch request {
        case .kill(let query):
            guard taker.sqlConnection != nil else { return .error(503, "no SQL connection now: a KILL needs one (close works without)") }
            return run(SQLKill(killer: CurrentConnectionKiller(taker: taker), queryOnly: query), target, options.dryRun, wait, caller)
        case .close(let how):
            return run(SocketCut(how: how), target, options.dryRun, wait, caller)
        case .probe(let timeout):
            return run(Prober(timeoutSeconds: timeout), target, options.dryRun, wait, caller)
        case .fault(.reset):
            return run(SocketCut(how: .destroy), target, options.dryRun, wait, caller)
        case .fault(.halfClose(let side)):
            return run(HalfClose(side: side), target, options.dryRun, 0, caller)
        case .fault(.delay(let ms, let jitter, let direction, let seconds)):
            // Records of delays whose myconn is gone (their queue numbers are free again) go first.
            if !options.dryRun { sweep(pid: target.socket!.pid, caller: caller) }
            let method = DelayInjection(milliseconds: ms, jitter: jitter, direction: direction, seconds: seconds)
            let metrics = self.metrics
            return delays.start(method, target: target, dryRun: options.dryRun, audit: audit,
                                annotate: Self.annotation(caller)) { metrics.count(action: "fault", method: "delay", outcome: $0) }
        case .fault(.network(let kind, let direction, let seconds)):
            if !options.dryRun { sweep(pid: target.socket!.pid, caller: caller) }
            return run(FaultInjection(kind: kind, direction: direction, seconds: seconds), target, options.dryRun, 0, caller)
        }
    }

    /// The target for session `id`: from the last snapshot, or a new one when it lacks the id.
    func resolve(_ id: UInt64, needsSocket: Bool) -> Result<ActionTarget, APIReply> {
        var snapshot = published
        for attempt in 0..<2 {
            if attempt == 1 { snapshot = refresh() }
            guard let report = snapshot?.snapshot.report else {
                if attempt == 0 { continue }
                if case .unavailable(let why)? = snapshot?.snapshot.mode { return .failure(.error(503, "no view of mysqld now: \(why)")) }
                return .failure(.error(503, "no view of mysqld now"))
            }
            if id == taker.ownSessionID { return .failure(.error(403, "session \(id) is myconn serve's own connection; nothing was done")) }
            guard let s = report.sessions.first(where: { $0.row.id == id }) else {
                if attempt == 0 { continue }
                return .failure(.error(404, "no session \(id) on this server (see GET /sessions); nothing was done"))
            }
            if !needsSocket { return .success(ActionTarget(session: s.row, socket: nil)) }
            guard let pid = report.server.pid, let ref = s.socket?.reference(pid: pid) else {
                return .failure(.error(409, "session \(id)'s socket is not proven (\(s.unresolved ?? "no client socket")); nothing was done"))
            }
            return .success(ActionTarget(session: s.row, socket: ref))
        }
        return .failure(.error(404, "no session \(id)"))
    }

    /// The pipeline, as every command runs it; the reply is the `--json` document, with the status
    /// of its one outcome: 200 done (or dry run), 409 refused (nothing touched), 500 failed.
    func run<M: ActionMethod>(_ method: M, _ target: ActionTarget, _ dryRun: Bool, _ wait: Double, _ caller: Caller) -> APIReply {
        var pipeline = ActionPipeline(method: method, dryRun: dryRun, waitSeconds: wait, audit: audit,
                                      sessions: taker.sqlConnection, proc: taker.lister.proc)
        // swift-service-lifecycle has the signals: SIGTERM lets this action finish.
        pipeline.heldSignals = []
        pipeline.annotate = Self.annotation(caller)
        let metrics = self.metrics
        return Self.reply(pipeline, [target]) { metrics.count(action: method.action, method: method.method, outcome: $0) }
    }

    /// Runs the pipeline (confirmed: the request is the confirmation) and answers with its
    /// `--json` document and the status of its outcome: 200 done (or dry run), 409 refused
    /// (nothing touched), 500 failed; each outcome counted by its name.
    static func reply<M: ActionMethod>(_ pipeline: ActionPipeline<M>, _ targets: [ActionTarget], count: (String) -> Void) -> APIReply {
        do {
            let run = try pipeline.run(targets, confirm: { _ in true })
            for o in run.outcomes { count(o.result.name) }
            let status: Int
            switch run.outcomes.first?.result {
            case .done?, .dryRun?, nil: status = 200
            case .refused?: status = 409
            case .failed?, .interrupted?: status = 500
            }
            if let e = run.auditError {
                return .error(500, "acted, but the outcome could not be written to the audit log \(pipeline.audit.path) (\(e))")
            }
            return .json(status, run.json(pipeline.method))
        } catch {
            switch error {
            case .methodUnavailable(let m):
                count("failed")
                return .error(503, "\(m.message); nothing was done")
            case .auditLog(let path, let e): return .error(500, "cannot write the audit log \(path) (\(e)); nothing was done")
            case .notConfirmed: return .error(500, "not confirmed; nothing was done")
            }
        }
    }

    /// What serve adds to each audit record of a request's: who asked, and for what.
    static func annotation(_ caller: Caller) -> @Sendable (ActionTarget, JSONWriter) -> Void {
        { _, w in
            w.field("front_end", "serve")
            w.field("remote", caller.remote)
            w.field("request", caller.path)
        }
    }

    /// mysqld's fault table, from the last snapshot's pid.
    func faultTable() -> Result<FaultTable, APIReply> {
        guard let pid = (published ?? refresh())?.snapshot.report?.server.pid else { return .failure(.error(503, "mysqld is not known now")) }
        return .success(FaultTable(pid: pid))
    }

    /// Faults whose socket mysqld no longer holds, or that the kernel expired: out, on record.
    @discardableResult
    func sweep(pid: Int32, caller: Caller) -> [FaultRuleset.Installed] {
        let table = FaultTable(pid: pid)
        guard let swept = try? table.sweep(), !swept.isEmpty else { return [] }
        try? audit.append(FaultAudit.sweptRecords(swept, table: table))
        return swept
    }

    /// `GET /faults`.
    func listFaults(caller: Caller) -> APIReply {
        let table: FaultTable
        switch faultTable() {
        case .failure(let r): return r
        case .success(let t): table = t
        }
        let swept = sweep(pid: table.pid, caller: caller)
        let delays = self.delays.running
        do {
            return .json(200, FaultAudit.listJSON(table, faults: try table.list(), swept: swept) { w in
                w.key("delays")
                w.array(delays) { d in w.object { Delays.fields(d, w) } }
            })
        } catch {
            return .error(503, "\(error.message): faults need root (or CAP_NET_ADMIN in mysqld's network namespace)")
        }
    }

    /// `DELETE /faults`, `DELETE /faults/{id}` and `POST /reset`: the faults removed, on record
    /// (a delay's own outcome record says it was healed). `id` nil: every one.
    func heal(id: FaultID?, method: String, caller: Caller) -> APIReply {
        var endedDelays: [Delays.Running] = []
        switch id {
        case .delay(let d)?:
            endedDelays = delays.heal([d])
            if endedDelays.isEmpty { return .error(404, "no delay \(d) (see GET /faults); nothing was done") }
            return healed(method, [], [], endedDelays)
        case nil: endedDelays = delays.heal()
        case .rules?: break
        }
        let table: FaultTable
        switch faultTable() {
        case .failure(let r): return r
        case .success(let t): table = t
        }
        let swept = sweep(pid: table.pid, caller: caller)
        let removed: [FaultRuleset.Installed]
        do {
            if case .rules(let id)? = id {
                guard try table.list().contains(where: { $0.record.id == id }) else {
                    return .error(404, "no fault \(id) (see GET /faults); nothing was done")
                }
                removed = try table.remove(where: { $0.record.id == id })
            } else {
                removed = try table.remove()
            }
        } catch {
            let delaysNote = endedDelays.isEmpty ? "" : " (\(endedDelays.count) delay(s) were ended first; their records say so)"
            return .error(503, "\(error.message): faults need root (or CAP_NET_ADMIN in mysqld's network namespace)\(delaysNote)")
        }
        let records = FaultAudit.records(removed, table: table, method: method, dryRun: false, annotate: { w in
            w.field("front_end", "serve")
            w.field("remote", caller.remote)
            w.field("request", caller.path)
        }) { _ in nil }
        try? audit.append(records)
        if !removed.isEmpty { metrics.count(action: "fault", method: method, outcome: "done", by: removed.count) }
        return healed(method, removed, swept, endedDelays)
    }

    /// The answer of a heal: the faults healed, those the sweep removed, the delays ended.
    private func healed(_ method: String, _ removed: [FaultRuleset.Installed], _ swept: [FaultRuleset.Installed],
                        _ ended: [Delays.Running]) -> APIReply {
        .json(200, FaultAudit.healedJSON(method: method, dryRun: false, healed: removed, swept: swept) { w in
            w.key("delays_ended")
            w.array(ended) { d in w.object { Delays.fields(d, w) } }
        })
    }

    /// `GET /sessions/{id}`: the session as in `/sessions`, with its open transaction.
    func session(_ id: UInt64) -> APIReply {
        guard let p = published, let report = p.snapshot.report else {
            if case .unavailable(let why)? = published?.snapshot.mode { return .error(503, "no view of mysqld now: \(why)") }
            return .error(503, "no snapshot yet; try again in a moment")
        }
        guard let s = report.sessions.first(where: { $0.row.id == id }) else {
            return .error(404, "no session \(id) in the last snapshot (see GET /sessions)")
        }
        let trx = taker.transaction(of: id)
        let w = JSONWriter()
        w.object {
            JSONReport.sessionFields(s, clientsLookedUp: report.clientsLookedUp, w)
            w.key("transaction")
            if let trx {
                w.object {
                    w.field("state", trx.state)
                    w.field("age_seconds", trx.ageSeconds.map { Int64($0) })
                    w.field("rows_locked", trx.rowsLocked.map { Int64($0) })
                    w.field("rows_modified", trx.rowsModified.map { Int64($0) })
                    w.field("isolation", trx.isolation)
                }
            } else {
                w.null()
            }
            w.field("snapshot_time", Int64(p.takenAt))
        }
        return .json(200, w.bytes)
    }
}
