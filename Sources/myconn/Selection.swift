import ArgumentParser
import MyConnCore

/// An option's matcher value (exact, `/regex/`, or always a regex); nil when not given.
/// - Throws: ValidationError naming the option, for an expression that does not compile.
func textMatch(_ option: String, _ value: String?, regex: Bool = false) throws -> TextMatch? {
    guard let value else { return nil }
    do { return try TextMatch(value, alwaysRegex: regex) } catch {
        throw ValidationError("\(option) \(value) is not a regular expression: \(TerminalText.oneLine(String(describing: error)))")
    }
}

/// How `kill`, `close` and `probe` (and `fault`) select sessions besides ids: `--zombie` classes
/// and the `--match-*` matchers, all of which must hold. The matchers are named `--match-*`
/// (as pt-kill's) because `--user` and `--host` are the login's, as in the mysql client.
struct Selection: ParsableArguments {
    @Option(name: .long, help: "Select targets by zombie class: client-gone, peer-unreachable, orphan-socket, orphan-session, idle (comma-separated; see myconn zombies).")
    var zombie: String?

    @Option(name: .long, help: "With --zombie idle: in Sleep for at least this many seconds (TIME >= N, as pt-kill's --idle-time).")
    var idle: Int64?

    @Option(name: .customLong("match-user"), help: "Sessions of this user (exact, or /regex/).")
    var matchUser: String?

    @Option(name: .customLong("match-db"), help: "Sessions whose current database is this (exact, or /regex/).")
    var matchDB: String?

    @Option(name: .customLong("match-host"), help: "Sessions whose client address, without the port, is this (exact, or /regex/; localhost: the unix socket).")
    var matchHost: String?

    @Option(name: .customLong("match-command"), help: "Sessions in this COMMAND (Sleep, Query, ...; exact, or /regex/).")
    var matchCommand: String?

    @Option(name: .customLong("match-info"), help: "Sessions whose statement (INFO) has a match of this regular expression.")
    var matchInfo: String?

    @Option(name: .customLong("match-state"), help: "Sessions whose STATE has a match of this regular expression.")
    var matchState: String?

    @Option(name: .long, help: "The session whose client end is ADDR:PORT (IPv6 as [addr]:port): what the client reads from its own socket.")
    var client: String?

    @Option(name: .customLong("client-port"), help: "Sessions whose client port is this.")
    var clientPort: UInt16?

    @Option(name: .long, help: "Sessions whose program_name connection attribute is this (exact, or /regex/; needs performance_schema=ON).")
    var program: String?

    /// The classes asked for; nil without --zombie.
    var classes: [ZombieClass]? { zombie.flatMap(ZombieClass.parseList) }

    /// Whether any matcher or --zombie is given.
    var isGiven: Bool { zombie != nil || anyMatcher }

    var anyMatcher: Bool {
        [matchUser, matchDB, matchHost, matchCommand, matchInfo, matchState, client, program].contains { $0 != nil } || clientPort != nil
    }

    func validate() throws {
        if let zombie, ZombieClass.parseList(zombie) == nil {
            throw ValidationError("--zombie takes classes from: \(ZombieClass.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if classes?.contains(.idle) == true && idle == nil { throw ValidationError("--zombie idle needs --idle SECONDS") }
        if let idle, idle < 0 { throw ValidationError("--idle must be 0 or more seconds") }
        if let client, SocketTargets.parsePeer(client) == nil { throw ValidationError("--client \(client) is not ADDR:PORT (IPv6 as [addr]:port)") }
        if clientPort == 0 { throw ValidationError("--client-port must be 1-65535") }
        _ = try matcher()
    }

    /// The core's selection. - Throws: ValidationError for an expression that does not compile.
    func selection() throws -> SessionSelection {
        SessionSelection(classes: classes, matcher: try matcher())
    }

    private func matcher() throws -> SessionMatcher {
        var m = SessionMatcher()
        m.user = try textMatch("--match-user", matchUser)
        m.db = try textMatch("--match-db", matchDB)
        m.host = try textMatch("--match-host", matchHost)
        m.command = try textMatch("--match-command", matchCommand)
        m.info = try textMatch("--match-info", matchInfo, regex: true)
        m.state = try textMatch("--match-state", matchState, regex: true)
        m.program = try textMatch("--program", program)
        m.client = client.flatMap(SocketTargets.parsePeer)
        m.clientPort = clientPort
        return m
    }

    /// What the selection names, for "nothing matched" (escaped by the caller).
    var summary: String {
        var parts: [String] = []
        if let zombie { parts.append("--zombie \(zombie)") }
        for (n, v) in [("--match-user", matchUser), ("--match-db", matchDB), ("--match-host", matchHost), ("--match-command", matchCommand),
                       ("--match-info", matchInfo), ("--match-state", matchState), ("--client", client), ("--program", program)] {
            if let v { parts.append("\(n) \(v)") }
        }
        if let clientPort { parts.append("--client-port \(clientPort)") }
        return parts.joined(separator: " ")
    }
}
