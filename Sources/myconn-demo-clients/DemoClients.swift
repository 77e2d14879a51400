import ArgumentParser
import LinuxKernel
import MySQLSessions
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Opens and holds client sessions against a server, for the demo, the benchmark and the
/// integration tests. Prints one line per session (`id transport local-address client-inode`),
/// then `ready`, and holds them until standard input closes.
@main
struct DemoClients: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "myconn-demo-clients",
        abstract: "Hold MySQL client sessions open: idle, or busy in SELECT SLEEP(n).",
        helpNames: [.long]
    )

    @Option(name: .long, help: "TCP host for tcp4 sessions.") var host4 = "127.0.0.1"
    @Option(name: .long, help: "TCP host for tcp6 sessions.") var host6 = "::1"
    @Option(name: .long) var port: UInt32 = 3306
    @Option(name: .long, help: "Unix socket path for unix sessions.") var socket: String?
    @Option(name: .long) var user = "root"
    @Option(name: .long) var password: String?
    @Option(name: .long, parsing: .singleValue,
            help: "TRANSPORT:KIND:COUNT, TRANSPORT tcp4|tcp6|unix, KIND idle|busy (repeatable).")
    var sessions: [String] = []
    @Option(name: .long, help: "Seconds each busy session sleeps in SELECT SLEEP(n).") var sleep = 600

    func run() throws {
        raiseDescriptorLimit()
        var held: [MySQLConnection] = []
        for spec in sessions {
            let parts = spec.split(separator: ":")
            guard parts.count == 3, let count = Int(parts[2]), ["idle", "busy"].contains(parts[1]) else {
                throw ValidationError("--sessions takes TRANSPORT:KIND:COUNT, got \(spec)")
            }
            var options = ConnectionOptions(user: user, password: password, noDefaults: true)
            switch parts[0] {
            case "tcp4": options.host = host4; options.port = port; options.transport = .tcp
            case "tcp6": options.host = host6; options.port = port; options.transport = .tcp
            case "unix": options.host = "localhost"; options.socket = socket; options.transport = .socket
            default: throw ValidationError("unknown transport \(parts[0])")
            }
            for _ in 0..<count {
                let conn = try MySQLConnection(options: options)
                let id = try conn.query("SELECT CONNECTION_ID()").rows.first?.first.flatMap { $0 } ?? "?"
                var st = stat()
                fstat(conn.socketDescriptor, &st)
                let local: String
                switch try? SocketEndpoints(fd: conn.socketDescriptor) {
                case .inet(let l, _)?: local = l.description
                default: local = "-"
                }
                if parts[1] == "busy" { try conn.send("SELECT SLEEP(\(sleep))") }
                print("\(id) \(parts[0]) \(local) \(st.st_ino)")
                held.append(conn)
            }
        }
        print("ready")
        fflush(stdout)
        while readLine() != nil {}
        withExtendedLifetime(held) {}
    }

    func raiseDescriptorLimit() {
        var lim = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim)
        lim.rlim_cur = lim.rlim_max
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim)
    }
}
