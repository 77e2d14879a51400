import ArgumentParser
@preconcurrency import Foundation
import LinuxKernel
import SocketModel
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
    @Option(name: .long, help: "The default database of every session.") var database: String?
    @Option(name: .long, help: "The program_name connection attribute of every session.") var program: String?
    @Option(name: .customLong("pause-ms"), help: "Milliseconds a loop session waits between its queries (0: none).") var pauseMs = 0
    @Option(name: .long, parsing: .singleValue,
            help: """
                TRANSPORT:KIND:COUNT, TRANSPORT tcp4|tcp6|unix (repeatable). KIND: idle (held open; SELECT 1 once at the end); busy (SELECT SLEEP(n) \
                sent, never read); loop (SELECT <own id> in a loop on its own thread, checking each row is its \
                own); secret (SELECT SLEEP(n), 'SECRET-<id>' read on its own thread); abandon (SELECT SLEEP(n) \
                sent, then the client shuts its socket down: the session is left with a gone client); bigresult \
                (a query of ~200 MB sent, never read); bigread (the same result read slowly, a row per 100 us: the \
                server keeps sending, its data in flight); stream (the same result read as fast as it comes, again \
                and again: the window stays open).
                """)
    var sessions: [String] = []
    @Option(name: .long, help: "Seconds each busy session sleeps in SELECT SLEEP(n).") var sleep = 600

    func run() throws {
        raiseDescriptorLimit()
        Worker.loopPauseMicroseconds = UInt32(max(0, pauseMs)) * 1000
        // Started by a test runner's worker thread, SIGTERM may arrive blocked: be stoppable.
        var empty = sigset_t()
        sigemptyset(&empty)
        sigprocmask(SIG_SETMASK, &empty, nil)
        var held: [MySQLConnection] = []
        var workers: [Worker] = []
        var idle: [(String, MySQLConnection)] = []
        for spec in sessions {
            let parts = spec.split(separator: ":")
            guard parts.count == 3, let count = Int(parts[2]), ["idle", "busy", "loop", "secret", "abandon", "bigresult", "bigread", "stream"].contains(parts[1]) else {
                throw ValidationError("--sessions takes TRANSPORT:KIND:COUNT, got \(spec)")
            }
            var options = ConnectionOptions(user: user, password: password, noDefaults: true)
            options.database = database
            options.programName = program
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
                print("\(id) \(parts[0]) \(local) \(st.st_ino)")
                switch parts[1] {
                case "idle": idle.append((id, conn))
                case "busy": try conn.send("SELECT SLEEP(\(sleep))")
                case "bigresult":
                    // ~200 MB of rows the client never reads: the server's sends back up.
                    try conn.send("SELECT seq, REPEAT('x', 1000) FROM mysql.seq_1_to_200000")
                case "bigread": workers.append(Worker(id: id, connection: conn, kind: .bigRead))
                case "stream": workers.append(Worker(id: id, connection: conn, kind: .stream))
                case "abandon":
                    // The client goes away mid-query: FIN to the server, the session keeps running.
                    try conn.send("SELECT SLEEP(\(sleep))")
                    shutdown(conn.socketDescriptor, Int32(SHUT_RDWR))
                case "loop": workers.append(Worker(id: id, connection: conn, kind: .loop))
                case "secret": workers.append(Worker(id: id, connection: conn, kind: .secret(seconds: sleep)))
                default: break
                }
                held.append(conn)
            }
        }
        for w in workers { w.start() }
        print("ready")
        fflush(stdout)
        while readLine() != nil {}
        for w in workers { w.stop() }
        for w in workers { print(w.summary()) }
        // Idle sessions answer one query at the end: proof they still work.
        for (id, conn) in idle {
            do {
                _ = try conn.query("SELECT 1")
                print("SUMMARY \(id) 1 0 - - 0 -")
            } catch {
                print("SUMMARY \(id) 0 0 \(error.code) - 0 -")
            }
        }
        fflush(stdout)
        // Leave without closing the sessions politely: a connection with an unread result would
        // make mysql_close wait; the kernel closes every socket at exit.
        withExtendedLifetime(held) { Glibc.exit(0) }
    }

    func raiseDescriptorLimit() {
        var lim = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim)
        lim.rlim_cur = lim.rlim_max
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim)
    }
}

