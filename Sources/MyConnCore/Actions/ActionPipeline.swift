import LinuxKernel
import MySQLSessions
import ProcFS
import SystemPackage

/// What happened to one target.
public enum ActionResult: Error, Sendable, Equatable {
    case done
    /// Re-verification at the moment of acting refused: nothing touched.
    case refused(String)
    case failed(String)
    case dryRun
    /// Acted, then a signal (INT, TERM, HUP) ended the wait before the outcome was known.
    case interrupted(String)

    public var name: String {
        switch self {
        case .done: return "done"
        case .refused: return "refused"
        case .failed: return "failed"
        case .dryRun: return "dry-run"
        case .interrupted: return "interrupted"
        }
    }

    public var message: String? {
        switch self {
        case .refused(let m), .failed(let m), .interrupted(let m): return m
        case .done, .dryRun: return nil
        }
    }
}

/// What the wait after an action watches, per target acted on.
public struct WaitGoal: OptionSet, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// mysqld's descriptor no longer refers to the target's inode.
    public static let socketGone = WaitGoal(rawValue: 1)
    /// The session left the processlist (where SQL is available).
    public static let sessionGone = WaitGoal(rawValue: 2)
    /// The session runs no statement any more (`Query`/`Killed`), or is gone.
    public static let queryEnded = WaitGoal(rawValue: 4)
}

/// One target's step as the method took it.
public struct ActionStep<Detail: Sendable & Equatable>: Sendable, Equatable {
    public var result: ActionResult
    public var detail: Detail

    public init(_ result: ActionResult, _ detail: Detail) {
        self.result = result
        self.detail = detail
    }
}

/// One target and everything known of it at the end: the only result type of every action.
public struct ActionOutcome<Detail: Sendable & Equatable>: Sendable, Equatable {
    public var target: ActionTarget
    public var result: ActionResult
    public var detail: Detail
    /// nil: not watched (nothing to wait for, not acted on, or `--wait 0`).
    public var socketGone: Bool?
    public var sessionGone: Bool?
    /// The session's row at the end of the wait, when it is still there.
    public var after: ProcessListRow?
}

/// What the pipeline lends a method while it acts.
public struct ActionContext {
    public var proc: ProcReader
    /// Held INT/TERM/HUP/QUIT: a method with a long act (probe) ends it early when one is taken.
    public var signals: DeferredSignals
    /// A front end's own stop (`serve` healing a delay): a method with an act that lasts until
    /// told (a delay) ends it when this returns true, as when a signal is taken.
    public var stopRequested: @Sendable () -> Bool = { false }
}

/// An action's own part: how it checks, re-verifies and acts. Everything around it (dedupe,
/// preview and confirmation, audit, waiting, signals) is the pipeline's, once for all.
public protocol ActionMethod {
    associatedtype Detail: Sendable & Equatable
    /// The audit log's `action` and `method`.
    var action: String { get }
    var method: String { get }
    /// The detail of a target not acted on (dry run, not attempted).
    var noDetail: Detail { get }
    /// Whether the method can act on these targets at all, checked before anything is shown.
    func preflight(_ targets: [ActionTarget]) throws(MethodUnavailable)
    /// For `--dry-run`: each target checked as acting would check it, without acting; nil where
    /// it would be acted on, else why not (refused, failed). Empty: the method checks nothing more.
    func verify(_ targets: [ActionTarget], proc: ProcReader) -> [ActionResult?]
    /// Re-verifies each target at the moment of acting, then acts: one step per target, in order.
    /// - Throws: ``MethodUnavailable`` when nothing could be done at all.
    func act(_ targets: [ActionTarget], context: ActionContext) throws(MethodUnavailable) -> [ActionStep<Detail>]
    /// What to wait for after a step.
    func goal(after step: ActionStep<Detail>, target: ActionTarget) -> WaitGoal
    /// The outcome's own fields, after the target's, in the audit log and `--json`.
    func writeFields(of outcome: ActionOutcome<Detail>, to w: JSONWriter)
    /// Whether the target's record carries `transport`.
    var recordsTransport: Bool { get }
}

extension ActionMethod {
    public func verify(_ targets: [ActionTarget], proc: ProcReader) -> [ActionResult?] { [] }
}

/// Why a method cannot run at all here. Raised before anything was touched.
public enum MethodUnavailable: Error, Sendable, Equatable {
    case ptrace(String)
    case pidfd(String)
    case destroy(String)
    case sql(String)
    /// Faults: nftables cannot be used in mysqld's network namespace.
    case nftables(String)

