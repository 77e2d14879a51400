import ArgumentParser
import Dispatch
#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import MyConnCore
import MyConnServe

struct ServeCommand: ContainerResolving {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "A sidecar beside mysqld: Prometheus metrics on /metrics and an HTTP API for tests and tools, every action through the same pipeline as the commands.",
        discussion: """
            Every --interval one snapshot (the list join) is taken on serve's one engine thread, \
            through one SQL connection; GET /metrics, /sessions and /zombies are served from the \
            last one and never start another. POST /sessions/{id}/kill, /close, /probe and /faults, \
            DELETE /faults[/{id}] and POST /reset act one at a time on that thread, re-verified at \
            the moment of acting and written to the audit log, and answer once the outcome is known \
            (docs/serve-openapi.yaml). Reads are open on loopback and unix sockets; every action \
            needs Authorization: Bearer <--token-file's token>, and without --token-file none is \
            possible; on any other address reads need the token too. --rules FILE runs reap's \
            policy every --interval, doing --reap with its victims. SIGTERM or SIGINT: serve stops \
            accepting, finishes the actions in flight, and exits 0. Losing SQL turns myconn_up to 0 \
            and the view to the kernel's; serve keeps running.

            serve's exit status: 0 stopped by SIGTERM or SIGINT; 10 the audit log cannot be written; \
            64 bad arguments or an unusable --token-file or --listen. A server that does not answer \
            at the start (or refuses the login) is a warning: serve runs with myconn_up 0 and tries \
            again every --interval. The general table:

            \(ExitStatus.helpText)
            """,
        helpNames: [.long]
    )

    @Option(name: .long, help: "Where to listen: ADDR:PORT (127.0.0.1:9807 by default; port 0 lets the kernel choose) or unix:PATH (mode 0660).")
    var listen: String = "127.0.0.1:9807"

    @Option(name: .customLong("token-file"), help: "A file holding the bearer token that actions need (not readable by others).")
    var tokenFile: String?

    @Option(name: .long, help: "Seconds between two snapshots (0.5-3600).")
    var interval: Double = 5

    @Option(name: .customLong("rules"), help: "Run reap's policy inside the server: its rule options, one per line (see myconn reap --help).")
    var rulesFile: String?

    @Option(name: .long, help: "What the reaper does with its victims: print (log only), kill, kill-query, close, probe.")
    var reap: ServeReapAction = .print

    @Option(name: .customLong("reap-method"), help: "The reaper's close method: pidfd (default), ptrace or destroy.")
    var reapMethod: CloseMethod = .pidfd

    @Option(name: .long, help: "Seconds each action watches for its outcome (a request may ask for 0-60).")
    var wait: Double = 5

    @Option(name: .customLong("probe-timeout"), help: "Seconds to wait for a reaper probe's verdict (5-600).")
    var probeTimeout: Double = 10

    @Option(name: .long, help: "Sessions in Sleep for at least this many seconds are zombies of class idle.")
    var idle: Int64?

    @Option(name: .customLong("audit-log"), help: "Audit log file (default /var/log/myconn/audit.log for root, else under $XDG_STATE_HOME).")
    var auditLog: String?

    @OptionGroup var mysqld: MysqldOptions
    @OptionGroup var connection: ConnectionArguments

    var containerPID: Int32? {
        get { mysqld.pid }
        set { mysqld.pid = newValue }
    }

    func validate() throws {
        try requireFinite([("--interval", interval), ("--wait", wait), ("--probe-timeout", probeTimeout)])
        guard let address = ListenAddress.parse(listen) else {
            throw ValidationError("--listen takes ADDR:PORT (an IP address; IPv6 as [addr]:port) or unix:/absolute/path")
        }
        if !address.isLocal && tokenFile == nil {
            throw ValidationError("--listen \(listen) is not loopback: give --token-file (reads need the token there too)")
        }
        if !(interval >= 0.5 && interval <= 3600) { throw ValidationError("--interval must be 0.5-3600 seconds") }
        if !(wait >= 0 && wait <= 60) { throw ValidationError("--wait must be 0-60 seconds") }
        if !(probeTimeout >= 5 && probeTimeout <= 600) { throw ValidationError("--probe-timeout must be 5-600 seconds") }
        if let idle, idle < 0 { throw ValidationError("--idle must be 0 or more seconds") }
        if rulesFile == nil && reap != .print { throw ValidationError("--reap needs --rules FILE: the reaper's rules") }
    }

    /// The token: the file's first line, at least 16 bytes, the file not readable by others.
    static func token(_ path: String) throws(Failure) -> String {
        var st = stat()
        guard stat(path, &st) == 0 else { throw Failure(.usage, "--token-file \(path): \(String(cString: strerror(errno)))") }
        if st.st_mode & 0o004 != 0 { throw Failure(.usage, "--token-file \(path) is readable by every user: chmod o-r it first") }
        guard let bytes = readFile(path, limit: 4096) else { throw Failure(.usage, "cannot read --token-file \(path) (or it is over 4 KiB)") }
        let line = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        let token = line.trimmingWhitespace()
        guard token.utf8.count >= 16, token.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw Failure(.usage, "--token-file \(path): the token must be one line of at least 16 printable characters")
        }
        return token
    }

    func execute() throws {
        let token = try tokenFile.map { p throws(Failure) in try Self.token(p) }
        var rules: ReapRules?
        var idle = self.idle
        if let rulesFile {
            let (r, i) = try ReapCommand.load(rulesFile, ReapRuleOptions())
            rules = r
            idle = i ?? idle
        }
        let options = try connection.resolved()
        let auditPath = try openAuditLog(auditLog).path
        let opener = connection.opener(options)
        // A sidecar may start before its server answers (or while it is full): it serves
        // myconn_up 0, and the kernel's view where it can, until a snapshot gets SQL.
        let first = opener()
        let fallback = KernelFallback(requestedPID: mysqld.pid, host: connection.host, socketPath: connection.socket,
                                      port: connection.port.map { UInt16($0) }, force: mysqld.force)
        if case .failure(let e) = first {
            printError("myconn serve: warning: no SQL yet (\(e)); serving myconn_up 0 and trying again every --interval")
        }
        let handOver = FirstConnection(first)
        let (pid, force, source, idleSeconds) = (mysqld.pid, mysqld.force, mysqld.source, idle)
        var settings = ServeSettings(
            listen: ListenAddress.parse(listen)!, token: token, interval: interval, auditPath: auditPath,
            waitSeconds: wait, probeTimeoutSeconds: probeTimeout,
            makeLister: {
                var lister = Lister(requestedPID: pid, kernelSource: source)
                lister.forcePID = force
                lister.idleSeconds = idleSeconds
                return lister
            },
            fallback: fallback, connect: { handOver.take() ?? opener() })
        settings.rules = rules
        settings.reapAction = reap
        settings.reapMethod = reapMethod
        let ready = settings
        let outcome = Blocking.run { () async -> ServeError? in
            do throws(ServeError) {
                try await Serve.run(ready) { address in
                    Terminal.writeStdout(Array("myconn serve: listening on \(address)\n".utf8))
                }
                return nil
            } catch {
                return error
            }
        }
        if let e = outcome {
            switch e.kind {
            case .auditLog: throw Failure(.auditLog, e.message)
            case .listen: throw Failure(.usage, e.message)
            case .thread: throw Failure(.internalError, e.message)
            }
        }
    }
}

extension ServeReapAction: ExpressibleByArgument {}

/// Runs async work to its end from a synchronous command (ArgumentParser's `run`).
enum Blocking {
    static func run<T: Sendable>(_ work: @escaping @Sendable () async -> T) -> T {
        let done = DispatchSemaphore(value: 0)
        let box = ResultBox<T>()
        Task {
            box.value = await work()
            done.signal()
        }
        done.wait()
        return box.value!
    }

    final class ResultBox<T>: @unchecked Sendable { var value: T? }
}
