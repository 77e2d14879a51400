#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import LinuxKernel
import MySQLSessions
import ProcFS

/// One decision of `reap` about one victim: chosen, then acted on, skipped or failed.
public struct ReapEvent: Sendable {
    public enum Kind: String, Sendable {
        /// The rules chose it from the cycle's snapshot (all `--print` shows).
        case matched
        /// The action was done (a wait cut short by a signal is still an act).
        case acted
        /// Not acted on: it changed since the snapshot, or cannot be acted on this way.
        case skipped
        case failed
        /// `--dry-run`: re-verified as the act would, not acted on.
        case dryRun = "dry-run"
    }

    public var cycle: UInt64
    public var time: String
    public var kind: Kind
    public var victim: ReapVictim
    /// The target as acted on (nil for `matched` and for a victim that has no target).
    public var target: ActionTarget?
    public var action: String?
    public var method: String?
    public var message: String?
    /// The method's outcome fields (a JSON object), for `--json`.
    public var fields: String?

    public init(cycle: UInt64, time: String, kind: Kind, victim: ReapVictim, target: ActionTarget? = nil, action: String? = nil,
                method: String? = nil, message: String? = nil, fields: String? = nil) {
        self.cycle = cycle
        self.time = time
        self.kind = kind
        self.victim = victim
        self.target = target
        self.action = action
        self.method = method
        self.message = message
        self.fields = fields
    }
}

/// How a run of `reap` ended.
public enum ReapEnd: Sendable, Equatable {
    /// `--run-time` passed, or the number of cycles asked for were done.
    case finished
    /// INT or TERM: the cycle in progress was finished first.
    case signal(Int32)
    /// The audit log could not be written: nothing of that cycle was done.
    case auditLog(String)
}

/// Why a rules file could not be read again (SIGHUP): the old rules stay.
public struct RulesUnreadable: Error, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
}

/// The loop of `myconn reap`: every `interval`, one snapshot (the `list` join), the victims of
/// the rules, and one run of the action pipeline on them through ``Rechecked`` (so that each is
/// re-verified at the moment of acting). INT and TERM are held for the whole run: one arriving
/// mid-cycle ends the run after the cycle's action (its wait is cut short, recorded as such);
/// HUP calls ``reload`` and goes on.
public final class Reaper {
    public var rules: ReapRules
    public let taker: SnapshotTaker
    /// Seconds between the starts of two cycles.
    public var interval: Double = 30
    /// Seconds from the start after which no cycle starts (the run ends as soon as the next one
    /// would start later); nil: until a signal.
    public var runTime: Double?
    /// Cycles to run at most (tests; `--cycles`).
    public var maxCycles: UInt64?
    public var dryRun = false
    public var waitSeconds: Double = 5
    /// Required for acting (not for `--print`).
    public var audit: AuditLog?
    public var beforeRecheck: (([ActionTarget]) -> Void)?
    /// SIGHUP: the rules to use from now on, or why the old ones stay.
    public var reload: (() -> Result<ReapRules, RulesUnreadable>)?
    public var onEvent: (ReapEvent) -> Void = { _ in }
    /// A line for standard error: a cycle that could not look, a reload.
    public var onNote: (String) -> Void = { _ in }

    public init(rules: ReapRules, taker: SnapshotTaker) {
        self.rules = rules
        self.taker = taker
    }

    /// Runs until `runTime`, `maxCycles` or INT/TERM. `method` nil: `--print` (decide only).
    public func run<M: ActionMethod>(_ method: M?, socketAction: Bool) -> ReapEnd {
        let signals = DeferredSignals()
        defer { signals.release() }
        let start = Deadline.now()
        var cycle: UInt64 = 0
        while true {
            cycle += 1
            let cycleStart = Deadline.now()
            if let stop = self.cycle(cycle, method, socketAction: socketAction, signals: signals) { return stop }
            if let n = maxCycles, cycle >= n { return .finished }
            let left = interval - (Deadline.now() - cycleStart)
            // No cycle would start before --run-time is over: the run is done now.
            if let runTime, Deadline.now() - start + max(left, 0) >= runTime { return .finished }
            if let s = sleep(left, signals: signals) { return .signal(s) }
        }
    }

