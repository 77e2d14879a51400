#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import LinuxKernel
import MySQLSessions
import ProcFS
import SystemPackage

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
    /// INT, TERM or QUIT: the cycle in progress was finished first.
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
/// re-verified at the moment of acting). INT, TERM, QUIT and HUP are held for the whole run: INT,
/// TERM or QUIT arriving mid-cycle ends the run after the cycle's action (its wait is cut short,
/// recorded as such; none starts if it came during the snapshot); HUP calls ``reload`` between
/// cycles and ends no action.
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
    /// Each cycle's snapshot, as soon as it is taken (`serve` publishes it).
    public var onSnapshot: ((Snapshot) -> Void)?

    public init(rules: ReapRules, taker: SnapshotTaker) {
        self.rules = rules
        self.taker = taker
    }

    /// Runs until `runTime`, `maxCycles` or INT/TERM. `method` nil: `--print` (decide only).
    public func run<M: ActionMethod>(_ method: M?, socketAction: Bool) -> ReapEnd {
        let signals = DeferredSignals()
        defer {
            // A signal still pending would be delivered at release and end the process with
            // its own status instead of the run's.
            while signals.take() != nil {}
            signals.release()
        }
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

    /// One cycle for a front end that runs the loop itself (`serve`, whose signals are
    /// swift-service-lifecycle's): nothing is held, and a cycle ends only on its own.
    /// - Returns: nil, or why the cycle stopped short (the audit log cannot be written).
    public func runCycle<M: ActionMethod>(_ n: UInt64, _ method: M?, socketAction: Bool) -> ReapEnd? {
        cycle(n, method, socketAction: socketAction, signals: nil)
    }

    /// One cycle; a non-nil end stops the run. `signals` nil: none are held (``runCycle``).
    private func cycle<M: ActionMethod>(_ n: UInt64, _ method: M?, socketAction: Bool, signals: DeferredSignals?) -> ReapEnd? {
        let rules = self.rules
        let snap = taker.take()
        onSnapshot?(snap)
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
        // What the rules read besides the snapshot; when it cannot be read, nothing is chosen
        // (an --ignore-program that protects nobody for a cycle is worse than a cycle skipped).
        var programs: [UInt64: String] = [:], ages: [UInt64: Int64] = [:]
        if let connection, rules.needsPrograms || rules.needsTransactions {
            do throws(MySQLError) {
                if rules.needsPrograms {
                    guard let p = try connection.programNames() else {
                        onNote("cycle \(n): --program needs performance_schema=ON, which this server does not run with; nothing chosen")
                        return pendingStop(signals)
                    }
                    programs = p
                }
                if rules.needsTransactions { ages = try connection.transactionAges(nil) }
            } catch {
                onNote("cycle \(n): cannot read what the rules need (\(error)); nothing chosen")
                return pendingStop(signals)
            }
        }
        let victims = ReapPolicy.victims(ReapPolicy.candidates(report, programs: programs, transactions: ages), rules: rules)
        let time = AuditLog.timestamp()
        for v in victims { onEvent(ReapEvent(cycle: n, time: time, kind: .matched, victim: v)) }
        guard let method, !victims.isEmpty else { return pendingStop(signals) }
        guard let audit else { return .auditLog("no audit log") }

        var targets: [ActionTarget] = []
        var notActed: [(event: ReapEvent, target: ActionTarget?)] = []
        var byIdentity: [ActionTarget.Identity: ReapVictim] = [:]
        for v in victims {
            let ref = report.server.pid.flatMap { v.candidate.socket?.reference(pid: $0) }
            var why: String?
            if socketAction && ref == nil { why = "no proven socket: " + (v.candidate.session?.unresolved ?? "its descriptor is not known") }
            if !socketAction && v.candidate.session == nil { why = "no session to \(method.action) (no SQL, or a socket without one)" }
            let t = v.candidate.row != nil || ref != nil ? ActionTarget(session: v.candidate.row, socket: ref) : nil
            if why == nil, let t, let first = byIdentity[t.identity] {
                why = "the same socket as " + (first.candidate.row.map { "session \($0.id)" } ?? "another victim")
            }
            if let why {
                notActed.append((ReapEvent(cycle: n, time: time, kind: .skipped, victim: v, target: t, action: method.action,
                                           method: method.method, message: why), t))
                continue
            }
            byIdentity[t!.identity] = v
            targets.append(t!)
        }
        let checked = Rechecked(inner: method, rules: rules, victims: byIdentity.mapValues(\.candidate), lookup: connection,
                                socketAction: socketAction, idleSeconds: taker.lister.idleSeconds, beforeRecheck: beforeRecheck)
        var pipeline = ActionPipeline(method: checked, dryRun: dryRun, waitSeconds: waitSeconds, audit: audit,
                                      sessions: connection, proc: taker.lister.proc)
        pipeline.heldSignals = signals == nil ? [] : [SIGINT, SIGTERM, SIGQUIT]
        let reasons = Dictionary(notActed.compactMap { e in e.target.map { ($0.identity, e.event.victim) } }, uniquingKeysWith: { a, _ in a })
            .merging(byIdentity, uniquingKeysWith: { _, b in b })
        pipeline.annotate = { t, w in
            w.field("front_end", "reap")
            w.field("cycle", Int64(n))
            w.field("reason", reasons[t.identity]?.reason)
            w.field("group", reasons[t.identity]?.group)
        }
        /// Decisions made before any act: on record, then shown.
        func settle(_ items: [(event: ReapEvent, target: ActionTarget?)], _ result: (ReapEvent) -> ActionResult) -> ReapEnd? {
            let recorded = items.compactMap { i in i.target.map { (target: $0, result: result(i.event)) } }
            do throws(Errno) { try pipeline.recordNotActed(recorded) } catch {
                return .auditLog("cannot write the audit log \(audit.path) (\(error)); nothing more was done")
            }
            for i in items { onEvent(i.event) }
            return nil
        }
        if let stop = settle(notActed, { .refused($0.message ?? "") }) { return stop }
        guard !targets.isEmpty else { return pendingStop(signals) }
        // A stop that came while the snapshot was read: nothing is in progress yet, so none starts.
        if let stop = pendingStop(signals) { return stop }
        func failedEvents(_ e: MethodUnavailable) -> [ReapEvent] {
            targets.map { t in
                ReapEvent(cycle: n, time: time, kind: .failed, victim: byIdentity[t.identity]!, target: t,
                          action: method.action, method: method.method, message: e.message)
            }
        }
        do throws(MethodUnavailable) { try checked.preflight(targets) } catch {
            // Refused before anything was done: the pipeline would record nothing, so reap does.
            return settle(failedEvents(error).map { ($0, $0.target) }, { .failed($0.message ?? "") }) ?? pendingStop(signals)
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

    /// A signal that came during the cycle: INT/TERM end the run now that the cycle is done.
    private func pendingStop(_ signals: DeferredSignals?) -> ReapEnd? {
        while let s = signals?.take() {
            if s == SIGHUP { reloadRules(); continue }
            return .signal(s)
        }
        return nil
    }
}

/// KILL through the SQL connection the snapshot taker holds: `reap --kill` acts through its own
/// single session, the one the cycle's snapshot and re-verification used (the taker replaces a
/// lost connection only when it takes the next snapshot, never within a cycle).
public struct CurrentConnectionKiller: SessionKiller {
    public let taker: SnapshotTaker

    public init(taker: SnapshotTaker) { self.taker = taker }

    public func kill(_ id: UInt64, queryOnly: Bool) throws(MySQLError) {
        guard let c = taker.sqlConnection else { throw MySQLError(kind: .client, code: 0, message: "no SQL connection") }
        try c.kill(id, queryOnly: queryOnly)
    }

    public func killStatement(_ id: UInt64, queryID: UInt64) throws(MySQLError) {
        guard let c = taker.sqlConnection else { throw MySQLError(kind: .client, code: 0, message: "no SQL connection") }
        try c.killStatement(queryID: queryID)
    }
}
