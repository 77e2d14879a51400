#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import ArgumentParser
import MyConnCore

/// The `mysql` client's connection options, shared by every command that speaks SQL.
struct ConnectionArguments: ParsableArguments {
    @Option(name: [.customShort("h"), .long], help: "Server host (localhost means the unix socket).")
    var host: String?

    @Option(name: [.customShort("P"), .long], help: "Server TCP port.")
    var port: UInt32?

    @Option(name: [.customShort("u"), .long], help: "User to log in as.")
    var user: String?

    @Option(name: .long, help: ArgumentHelp("Password; -p or --password with no value asks for it without echo.",
                                            valueName: "password"))
    var password: String?

    @Flag(name: .customLong(MySQLStyleArguments.promptFlag), help: .hidden)
    var passwordPrompt = false

    @Option(name: [.customShort("S"), .long], help: "Unix socket file.")
    var socket: String?

    @Option(name: .customLong("protocol"), help: "tcp or socket.")
    var transport: ConnectionOptions.TransportProtocol?

    @Option(name: .customLong("defaults-file"), help: "Read options only from this file.")
    var defaultsFile: String?

    @Option(name: .customLong("defaults-extra-file"), help: "Read this option file after the global ones.")
    var defaultsExtraFile: String?

    @Flag(name: .customLong("no-defaults"), help: "Read no option file.")
    var noDefaults = false

    @Option(name: .customLong("connect-timeout"), help: "Seconds to wait for the server.")
    var connectTimeout: UInt32 = 10

    // 5 s: the slowest round trip myconn makes (SHOW FULL PROCESSLIST at 10,000 sessions) takes
    // tens of ms, so this is two orders of magnitude of headroom, yet short enough for the
    // emergency of a wedged server, where list goes on from the kernel alone.
    @Option(name: .customLong("read-timeout"), help: ArgumentHelp(
        "Seconds each SQL read or write after the connect may wait for the server (0: no limit); list then goes on from the kernel alone, other commands end with status 2.",
        valueName: "seconds"))
    var readTimeout: UInt32 = 5

    @Option(name: .customLong("netns-of"), help: ArgumentHelp(
        "Connect from inside the network namespace of this process (mysqld's pid as seen from here): for a server in a container whose port this host cannot reach; -h/-P are then as that process sees them.",
        valueName: "pid"))
    var netnsOf: Int32?

    @Option(name: .long, help: ArgumentHelp(
        "A container (name or id) whose main process is mysqld: its pid comes from the engine (Docker or podman, through its API socket), and without -S/-h/-P the server's unix socket is reached through /proc/<pid>/root.",
        valueName: "name"))
    var container: String?

    @Option(name: .customLong("docker-socket"), help: ArgumentHelp(
        "The container engine's API socket (default: DOCKER_HOST when unix://..., else /var/run/docker.sock).",
        valueName: "path"))
    var dockerSocket: String?

    func validate() throws {
        if let container, !DockerEngine.isValidName(container) {
            throw ValidationError("--container takes a container name or id (letters, digits, _ . -)")
        }
        if defaultsFile != nil && defaultsExtraFile != nil {
            throw ValidationError("--defaults-file and --defaults-extra-file exclude each other (as in mysql)")
        }
        if noDefaults && (defaultsFile != nil || defaultsExtraFile != nil) {
            throw ValidationError("--no-defaults excludes --defaults-file and --defaults-extra-file")
        }
        if port == 0 { throw ValidationError("--port must be 1-65535") }
        if let port, port > 65535 { throw ValidationError("--port must be 1-65535") }
        if let netnsOf, netnsOf <= 0 { throw ValidationError("--netns-of must be a positive process id") }
    }

    /// With `--container`: the container's mysqld as `pid` (a `--pid` given too must be the same
    /// process), and, unless -S, -h, -P or --netns-of says how to reach the server, its unix
    /// socket through `/proc/<pid>/root`. Ends the command when the container cannot be found.
    mutating func resolveContainer(pid: inout Int32?) throws {
        guard let container else { return }
        let target: ContainerTarget
        do {
            let engine = DockerEngine(socketPath: DockerEngine.socketPath(option: dockerSocket, dockerHost: getenv("DOCKER_HOST").map { String(cString: $0) }))
            target = try ContainerTarget.resolve(container, engine: engine)
        } catch {
            throw Failure(error)
        }
        if let given = pid, given != target.pid {
            throw Failure(.usage, "--pid \(given) is not the main process of container \(container) (pid \(target.pid)); omit --pid")
        }
        pid = target.pid
        guard socket == nil && host == nil && port == nil && netnsOf == nil else { return }
        guard let here = target.socketFromHere else {
            throw Failure(.cannotConnect, "container \(container) (pid \(target.pid)): no mysqld socket at \(ContainerTarget.usualSockets.joined(separator: ", ")) inside it; pass -S /proc/\(target.pid)/root/PATH, or -h/-P")
        }
        socket = here
    }

    /// Connects, or ends with the documented status and one line saying what to check.
    func connect() throws -> MySQLConnection {
        let options = try resolved()
        switch try open(options) {
        case .success(let c): return c
        case .failure(let error): throw Failure(error, host: options.host)
        }
    }