    /// Sleeps, reloading on HUP; an INT/TERM/QUIT ends it.
    private func sleep(_ seconds: Double, signals: DeferredSignals) -> Int32? {
        let until = Deadline.now() + max(seconds, 0)
        while true {
            let left = until - Deadline.now()
            guard let s = signals.wait(seconds: max(left, 0)) else {
                if left <= 0 || Deadline.now() >= until { return nil }
                continue
            }
            if s == SIGHUP { reloadRules(); continue }
            return s
        }
    }

    private func reloadRules() {
        guard let reload else { return onNote("SIGHUP: no --rules file to read again; the rules stay") }
        switch reload() {
        case .success(let r):
            rules = r
            onNote("SIGHUP: rules read again")
        case .failure(let why):
            onNote("SIGHUP: \(why.message); the rules stay as they were")
        }
    }

    /// One cycle; a non-nil end stops the run.
    private func cycle<M: ActionMethod>(_ n: UInt64, _ method: M?, socketAction: Bool, signals: DeferredSignals) -> ReapEnd? {
        let rules = self.rules
        let snap = taker.take()
        guard let report = snap.report else {
            if case .unavailable(let why) = snap.mode { onNote("cycle \(n): no snapshot: \(why)") }
            return pendingStop(signals)
        }
        let sql = snap.mode == .sql
        if case .kernelOnly(let why) = snap.mode, !rules.kernelOnly {
            onNote("cycle \(n): SQL is not available (\(why)); the rules need the processlist, nothing chosen")
            return pendingStop(signals)
        }
        let connection = sql ? taker.sqlConnection : nil
        let programs = rules.needsPrograms ? ((try? connection?.programNames()) ?? nil) ?? [:] : [:]
        let ages = rules.needsTransactions ? ((try? connection?.transactionAges(nil)) ?? [:]) : [:]
        let victims = ReapPolicy.victims(ReapPolicy.candidates(report, programs: programs, transactions: ages), rules: rules)
        let time = AuditLog.timestamp()
        for v in victims { onEvent(ReapEvent(cycle: n, time: time, kind: .matched, victim: v)) }
        guard let method, !victims.isEmpty else { return pendingStop(signals) }

        var targets: [ActionTarget] = []
        var skipped: [ReapEvent] = []
        var byIdentity: [ActionTarget.Identity: ReapVictim] = [:]
        for v in victims {
            let ref = report.server.pid.flatMap { v.candidate.socket?.reference(pid: $0) }
            var why: String?
            if socketAction && ref == nil { why = "no proven socket: " + (v.candidate.session?.unresolved ?? "its descriptor is not known") }
            if !socketAction && v.candidate.session == nil { why = "no session to \(method.action) (no SQL, or a socket without one)" }
            if let why {
                skipped.append(ReapEvent(cycle: n, time: time, kind: .skipped, victim: v, action: method.action, method: method.method, message: why))
                continue
            }
            let t = ActionTarget(session: v.candidate.row, socket: ref)
            guard byIdentity[t.identity] == nil else { continue }
            byIdentity[t.identity] = v
            targets.append(t)
        }
        guard let audit else { return .auditLog("no audit log") }
        if !skipped.isEmpty {
            // Victims that cannot be acted on this way are skips too: on record before they are shown.
            do { try audit.append(skipped.map { record($0, socketPID: report.server.pid) }) } catch {
                return .auditLog("cannot write the audit log \(audit.path) (\(error)); nothing was done")
            }
            skipped.forEach(onEvent)
        }
        guard !targets.isEmpty else { return pendingStop(signals) }
        let checked = Rechecked(inner: method, rules: rules, victims: byIdentity.mapValues(\.candidate), lookup: connection,
                                socketAction: socketAction, idleSeconds: taker.lister.idleSeconds, beforeRecheck: beforeRecheck)
        var pipeline = ActionPipeline(method: checked, dryRun: dryRun, waitSeconds: waitSeconds, audit: audit,
                                      sessions: connection, proc: taker.lister.proc)
        pipeline.annotate = { t, w in
            w.field("front_end", "reap")
            w.field("cycle", Int64(n))
            w.field("reason", byIdentity[t.identity]?.reason)
            w.field("group", byIdentity[t.identity]?.group)
        }
        func failedEvents(_ e: MethodUnavailable) -> [ReapEvent] {
            targets.map { t in
                ReapEvent(cycle: n, time: time, kind: .failed, victim: byIdentity[t.identity]!, target: t,
                          action: method.action, method: method.method, message: e.message)
            }
        }
        do throws(MethodUnavailable) { try checked.preflight(targets) } catch {
            // Refused before anything was done: the pipeline would record nothing, so reap does.
            let failed = failedEvents(error)
            do { try audit.append(failed.map { record($0, socketPID: report.server.pid) }) } catch {
                return .auditLog("cannot write the audit log \(audit.path) (\(error))")
            }
            failed.forEach(onEvent)
            return pendingStop(signals)
        }
        let run: ActionPipeline<Rechecked<M>>.Run
        do {
            run = try pipeline.run(targets, confirm: { _ in true })
        } catch {
            switch error {
            case .auditLog(let path, let e): return .auditLog("cannot write the audit log \(path) (\(e)); nothing was done")
            case .methodUnavailable(let e):
                // The act itself could not start: the pipeline recorded each target as failed.
                failedEvents(e).forEach(onEvent)
                return pendingStop(signals)
            case .notConfirmed: return pendingStop(signals)
            }
        }
        for o in run.outcomes {
            let kind: ReapEvent.Kind
            switch o.result {
            case .done, .interrupted: kind = .acted
            case .refused: kind = .skipped
            case .failed: kind = .failed
            case .dryRun: kind = .dryRun
            }
            let w = JSONWriter()
            w.object { checked.writeFields(of: o, to: w) }
            onEvent(ReapEvent(cycle: n, time: time, kind: kind, victim: byIdentity[o.target.identity]!, target: o.target,
                              action: method.action, method: method.method, message: o.result.message, fields: w.text))
        }
        if let e = run.auditError { return .auditLog("acted, but the outcome could not be written to the audit log \(audit.path) (\(e))") }
        if let s = run.interruptedBy {
            if s == SIGHUP { reloadRules(); return pendingStop(signals) }
            return .signal(s)
        }
        return pendingStop(signals)
    }

