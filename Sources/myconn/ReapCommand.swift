import ArgumentParser
#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import MyConnCore

struct ReapCommand: ContainerResolving {
    static let configuration = CommandConfiguration(
        commandName: "reap",
        abstract: "pt-kill's policies, socket-aware: every --interval, choose sessions by rules and print, KILL, cut or probe them.",
        discussion: """
            Every rule given must hold (AND), unlike pt-kill, where any one criterion is enough: \
            `--busy-time 60 --match-user app` chooses app's statements running 60 s or more, never \
            app's idle sessions. --ignore-* always wins. Replication and server threads and \
            myconn's own session are never chosen. Each cycle takes one snapshot (the list join); \
            each victim is re-verified at the moment of acting (same id, user and command; for \
            --close and --probe and socket rules the same fd, inode and cookie; the rules still \
            hold) and skipped as `changed` otherwise. One line (or JSON object) per decision: \
            matched, acted, skipped, failed, dry-run. Acting needs --yes (nobody is asked), or \
            --dry-run. INT, TERM or QUIT ends the run after the action in progress (exit 0); HUP reads \
            --rules FILE again, between cycles. Without SQL (Too many connections) the socket rules (--zombie \
            client-gone/peer-unreachable, --idle-since-recv) still work with --close and --probe.

            reap's exit status: 0 when --run-time or --cycles is reached, or INT, TERM or QUIT stopped it; 8 \
            when --run-time or --cycles is reached and an action failed during the run; 10 the audit \
            log cannot be written; 7 --program without performance_schema, or a --log-table the \
            server refuses; 2, 3, 4 the server cannot be used at the start; 64 bad arguments. The \
            general table, for the connection errors:

            \(ExitStatus.helpText)
            """,
        helpNames: [.long]
    )

    @OptionGroup var rules: ReapRuleOptions

    @Option(name: .customLong("rules"), help: "Read the rules from FILE: the rule options, one per line (busy-time 60), as pt-kill's config files; SIGHUP reads it again.")
    var rulesFile: String?

    @Flag(name: .long, help: "Print the victims only (touches nothing).")
    var print = false

    @Flag(name: .long, help: "KILL CONNECTION each victim.")
    var kill = false

    @Flag(name: .customLong("kill-query"), help: "KILL QUERY each victim: end its statement, keep the session.")
    var killQuery = false

    @Flag(name: .long, help: "Cut each victim's socket inside mysqld (see --method).")
    var close = false

    @Flag(name: .long, help: "Probe each victim's client with TCP keepalive: the kernel drops only dead peers.")
    var probe = false

    @Option(name: .long, help: "--close's method: pidfd (default: nothing is stopped), ptrace or destroy.")
    var method: CloseMethod?

    @Option(name: .customLong("probe-timeout"), help: "Seconds to wait for each probe's verdict (5-600).")
    var probeTimeout: Double = 10

    @Option(name: .long, help: "Seconds between the starts of two cycles (0.1-86400).")
    var interval: Double = 30

    @Option(name: .customLong("run-time"), help: "Stop when no cycle would start within this many seconds of the start.")
    var runTime: Double?

    @Option(name: .long, help: "Stop after this many cycles.")
    var cycles: UInt64?

    @Option(name: .customLong("test-matching"), help: "Decide on recorded snapshots instead of a server: `myconn list --json` output (one per line) or pt-kill's processlist files.")
    var testMatching: String?

    @Option(name: .customLong("log-table"), help: "Also write each act, skip and failure to DB.TABLE, pt-kill's kill_log columns plus method, fd, inode, outcome (created when missing).")
    var logTable: String?

    @OptionGroup var mysqld: MysqldOptions

    @OptionGroup var connection: ConnectionArguments
    @OptionGroup var action: ActionArguments

    var containerPID: Int32? {
        get { mysqld.pid }
        set { mysqld.pid = newValue }
    }
    private var pid: Int32? { mysqld.pid }
    private var force: Bool { mysqld.force }
    private var source: KernelSource { mysqld.source }

    private var acting: Bool { kill || killQuery || close || probe }

