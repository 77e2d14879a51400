import ArgumentParser

@main
struct MyConn: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "myconn",
        abstract: "See which socket and file descriptor inside mysqld belongs to which MySQL/MariaDB session.",
        discussion: ExitStatus.helpText,
        version: "0.1.0",
        subcommands: [ListCommand.self],
        helpNames: [.long]
    )

    /// Accepts the `mysql` client's option habits (`-uroot`, `-pSECRET`, bare `-p`) before parsing.
    static func main() {
        main(MySQLStyleArguments.rewrite(Array(CommandLine.arguments.dropFirst())))
    }
}
