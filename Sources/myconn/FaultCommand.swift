import ArgumentParser
#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import MyConnCore

struct FaultCommand: ContainerResolving {
    static let configuration = CommandConfiguration(
        commandName: "fault",
        abstract: "Network faults on chosen sessions' own connections inside mysqld's network namespace: no proxy, pooled connections included.",
        discussion: """
            Targets are named as for close: session ids, --zombie and the matchers (--match-user, \
            --match-host, --client, --program, ...), or --pid with --peer. Each fault is an nftables rule \
            on exactly that connection's 4-tuple, in tables inet myconn (the client's packets) and netdev \
            myconn (mysqld's, at each interface's egress) of mysqld's network namespace; \
            every other session is untouched. At the moment of acting the socket is taken from mysqld \
            (pidfd) and checked: same inode, same peer, ESTABLISHED.

            --blackhole drops every packet (the client sees silence, no reset; healing lets the same \
            connection go on). --reset is close --method destroy (the client sees a reset); \
            --half-close write sends the client a FIN (it reads EOF), --half-close read makes mysqld \
            read EOF: both on a pidfd duplicate of mysqld's socket. --loss PCT drops that share of packets at random; --rate KBIT drops \
            what exceeds the rate. --for DURATION (500ms, 3s, 2m) puts a kernel timeout on the rule's \
            set element: the fault ends on time even if myconn is killed.

            --list shows every fault of this mysqld; --heal with targets removes theirs, --heal --all \
            every one, and our tables with the last. Every fault call first removes the faults whose \
            socket mysqld no longer holds, those the kernel expired and those of a mysqld gone from the \
            namespace. --delay holds packets in user space (this kernel has no netem: NFQUEUE through \
            iptables, with --queue-bypass), so myconn stays in the foreground for --for, or until \
            INT/TERM/HUP, and takes its rules out on the way.

            \(ExitStatus.helpText)
            """,
        helpNames: [.long]
    )

    @Argument(help: ArgumentHelp("Session ids (also comma-joined: 5,6,7).", valueName: "ids"))
    var idLists: [SessionIDs] = []
    var ids: [UInt64] { idLists.flatMap(\.ids) }

    @OptionGroup var connection: ConnectionArguments
    @OptionGroup var action: ActionArguments
    @OptionGroup var kernel: KernelTargetOptions
    @OptionGroup var selection: Selection

    @Flag(name: .long, help: "Drop every packet of the connection.")
    var blackhole = false

    @Option(name: .long, help: "Drop this percentage of the connection's packets at random (0.1-100).")
    var loss: Double?

    @Option(name: .long, help: "Drop the connection's packets over this rate, in kbit/s.")
    var rate: UInt64?

    @Option(name: .long, help: "Hold each packet this many milliseconds, optionally plus or minus a jitter: MS or MS,JITTER (NFQUEUE: myconn stays in the foreground for --for, or until INT/TERM/HUP).")
    var delay: String?

    @Flag(name: .long, help: "Reset the connection: the SOCK_DESTROY cut of close --method destroy (the client sees a reset).")
    var reset = false

    @Option(name: .customLong("half-close"), help: "shutdown(2) one direction of mysqld's socket: write (the client reads EOF) or read (mysqld reads EOF).")
    var halfClose: HalfClose.Side?

    @Option(name: .long, help: "both (default), to-client (mysqld's packets) or to-server (the client's).")
    var direction: FaultDirection = .both

    @Option(name: .customLong("for"), help: "Heal by itself after this long (500ms, 3s, 2m, or seconds); the kernel keeps the time.")
    var duration: String?

    @Flag(name: .long, help: "Show every fault of this mysqld.")
    var list = false

    @Flag(name: .long, help: "Remove the faults of the named targets (or of every target with --all).")
    var heal = false

    @Flag(name: .long, help: "With --heal: every fault of this mysqld.")
    var all = false

    var kind: FaultKind? {
        if blackhole { return .blackhole }
        if let loss { return .loss(percent: loss) }
        if let rate { return .rate(kbit: rate) }
        return nil
    }