/// A session driven on its own thread, for the action tests: prints what it saw.
final class Worker: @unchecked Sendable {
    enum Kind { case loop, secret(seconds: Int), bigRead, stream }

    let id: String
    let connection: MySQLConnection
    let kind: Kind
    /// `--pause-ms`: set once before any worker starts.
    nonisolated(unsafe) static var loopPauseMicroseconds: UInt32 = 0
    private let lock = NSLock()
    private var running = true
    private var ok = 0
    private var wrongRows = 0
    private var firstError: String?
    private var errorAtMs: Int64?
    private var result: String?
    /// The longest time between two completed queries of a loop session (a probe of stalls).
    private var maxGapUs: Int64 = 0
    private let done = DispatchSemaphore(value: 0)

    init(id: String, connection: MySQLConnection, kind: Kind) {
        self.id = id
        self.connection = connection
        self.kind = kind
    }

    static func nowUs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000
    }

    static func nowMs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    func start() {
        let thread = Thread { [self] in
            defer { done.signal() }
            switch kind {
            case .loop:
                var last = Self.nowUs()
                while lock.withLock({ running }) {
                    let r: QueryResult
                    do throws(MySQLError) {
                        r = try connection.query("SELECT \(id)")
                    } catch {
                        lock.withLock { firstError = "\(error.code)"; errorAtMs = Self.nowMs() }
                        return
                    }
                    let row = r.rows.first?.first ?? nil
                    let now = Self.nowUs()
                    lock.withLock {
                        if row == id { ok += 1 } else { wrongRows += 1 }
                        maxGapUs = max(maxGapUs, now - last)
                    }
                    if Self.loopPauseMicroseconds > 0 { usleep(Self.loopPauseMicroseconds) }
                    last = Self.nowUs()
                }
            case .bigRead:
                do throws(MySQLError) {
                    try connection.stream("SELECT seq, REPEAT('x', 1000) FROM mysql.seq_1_to_200000") { n in
                        lock.withLock { ok = n }
                        usleep(100)
                        return lock.withLock { running }
                    }
                } catch {
                    lock.withLock { firstError = "\(error.code)"; errorAtMs = Self.nowMs() }
                }
            case .stream:
                // The large result read as fast as rows arrive, again and again: the receive
                // window stays open, so the server always has data in flight.
                var total = 0
                do throws(MySQLError) {
                    while lock.withLock({ running }) {
                        var n = 0
                        try connection.stream("SELECT seq, REPEAT('x', 1000) FROM mysql.seq_1_to_200000") { k in
                            n = k
                            if k % 1000 == 0 { lock.withLock { ok = total + k } }
                            return k % 1000 != 0 || lock.withLock { running }
                        }
                        total += n
                        lock.withLock { ok = total }
                    }
                } catch {
                    lock.withLock { firstError = "\(error.code)"; errorAtMs = Self.nowMs() }
                }
            case .secret(let seconds):
                let r: QueryResult
                do throws(MySQLError) {
                    r = try connection.query("SELECT SLEEP(\(seconds)), 'SECRET-\(id)'")
                } catch {
                    lock.withLock { firstError = "\(error.code)"; errorAtMs = Self.nowMs() }
                    return
                }
                lock.withLock { result = (r.rows.first?[1] ?? nil) ?? "NULL" }
            }
        }
        thread.start()
    }

    func stop() {
        lock.withLock { running = false }
        done.wait()
    }

    /// `SUMMARY id ok wrong-rows first-error-code error-at-ms max-gap-us result`; `-` for none.
    func summary() -> String {
        lock.withLock {
            "SUMMARY \(id) \(ok) \(wrongRows) \(firstError ?? "-") \(errorAtMs.map(String.init) ?? "-") \(maxGapUs) \(result ?? "-")"
        }
    }
}