    public var message: String {
        switch self {
        case .ptrace(let m), .pidfd(let m), .destroy(let m), .sql(let m), .nftables(let m): return m
        }
    }
}

/// Sessions as they are now, for the wait (``MySQLConnection`` is the real one).
public protocol SessionLookup {
    func sessions(_ ids: [UInt64]) throws(MySQLError) -> [ProcessListRow]
}

extension MySQLConnection: SessionLookup {}

/// resolve (the caller) → dedupe → preflight → preview and confirm (a "no" is recorded as
/// `declined`) → intent records → act
/// (the method re-verifies) → wait, on one clock → outcome records. INT, TERM and HUP are held
/// from the first record to the last: one arriving during the wait ends the wait, not the
/// process, and the targets still pending are recorded as interrupted.
public struct ActionPipeline<Method: ActionMethod> {
    public var method: Method
    public var dryRun: Bool
    /// Seconds to watch for each target's goal; 0: do not watch.
    public var waitSeconds: Double
    public var audit: AuditLog
    /// nil when SQL is not available (kernel-only targets).
    public var sessions: (any SessionLookup)?
    public var proc: ProcReader
    /// Fields a front end adds to each of its records, after the outcome's (`reap`'s rule and cycle).
    public var annotate: ((ActionTarget, JSONWriter) -> Void)?
    /// The signals held while acting and waiting, which end a probe or a wait early. `reap`
    /// leaves HUP out: it holds HUP itself, for between cycles (a reload ends no action).
    public var heldSignals: [Int32] = DeferredSignals.held
    /// Passed to the method's act (``ActionContext/stopRequested``).
    public var stopRequested: @Sendable () -> Bool = { false }

    public init(method: Method, dryRun: Bool, waitSeconds: Double, audit: AuditLog,
                sessions: (any SessionLookup)?, proc: ProcReader = ProcReader()) {
        self.method = method
        self.dryRun = dryRun
        self.waitSeconds = waitSeconds
        self.audit = audit
        self.sessions = sessions
        self.proc = proc
    }

    public enum Stop: Error {
        case methodUnavailable(MethodUnavailable)
        /// The intent record could not be written: nothing was done.
        case auditLog(path: String, Errno)
        case notConfirmed
    }

    public struct Run {
        public var outcomes: [ActionOutcome<Method.Detail>]
        /// The signal that ended the wait (or arrived while acting), taken off the queue.
        public var interruptedBy: Int32?
        /// An outcome record that could not be written (the action was done).
        public var auditError: Errno?

        /// The run as one JSON object, as `--json` prints it and `serve` answers it: the action,
        /// the method, and each target with its outcome fields.
        public func json(_ method: Method) -> [UInt8] {
            let w = JSONWriter()
            w.object {
                w.field("action", method.action)
                w.field("method", method.method)
                w.key("targets")
                w.array(outcomes) { o in
                    w.object {
                        o.target.writeFields(to: w, transport: method.recordsTransport)
                        method.writeFields(of: o, to: w)
                    }
                }
                w.field("interrupted", interruptedBy.map(signalName))
            }
            return w.bytes
        }
    }

    /// - Parameters:
    ///   - confirm: shown the targets, each once, after the method's checks; false: nothing is done.
    ///   - report: shown the run before signals are let through, so that its output is whole.
    public func run(_ targets: [ActionTarget], confirm: ([ActionTarget]) -> Bool,
                    report: (Run) -> Void = { _ in }) throws(Stop) -> Run {
        let targets = targets.uniqued()
        do { try method.preflight(targets) } catch { throw .methodUnavailable(error) }
        guard confirm(targets) else {
            // A "no" is on record too (nothing was done): who looked at which targets and declined.
            try? audit.append(targets.map { record(.declined, target: $0, outcome: nil) })
            throw .notConfirmed
        }
        let signals = DeferredSignals(heldSignals)
        defer { signals.release() }
        var run = Run(outcomes: [], interruptedBy: nil, auditError: nil)
        if dryRun || targets.isEmpty {
            // Everything but the act: each target checked as the act would check it.
            let checked = dryRun ? method.verify(targets, proc: proc) : []
            run.outcomes = targets.indices.map { i in
                ActionOutcome(target: targets[i], result: checked.isEmpty ? .dryRun : checked[i] ?? .dryRun, detail: method.noDetail)
            }
        } else {
            // Every intent in one write: all are on record before anything is done, or nothing is.
            do { try audit.append(targets.map { record(.intent, target: $0, outcome: nil) }) } catch {
                throw .auditLog(path: audit.path, error)
            }
            let steps: [ActionStep<Method.Detail>]
            do {
                steps = try method.act(targets, context: ActionContext(proc: proc, signals: signals, stopRequested: stopRequested))
            } catch {
                let failed = targets.map { ActionOutcome(target: $0, result: .failed(error.message), detail: method.noDetail) }
                try? audit.append(failed.map { record(.outcome, target: $0.target, outcome: $0) })
                throw .methodUnavailable(error)
            }
            run.outcomes = zip(targets, steps).map { ActionOutcome(target: $0, result: $1.result, detail: $1.detail) }
            let goals = zip(targets, steps).map { method.goal(after: $1, target: $0) }
            if let s = signals.taken ?? signals.take() {
                // A signal came while acting (a probe ends early on it): what was done is not watched.
                for i in run.outcomes.indices where run.outcomes[i].result == .done && !goals[i].isEmpty {
                    run.outcomes[i].result = .interrupted("\(signalName(s)) while acting: acted, outcome not watched")
                }
            } else {
                watch(&run.outcomes, goals: goals, signals: signals)
            }
        }
        do { try audit.append(run.outcomes.map { record(.outcome, target: $0.target, outcome: $0) }) } catch {
            run.auditError = error
        }
        run.interruptedBy = signals.taken ?? signals.take()
        report(run)
        return run
    }