    func validate() throws {
        try requireFinite([("--loss", loss)])
        let kinds = [blackhole, loss != nil, rate != nil, reset, halfClose != nil, delay != nil].filter { $0 }.count
        let modes = [kinds > 0, list, heal].filter { $0 }.count
        if modes != 1 { throw ValidationError("give one of: a fault (--blackhole, --loss PCT, --rate KBIT, --delay MS[,JITTER], --reset, --half-close read|write), --list, --heal") }
        if kinds > 1 { throw ValidationError("one fault at a time: --blackhole, --loss, --rate, --delay, --reset or --half-close") }
        if let delay, Self.delay(delay) == nil { throw ValidationError("--delay takes MS or MS,JITTER: milliseconds, 1-60000, the jitter below the delay") }
        if (reset || halfClose != nil) && (duration != nil || direction != .both) {
            throw ValidationError("--reset and --half-close act once: no --for or --direction (--half-close names its direction)")
        }
        if let loss, !(loss >= 0.1 && loss <= 100) { throw ValidationError("--loss is a percentage, 0.1-100") }
        if rate == 0 { throw ValidationError("--rate must be 1 kbit/s or more") }
        if let duration, Self.seconds(duration) == nil { throw ValidationError("--for takes a duration: 500ms, 3s, 2m, or seconds (up to 24h)") }
        if all && !heal { throw ValidationError("--all goes with --heal") }
        if list || (heal && all) {
            if !ids.isEmpty || selection.isGiven || !kernel.peer.isEmpty {
                throw ValidationError(list ? "--list takes no targets: it shows every fault of this mysqld" : "--heal --all takes no targets")
            }
        } else {
            try SocketTargets.validate(ids: ids, kernel: kernel, fds: nil, selection: selection)
        }
        if duration != nil && kinds == 0 { throw ValidationError("--for goes with a fault") }
    }

    /// `300` or `300,50`: milliseconds and jitter.
    static func delay(_ text: String) -> (ms: Int, jitter: Int)? {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        guard parts.count <= 2, let ms = Int(parts[0]), (1...60000).contains(ms) else { return nil }
        let jitter = parts.count == 2 ? Int(parts[1]) : 0
        guard let jitter, jitter >= 0, jitter <= ms else { return nil }
        return (ms, jitter)
    }

    /// `--for`: see ``FaultDuration/seconds(_:)``.
    static func seconds(_ text: String) -> Double? { FaultDuration.seconds(text) }

    /// Where `--container` puts mysqld's pid.
    var containerPID: Int32? {
        get { kernel.pid }
        set { kernel.pid = newValue }
    }

    func execute() throws {
        if list || (heal && all) {
            let table = FaultTable(pid: try mysqldPID())
            let swept = action.dryRun ? [] : try sweep(table)
            return list ? try FaultReport.list(table, swept: swept, json: action.json) : try healAll(table, swept: swept)
        }
        try action.requireConfirmable(verb: heal ? "heal" : "fault")
        let resolved = try SocketTargets.resolve(ids: ids, kernel: kernel, fds: [], selection: selection,
                                                 connection: connection, purpose: heal ? "heal" : "fault")
        // A dry run changes nothing, stale rules included.
        if !action.dryRun { for pid in Set(resolved.targets.compactMap { $0.socket?.pid }) { _ = try sweep(FaultTable(pid: pid)) } }
        if heal { return try healTargets(resolved.targets) }
        if reset || halfClose != nil { return try cut(resolved) }
        if let delay = delay.flatMap(Self.delay) {
            var arguments = action
            arguments.wait = 0
            let method = DelayInjection(milliseconds: delay.ms, jitter: delay.jitter, direction: direction, seconds: duration.flatMap(Self.seconds))
            let front = ActionFrontEnd(arguments: arguments, method: method, verb: "delay", sessions: resolved.connection,
                                       preview: { FaultReport.delayPreview($0, method: method, dryRun: action.dryRun) },
                                       table: FaultReport.delayResult)
            let outcomes = try front.run(resolved.targets)
            if outcomes.contains(where: { $0.result != .done && $0.result != .dryRun }) { throw Failure(.notDone) }
            return
        }
        let method = FaultInjection(kind: kind!, direction: direction, seconds: duration.flatMap(Self.seconds))
        var arguments = action
        arguments.wait = 0
        let front = ActionFrontEnd(arguments: arguments, method: method, verb: "fault", sessions: resolved.connection,
                                   preview: { FaultReport.preview($0, method: method, dryRun: action.dryRun) },
                                   table: FaultReport.result)
        let outcomes = try front.run(resolved.targets)
        if outcomes.contains(where: { $0.result != .done && $0.result != .dryRun }) { throw Failure(.notDone) }
    }

