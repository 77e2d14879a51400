import ArgumentParser
import MyConnCore
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

@main
struct MyConn: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "myconn",
        abstract: "See which socket and file descriptor inside mysqld belongs to which MySQL/MariaDB session.",
        discussion: ExitStatus.helpText,
        version: "0.1.0",
        subcommands: [ListCommand.self, ZombiesCommand.self, TopCommand.self, KillCommand.self, CloseCommand.self, ProbeCommand.self, FaultCommand.self, ReapCommand.self, ServeCommand.self],
        helpNames: [.long]
    )

    /// Accepts the `mysql` client's option habits (`-uroot`, `-pSECRET`, bare `-p`) and turns
    /// every argument error into one line on stderr with exit status 64.
    /// The subcommand named first is parsed on its own: the root parse would build every
    /// subcommand's argument set before choosing one (measured: 1 ms of a 20 ms `list` at 1,000
    /// sessions). `--help` goes through the root, so that the help names `myconn`.
    static func parse(_ args: [String]) throws -> ParsableCommand {
        if let name = args.first, !args.contains("--help"),
           let sub = configuration.subcommands.first(where: { $0.configuration.commandName == name }) {
            return try sub.parse(Array(args.dropFirst()))
        }
        return try parseAsRoot(args)
    }

    static func main() {
        // The ptrace helper (close --method ptrace): nothing of the CLI runs in it.
        if CommandLine.arguments.count > 1, CommandLine.arguments[1] == PtraceHelper.subcommand {
            Glibc.exit(PtraceHelper.main(Array(CommandLine.arguments.dropFirst())))
        }
        // probe's guardian of the options it turns up.
        if CommandLine.arguments.count > 1, CommandLine.arguments[1] == ProbeGuard.subcommand {
            Glibc.exit(ProbeGuard.main(Array(CommandLine.arguments.dropFirst())))
        }
        let stdoutClosed = StartAndEnd.openStandardDescriptors()
        let args = StartAndEnd.packIDs(MySQLStyleArguments.rewrite(Array(CommandLine.arguments.dropFirst())))
        StartAndEnd.scrubPasswords()
        do {
            if stdoutClosed {
                throw Failure(.outputFailed, "standard output is closed; nothing was done: redirect it to a file or /dev/null")
            }
            if let refused = StartAndEnd.refusal(args) { throw refused }
            var command = try parse(args)
            try command.run()
            if let failed = StartAndEnd.outputFailure() { throw failed }
        } catch let failure as Failure {
            if let message = failure.message { printError("myconn: \(message)") }
            Glibc.exit(failure.status.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                if let failed = StartAndEnd.outputFailure() {
                    printError("myconn: \(failed.message ?? "")")
                    Glibc.exit(failed.status.rawValue)
                }
                Glibc.exit(0)
            }
            let message = self.message(for: error)
            if let first = message.split(separator: "\n").first {
                printError("myconn: \(StartAndEnd.idMessage(String(first)) ?? String(first)) (see myconn --help)")
            }
            Glibc.exit(code.rawValue)
        }
    }
}