    /// Outcome records of targets a front end did not pass to ``run(_:confirm:report:)``: refused
    /// or failed before any act (`reap`'s victims without a proven socket, a method its preflight
    /// refused), in the same words as the pipeline's own.
    public func recordNotActed(_ items: [(target: ActionTarget, result: ActionResult)]) throws(Errno) {
        try audit.append(items.map { record(.outcome, target: $0.target, outcome: ActionOutcome(target: $0.target, result: $0.result, detail: method.noDetail)) })
    }

    enum Phase: String { case intent, outcome, declined }

    /// One audit record: who, what, which target, and (after acting) what came of it.
    func record(_ phase: Phase, target: ActionTarget, outcome: ActionOutcome<Method.Detail>?) -> String {
        let w = JSONWriter()
        w.object {
            w.field("time", AuditLog.timestamp())
            w.field("uid", Int64(AuditLog.uid))
            w.field("action", method.action)
            w.field("method", method.method)
            w.field("dry_run", dryRun)
            w.field("phase", phase.rawValue)
            target.writeFields(to: w, transport: method.recordsTransport)
            if let outcome { method.writeFields(of: outcome, to: w) }
            annotate?(target, w)
        }
        return w.text
    }

    /// Polls every 10 ms until each target's goal is reached or the wait is over. A signal ends
    /// it early (``DeferredSignals/taken``): targets still pending then are `interrupted`.
    func watch(_ outcomes: inout [ActionOutcome<Method.Detail>], goals: [WaitGoal], signals: DeferredSignals) {
        guard waitSeconds > 0 else { return }
        let deadline = Deadline(after: waitSeconds)
        var pending = outcomes.indices.filter { outcomes[$0].result == .done && !goals[$0].isEmpty }
        while !pending.isEmpty {
            var still: [Int] = []
            let sqlIDs = pending.compactMap { i -> UInt64? in
                goals[i].isDisjoint(with: [.sessionGone, .queryEnded]) ? nil : outcomes[i].target.session?.id
            }
            let rows = sqlIDs.isEmpty ? nil : (try? sessions?.sessions(sqlIDs)).map { rows in
                Dictionary(rows.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            }
            for i in pending {
                var waiting = false
                if goals[i].contains(.socketGone), let s = outcomes[i].target.socket, outcomes[i].socketGone != true {
                    outcomes[i].socketGone = (try? proc.fdTarget(pid: s.pid, fd: s.fd)) != .socket(inode: s.inode)
                    waiting = outcomes[i].socketGone != true
                }
                if let rows, let id = outcomes[i].target.session?.id, !goals[i].isDisjoint(with: [.sessionGone, .queryEnded]) {
                    let row = rows[id]
                    outcomes[i].sessionGone = row == nil
                    outcomes[i].after = row
                    if goals[i].contains(.sessionGone) { waiting = waiting || row != nil }
                    if goals[i].contains(.queryEnded) { waiting = waiting || row?.command == "Query" || row?.command == "Killed" }
                }
                if waiting { still.append(i) }
            }
            pending = still
            if pending.isEmpty || deadline.passed { return }
            if let s = signals.take() {
                for i in pending {
                    outcomes[i].result = .interrupted("\(signalName(s)) during the wait: acted, outcome not yet known")
                }
                return
            }
            Deadline.sleep(milliseconds: 10)
        }
    }
}