    func validate() throws {
        try requireFinite([("--probe-timeout", probeTimeout), ("--interval", interval), ("--run-time", runTime)])
        let modes = [print, kill, killQuery, close, probe].filter { $0 }.count
        if testMatching != nil {
            if acting { throw ValidationError("--test-matching decides on recordings: it prints (drop --kill, --close, --probe)") }
        } else if modes != 1 {
            throw ValidationError("say what to do with the victims: one of --print, --kill, --kill-query, --close, --probe")
        }
        if method != nil && !close { throw ValidationError("--method is --close's") }
        if !(interval >= 0.1 && interval <= 86400) { throw ValidationError("--interval must be 0.1-86400 seconds") }
        if let runTime, !(runTime > 0) { throw ValidationError("--run-time must be more than 0 seconds") }
        if cycles == 0 { throw ValidationError("--cycles must be 1 or more") }
        if probeTimeout < 5 || probeTimeout > 600 { throw ValidationError("--probe-timeout must be 5-600 seconds") }
        if rulesFile != nil && rules.anyGiven { throw ValidationError("give the rules on the command line or in --rules FILE, not both") }
        if try rulesFile == nil && !rules.rules().hasRule {
            throw ValidationError("give at least one rule: --busy-time, --idle-time, --trx-time, --idle-since-recv, --zombie or a --match-* (or --rules FILE)")
        }
        if let logTable, KillLog.parse(logTable) == nil { throw ValidationError("--log-table takes DB.TABLE (letters, digits, _ and $)") }
        if logTable != nil && !acting { throw ValidationError("--log-table logs acts: use it with --kill, --kill-query, --close or --probe") }
    }

    /// The rules now: the command line's, or the file's (read again on SIGHUP).
    static func load(_ path: String?, _ given: ReapRuleOptions) throws(Failure) -> (ReapRules, Int64?) {
        let options = try path.map { p throws(Failure) in try ReapRuleOptions.read(file: p) } ?? given
        do {
            let r = try options.rules()
            guard r.hasRule else { throw Failure(.usage, "rules file \(path ?? ""): no rule in it (busy-time, idle-time, zombie, match-user, ...)") }
            return (r, options.selection.idle)
        } catch let f as Failure {
            throw f
        } catch {
            throw Failure(.usage, "rules file \(path ?? ""): \(ReapRuleOptions.message(for: error))")
        }
    }