    /// The connection, made here or (--netns-of) inside that process's network namespace; a
    /// namespace that cannot be entered ends the command.
    func open(_ options: ConnectionOptions) throws -> Result<MySQLConnection, MySQLError> {
        try Self.open(options, netnsOf: netnsOf)
    }

    static func open(_ options: ConnectionOptions, netnsOf: Int32?) throws(Failure) -> Result<MySQLConnection, MySQLError> {
        guard let netnsOf else {
            do { return .success(try MySQLConnection(options: options)) } catch { return .failure(error) }
        }
        do {
            return try MySQLConnection.connect(options: options, inNetworkNamespaceOf: netnsOf)
        } catch {
            switch error {
            case .processGone(let pid):
                throw Failure(.mysqldNotFound, "--netns-of \(pid): no such process")
            case .notPermitted(let pid, let errno):
                // Status 2: no connection was made (nothing was listed, so not 6's "kernel columns missing").
                let advice = geteuid() == 0
                    ? "root lacks CAP_SYS_ADMIN over that namespace here (a container, or another user namespace?)"
                    : "entering it needs root (CAP_SYS_ADMIN)"
                throw Failure(.cannotConnect, "cannot enter the network namespace of pid \(pid) (\(errno)): \(advice); nothing was listed")
            }
        }
    }

    /// Opens a new connection each call, on the calling thread (for front ends whose threads
    /// each keep their own): the same as ``open(_:)``; a namespace that cannot be entered is a
    /// failed connect with its reason.
    func opener(_ options: ConnectionOptions) -> @Sendable () -> Result<MySQLConnection, MySQLError> {
        let netnsOf = self.netnsOf
        return {
            do throws(Failure) { return try Self.open(options, netnsOf: netnsOf) } catch {
                return .failure(MySQLError(kind: .client, code: 0, message: error.message ?? "cannot connect"))
            }
        }
    }

    /// The options for libmariadb, asking for the password when `-p` came without one.
    func resolved() throws -> ConnectionOptions {
        var pw = password
        if passwordPrompt {
            guard Terminal.stdinIsTerminal, let typed = Terminal.readSecret(prompt: "Enter password: ") else {
                throw Failure(.usage, "-p without a value asks for the password on a terminal; none here: use --password=..., MYSQL_PWD or an option file")
            }
            pw = typed
        }
        var options = ConnectionOptions(host: host, port: port, user: user, password: pw, socket: socket,
                                        transport: transport, defaultsFile: defaultsFile,
                                        defaultsExtraFile: defaultsExtraFile, noDefaults: noDefaults,
                                        connectTimeoutSeconds: connectTimeout, readTimeoutSeconds: readTimeout == 0 ? nil : readTimeout)
        // What a DBA sees in session_connect_attrs for myconn's own session.
        options.programName = "myconn"
        // libmariadb drops the rest of a file at a line it cannot read, silently: stop first.
        if let problem = OptionFiles.check(options) { throw Failure(.usage, problem.message) }
        return options
    }
}

extension ConnectionOptions.TransportProtocol: ExpressibleByArgument {
    public init?(argument: String) {
        self.init(rawValue: argument.lowercased())
    }
}

/// The `mysql` client's short-option habits, which ArgumentParser does not parse:
/// values attached to short options (`-uroot`, `-h127.0.0.1`, `-P3306`, `-S/tmp/s.sock`), and
/// `-p`/`--password` with an optional attached value (bare: ask for it).
enum MySQLStyleArguments {
    static let promptFlag = "password-prompt"
    static let valuedShortOptions: Set<Character> = ["h", "P", "u", "S"]

    static func rewrite(_ args: [String]) -> [String] {
        var out: [String] = []
        var passthrough = false
        for arg in args {
            if passthrough || !arg.hasPrefix("-") || arg.hasPrefix("--") && arg != "--" && arg != "--password" {
                out.append(arg)
                continue
            }
            if arg == "--" { passthrough = true; out.append(arg); continue }
            if arg == "-p" || arg == "--password" {
                out.append("--\(promptFlag)")
            } else if arg.hasPrefix("-p") {
                out.append("--password=\(arg.dropFirst(2))")
            } else if arg.count > 2, let letter = arg.dropFirst().first, valuedShortOptions.contains(letter) {
                out.append("-\(letter)")
                out.append(String(arg.dropFirst(2)))
            } else {
                out.append(arg)
            }
        }
        return out
    }
}

/// Commands that take `--container` (with the connection options): it names mysqld's pid and,
/// unless told otherwise, its socket; then the command's own work runs.
protocol ContainerResolving: ParsableCommand {
    var connection: ConnectionArguments { get set }
    var containerPID: Int32? { get set }
    func execute() throws
}

extension ContainerResolving {
    func run() throws {
        var me = self
        var pid = me.containerPID
        try me.connection.resolveContainer(pid: &pid)
        me.containerPID = pid
        try me.execute()
    }
}

/// The connection checked at start-up, handed to the snapshot taker as its first
/// (`reap`, `serve`: taken once, on the thread that takes the snapshots).
final class FirstConnection: @unchecked Sendable {
    private var first: MySQLConnection?
    init(_ r: Result<MySQLConnection, MySQLError>) { if case .success(let c) = r { first = c } }
    func take() -> Result<MySQLConnection, MySQLError>? {
        guard let c = first else { return nil }
        first = nil
        return .success(c)
    }
}
