import ArgumentParser
import MyConnCore

/// Options shared by every command that acts.
struct ActionArguments: ParsableArguments {
    @Flag(name: .long, help: "Act without asking (required when standard input is not a terminal).")
    var yes = false

    @Flag(name: .customLong("dry-run"), help: "Resolve, verify and audit everything, but do not act.")
    var dryRun = false

    @Option(name: .long, help: "Seconds to watch for the session (and socket) to go.")
    var wait: Double = 5

    @Option(name: .customLong("audit-log"), help: "Audit log file (default /var/log/myconn/audit.log for root, else under $XDG_STATE_HOME).")
    var auditLog: String?

    @Flag(name: .long, help: "Print the outcome as one JSON object.")
    var json = false

    func validate() throws {
        if wait < 0 || wait > 3600 { throw ValidationError("--wait must be 0-3600 seconds") }
    }

    /// Opens the audit log before anything is done: if it cannot be written, nothing is.
    func openAudit() throws -> AuditLog {
        let path = auditLog ?? AuditLog.defaultPath()
        do {
            return try AuditLog(path: path)
        } catch {
            throw fail(.auditLog, "cannot write the audit log \(path) (\(error)); nothing was done: pass --audit-log PATH")
        }
    }

    /// Shows what will be done and asks, on a terminal, unless --yes or --dry-run.
    func confirm(preview: String, count: Int, verb: String) throws {
        let asking = !yes && !dryRun
        if asking && !Terminal.stdinIsTerminal {
            throw fail(.usage, "refusing to \(verb) without --yes: standard input is not a terminal (use --dry-run to check first)")
        }
        if !json || asking { printError(preview.hasSuffix("\n") ? String(preview.dropLast()) : preview) }
        if !asking { return }
        fputsStderr("\(verb.capitalized) \(count) target(s)? [y/N] ")
        let answer = readLine(strippingNewline: true)?.lowercased() ?? ""
        guard answer == "y" || answer == "yes" else {
            throw fail(.notDone, "nothing done: not confirmed")
        }
    }
}
