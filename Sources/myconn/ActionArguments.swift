import ArgumentParser
import MyConnCore

/// Options shared by every command that acts.
struct ActionArguments: ParsableArguments {
    @Flag(name: .long, help: "Act without asking (required when standard input is not a terminal).")
    var yes = false

    @Flag(name: .customLong("dry-run"), help: "Resolve, verify and audit everything, but do not act.")
    var dryRun = false

    @Option(name: .long, help: "Seconds to watch for the session (and socket) to go; 0: do not watch (session_gone is then null).")
    var wait: Double = 5

    @Option(name: .customLong("audit-log"), help: "Audit log file (default /var/log/myconn/audit.log for root, else under $XDG_STATE_HOME).")
    var auditLog: String?

    @Flag(name: .long, help: "Print the outcome as one JSON object.")
    var json = false

    func validate() throws {
        try requireFinite([("--wait", wait)])
        if wait < 0 || wait > 3600 { throw ValidationError("--wait must be 0-3600 seconds") }
    }

    /// Whether a person will be asked before acting.
    var asking: Bool { !yes && !dryRun }

    /// Before anything is resolved: with nobody to ask, --yes or --dry-run is required.
    func requireConfirmable(verb: String) throws {
        if asking && !Terminal.stdinIsTerminal {
            throw Failure(.usage, "refusing to \(verb) without --yes: standard input is not a terminal (use --dry-run to check first)")
        }
    }

    /// Opens the audit log before anything is done: if it cannot be written, nothing is.
    func openAudit() throws -> AuditLog { try openAuditLog(auditLog) }

    /// Shows what will be done (unless --json with nobody to ask) and, on a terminal without
    /// --yes or --dry-run, asks. Nothing to do asks nothing.
    func confirm(preview: String, count: Int, verb: String) -> Bool {
        guard count > 0 else { return true }
        // Table lines, every cell already through the escaper: written as they are.
        if !json || asking { fputsStderr(preview.hasSuffix("\n") ? preview : preview + "\n") }
        if !asking { return true }
        fputsStderr("\(verb.capitalized) \(count) target(s)? [y/N] ")
        let answer = readLine(strippingNewline: true)?.lowercased() ?? ""
        return answer == "y" || answer == "yes"
    }
}

/// Runs one action through the core's pipeline and prints its outcomes: all an acting command
/// adds is its method, its targets, and how its preview and result tables look.
struct ActionFrontEnd<Method: ActionMethod> {
    var arguments: ActionArguments
    var method: Method
    /// "close", "kill", "probe": the prompt's verb.
    var verb: String
    var sessions: (any SessionLookup)?
    var preview: ([ActionTarget]) -> String
    var table: ([ActionOutcome<Method.Detail>]) -> String

    /// - Throws: ``Failure`` for every way it can end short of done, after printing what was done.
    func run(_ targets: [ActionTarget]) throws -> [ActionOutcome<Method.Detail>] {
        let audit = try arguments.openAudit()
        let pipeline = ActionPipeline(method: method, dryRun: arguments.dryRun, waitSeconds: arguments.wait,
                                      audit: audit, sessions: sessions)
        let run: ActionPipeline<Method>.Run
        do {
            run = try pipeline.run(targets, confirm: { t in arguments.confirm(preview: preview(t), count: t.count, verb: verb) },
                                   report: show)
        } catch {
            throw Failure(error)
        }
        if let e = run.auditError {
            throw Failure(.auditLog, "acted, but the outcome could not be written to the audit log \(audit.path) (\(e))")
        }
        if let s = run.interruptedBy {
            let cut = run.outcomes.contains { if case .interrupted = $0.result { return true } else { return false } }
            throw Failure(.interrupted, cut ? "\(signalName(s)): the wait was cut short; the outcome is recorded as interrupted"
                                            : "\(signalName(s)) as the action ended: every outcome above is complete")
        }
        return run.outcomes
    }

    /// The outcomes on stdout: one JSON object, or the table.
    func show(_ run: ActionPipeline<Method>.Run) {
        if arguments.json {
            Terminal.writeStdout(run.json(method) + [0x0A])
        } else if !run.outcomes.isEmpty {
            Terminal.writeStdout(Array(table(run.outcomes).utf8))
        }
    }
}

/// The audit log a command writes: `--audit-log PATH` as named (its directory must exist), or the
/// default path, whose directories are made 0700. Opened before anything is done: if it cannot be
/// written, nothing is.
func openAuditLog(_ explicit: String?) throws -> AuditLog {
    guard let path = explicit ?? AuditLog.defaultPath() else {
        throw Failure(.auditLog, "no place for the audit log: neither HOME nor XDG_STATE_HOME is an absolute path; nothing was done: pass --audit-log PATH")
    }
    do {
        // The default path's directories are made (0700) whether or not it is named: a sidecar's
        // `--audit-log /var/log/myconn/audit.log` is the same place as root's default.
        return try AuditLog(path: path, createDirectories: explicit == nil || explicit == AuditLog.defaultPath())
    } catch {
        throw Failure(.auditLog, "cannot write the audit log \(TerminalText.escape(path)) (\(AuditLog.explain(error))); nothing was done: pass --audit-log PATH")
    }
}