    /// The audit record of a victim skipped (or failed) before the pipeline acted, in the
    /// pipeline's words.
    private func record(_ e: ReapEvent, socketPID: Int32?) -> String {
        let w = JSONWriter(capacity: 1024)
        let c = e.victim.candidate
        w.object {
            w.field("time", AuditLog.timestamp())
            w.field("uid", Int64(AuditLog.uid))
            w.field("action", e.action)
            w.field("method", e.method)
            w.field("dry_run", dryRun)
            w.field("phase", "outcome")
            w.field("session_id", c.row.map { Int64(bitPattern: $0.id) })
            w.field("user", c.row?.user)
            w.field("host", c.row?.host)
            w.field("mysqld_pid", socketPID.map(Int64.init))
            w.field("fd", c.socket?.fd.map(Int64.init))
            w.field("inode", c.socket?.inode.map { Int64(bitPattern: $0) })
            w.field("peer", c.socket?.peer?.description)
            w.field("outcome", e.kind == .failed ? "failed" : "refused")
            w.field("message", e.message)
            w.field("front_end", "reap")
            w.field("cycle", Int64(e.cycle))
            w.field("reason", e.victim.reason)
            w.field("group", e.victim.group)
        }
        return w.text
    }

    /// A signal that came during the cycle: INT/TERM end the run now that the cycle is done.
    private func pendingStop(_ signals: DeferredSignals) -> ReapEnd? {
        while let s = signals.take() {
            if s == SIGHUP { reloadRules(); continue }
            return .signal(s)
        }
        return nil
    }
}

/// KILL through whatever SQL connection the snapshot taker holds now (it makes a new one when
/// the old is lost): `reap --kill` acts through its own single session.
public struct CurrentConnectionKiller: SessionKiller {
    public let taker: SnapshotTaker

    public init(taker: SnapshotTaker) { self.taker = taker }

    public func kill(_ id: UInt64, queryOnly: Bool) throws(MySQLError) {
        guard let c = taker.sqlConnection else { throw MySQLError(kind: .client, code: 0, message: "no SQL connection") }
        try c.kill(id, queryOnly: queryOnly)
    }
}