    func execute() throws {
        let (reapRules, idle) = try Self.load(rulesFile, rules)
        if let testMatching { return try replay(testMatching, reapRules) }
        if acting && !action.yes && !action.dryRun {
            throw Failure(.usage, "refusing to reap without --yes: it acts every cycle and asks nobody (see the victims first with --print or --dry-run)")
        }
        let options = try connection.resolved()
        let opener = connection.opener(options)
        let first = opener()
        var killLog: KillLog?
        switch first {
        case .failure(let e):
            // Without SQL only the socket rules can be judged, and only the socket acted on.
            guard KernelFallback.applies(to: e), reapRules.kernelOnly, close || probe || print, logTable == nil,
                  KernelFallback(requestedPID: pid, host: connection.host, socketPath: connection.socket,
                                 port: connection.port.map { UInt16($0) }, force: force).locate() != nil else {
                throw Failure(e, host: options.host)
            }
            printError("myconn: no SQL (\(e)): judging the socket rules from the kernel alone")
        case .success(let c):
            if reapRules.needsPrograms, (try? c.programNames()) ?? nil == nil {
                throw Failure(.badTarget, "--program reads performance_schema.session_connect_attrs, which this server does not keep (performance_schema=OFF)")
            }
            if let logTable, let (db, table) = KillLog.parse(logTable) {
                do { killLog = try KillLog(db: db, table: table, on: c) } catch {
                    throw Failure(.badTarget, "--log-table \(logTable): \(error)")
                }
            }
        }
        let audit = acting ? try action.openAudit() : nil
        var lister = Lister(requestedPID: pid, kernelSource: source)
        lister.forcePID = force
        lister.idleSeconds = idle
        let fallback = KernelFallback(requestedPID: pid, host: connection.host, socketPath: connection.socket,
                                      port: connection.port.map { UInt16($0) }, force: force)
        let handOver = FirstConnection(first)
        let taker = SnapshotTaker(lister: lister, fallback: fallback, connect: { handOver.take() ?? opener() })
        let reaper = Reaper(rules: reapRules, taker: taker)
        reaper.interval = interval
        reaper.runTime = runTime
        reaper.maxCycles = cycles
        reaper.dryRun = action.dryRun
        reaper.waitSeconds = action.wait
        reaper.audit = audit
        reaper.beforeRecheck = Self.testPause()
        if let path = rulesFile {
            reaper.reload = {
                do throws(Failure) {
                    let (r, idle) = try Self.load(path, ReapRuleOptions())
                    taker.lister.idleSeconds = idle
                    return .success(r)
                } catch {
                    return .failure(RulesUnreadable(error.message ?? "the rules file cannot be read"))
                }
            }
        }
        let json = action.json
        var failures = 0
        reaper.onEvent = { e in
            Terminal.writeStdout(ReapReport.bytes(e, json: json))
            if e.kind == .failed { failures += 1 }
            if let killLog, e.kind != .matched {
                guard let c = taker.sqlConnection else { return printError("myconn: --log-table: no SQL connection; row not written") }
                do { try killLog.write([e], on: c) } catch { printError("myconn: --log-table \(killLog.table): \(error)") }
            }
        }
        reaper.onNote = { printError("myconn: " + $0) }
        let end: ReapEnd
        if kill || killQuery {
            end = reaper.run(SQLKill(killer: CurrentConnectionKiller(taker: taker), queryOnly: killQuery), socketAction: false)
        } else if close {
            end = reaper.run(SocketCut(how: method ?? .pidfd), socketAction: true)
        } else if probe {
            end = reaper.run(Prober(timeoutSeconds: probeTimeout), socketAction: true)
        } else {
            end = reaper.run(nil as SQLKill?, socketAction: false)
        }
        switch end {
        case .signal:
            // Stopped as asked (systemctl stop): the failures are on record, the stop is clean.
            return
        case .finished:
            if failures > 0 { throw Failure(.notDone, "\(failures) action(s) failed; see the lines above and the audit log") }
        case .auditLog(let why):
            throw Failure(.auditLog, why)
        }
    }

    /// `--test-matching`: each recorded snapshot is one cycle, decided as live.
    private func replay(_ path: String, _ rules: ReapRules) throws {
        if rules.needsPrograms || rules.needsTransactions {
            throw Failure(.usage, "--program and --trx-time read the server at each cycle; a recording has neither")
        }
        guard let bytes = readFile(path, limit: 1 << 30) else { throw Failure(.usage, "cannot read --test-matching \(path)") }
        let reports: [ListReport]
        do { reports = try ReapRecording.read(bytes) } catch { throw Failure(.usage, "--test-matching \(path): \(error.message)") }
        for (i, report) in reports.enumerated() {
            for v in ReapPolicy.victims(ReapPolicy.candidates(report), rules: rules) {
                let e = ReapEvent(cycle: UInt64(i + 1), time: "recorded", kind: .matched, victim: v)
                Terminal.writeStdout(ReapReport.bytes(e, json: action.json))
            }
        }
    }
}

extension ReapCommand {
    /// Tests only, in debug builds (the tests' own; a release build has no such hook): with
    /// MYCONN_TEST_REAP_PAUSE=PATH, each act first creates PATH.ready and waits (up to 60 s) for
    /// PATH.go, so that a test can change the world between the snapshot and the re-verification.
    static func testPause() -> (([ActionTarget]) -> Void)? {
        #if !DEBUG
        return nil
        #else
        guard let p = getenv("MYCONN_TEST_REAP_PAUSE").map({ String(cString: $0) }), !p.isEmpty else { return nil }
        return { _ in
            let ready = p + ".ready", go = p + ".go"
            if let f = fopen(ready, "w") { fclose(f) }
            for _ in 0..<6000 where access(go, F_OK) != 0 { usleep(10_000) }
            unlink(go)
            unlink(ready)
        }
        #endif
    }
}