    /// --reset (the destroy cut, through the same pipeline as close) and --half-close.
    func cut(_ resolved: SocketTargets) throws {
        let outcomes: [ActionResult]
        if reset {
            let cut = SocketCut(how: .destroy)
            let front = ActionFrontEnd(arguments: action, method: cut, verb: "reset", sessions: resolved.connection,
                                       preview: { ActionTables.closePreview($0, method: "destroy (reset)", dryRun: action.dryRun) },
                                       table: ActionTables.closeResult)
            outcomes = try front.run(resolved.targets).map(\.result)
        } else {
            var arguments = action
            arguments.wait = 0
            let method = HalfClose(side: halfClose!)
            let front = ActionFrontEnd(arguments: arguments, method: method, verb: "half-close", sessions: resolved.connection,
                                       preview: { ActionTables.closePreview($0, method: method.method, dryRun: action.dryRun) },
                                       table: ActionTables.closeResult)
            outcomes = try front.run(resolved.targets).map(\.result)
        }
        if outcomes.contains(where: { $0 != .done && $0 != .dryRun }) { throw Failure(.notDone) }
    }

    /// mysqld's pid for --list and --heal --all: --pid (verified), --container, or through SQL.
    func mysqldPID() throws -> Int32 {
        if let pid = kernel.pid {
            do { return try MysqldLocator().verify(pid: pid, force: kernel.force).pid } catch { throw Failure(error) }
        }
        return try SocketTargets.mysqldPID(try connection.connect())
    }

    /// The sweep every fault call starts with; what it removed goes to the audit log.
    func sweep(_ table: FaultTable) throws -> [FaultRuleset.Installed] {
        let swept: [FaultRuleset.Installed]
        do { swept = try table.sweep() } catch { throw Failure(.methodUnavailable, error.message + ": faults need root (or CAP_NET_ADMIN in mysqld's network namespace)") }
        FaultReport.audit(swept: swept, table: table, to: swept.isEmpty ? nil : try? action.openAudit())
        return swept
    }

    func healAll(_ table: FaultTable, swept: [FaultRuleset.Installed]) throws {
        let audit = try action.openAudit()
        let removed: [FaultRuleset.Installed]
        do { removed = action.dryRun ? try table.list() : try table.remove() } catch { throw Failure(.internalError, error.message) }
        try FaultReport.healed(removed, swept: swept, table: table, audit: audit, dryRun: action.dryRun, json: action.json)
    }

    func healTargets(_ targets: [ActionTarget]) throws {
        let audit = try action.openAudit()
        var removed: [FaultRuleset.Installed] = []
        let table = targets.first?.socket.map { FaultTable(pid: $0.pid) }
        let inodes = Set(targets.compactMap { $0.socket?.inode })
        if let table {
            let pick: @Sendable (FaultRuleset.Installed) -> Bool = { inodes.contains($0.record.connection.inode) }
            do { removed = action.dryRun ? try table.list().filter(pick) : try table.remove(where: pick) } catch { throw Failure(.internalError, error.message) }
        }
        if let table { try FaultReport.healed(removed, swept: [], table: table, audit: audit, dryRun: action.dryRun, json: action.json) }
        if removed.isEmpty && !action.json { printError("myconn: no fault on the named target(s); nothing to heal") }
    }
}

extension FaultDirection: ExpressibleByArgument {}
extension HalfClose.Side: ExpressibleByArgument {}
