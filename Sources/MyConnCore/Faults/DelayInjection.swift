#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import LinuxKernel
import ProcFS

/// A delay's own part of one target's outcome.
public struct DelayDetail: Sendable, Equatable {
    /// Packets held and let go.
    public var packets = 0
    public var queue: UInt16?
    /// How long the delay was in place.
    public var seconds: Double?
    /// Why it ended: `--for`, or the signal that ended it.
    public var ended: String?

    public init() {}
}

/// `myconn fault --delay MS[,JITTER]`: this kernel has no netem, and nftables' own `queue` is not
/// built, so each target's packets go to an NFQUEUE queue through the xtables NFQUEUE target
/// (`iptables`/`ip6tables` in mysqld's namespace, table mangle: OUTPUT for mysqld's packets, where
/// a queued packet counts as sent, PREROUTING for the client's), and this process holds each one
/// for the delay (plus or minus the jitter) before letting it go. It stays in the foreground for
/// `--for`, or until INT/TERM/HUP, and takes its rules out on the way; the rules carry
/// `--queue-bypass`, so if myconn is killed packets pass again, and the next delay call removes
/// rules whose myconn is gone.
public struct DelayInjection: ActionMethod, Sendable {
    public var milliseconds: Int
    public var jitter: Int
    public var direction: FaultDirection
    /// nil: until a signal (or the front end's stop).
    public var seconds: Double?
    /// Called once the delay is in place on every target it could be put on (their indexes and
    /// queues), before packets are held: `serve` answers its request then, not when it ends.
    public var holding: (@Sendable ([(index: Int, queue: UInt16)]) -> Void)?

    public init(milliseconds: Int, jitter: Int, direction: FaultDirection, seconds: Double?) {
        self.milliseconds = milliseconds
        self.jitter = jitter
        self.direction = direction
        self.seconds = seconds
    }

    public var action: String { "fault" }
    public var method: String { "delay" }
    public var noDetail: DelayDetail { DelayDetail() }
    public var recordsTransport: Bool { true }

    public func preflight(_ targets: [ActionTarget]) throws(MethodUnavailable) {
        try FaultInjection(kind: .blackhole, direction: direction, seconds: nil).preflight(targets)
    }

    public func verify(_ targets: [ActionTarget], proc: ProcReader) -> [ActionResult?] {
        FaultInjection(kind: .blackhole, direction: direction, seconds: nil).verify(targets, proc: proc)
    }

    /// The xtables rules for one connection (`-I` to add, `-D` to delete).
    static func rules(_ c: FaultConnection, direction: FaultDirection, queue: UInt16, comment: String, op: String) -> [[String]] {
        let bin = c.isIPv4 ? "iptables" : "ip6tables"
        var out: [[String]] = []
        func rule(_ chain: String, _ src: SocketAddress, _ dst: SocketAddress) -> [String] {
            [bin, "-w", "-t", "mangle", op, chain, "-p", "tcp", "-s", src.ip.description, "--sport", String(src.port),
             "-d", dst.ip.description, "--dport", String(dst.port), "-m", "comment", "--comment", comment,
             "-j", "NFQUEUE", "--queue-num", String(queue), "--queue-bypass"]
        }
        if direction.toClient { out.append(rule("OUTPUT", c.server, c.client)) }
        if direction.toServer { out.append(rule("PREROUTING", c.client, c.server)) }
        return out
    }

    final class Live: @unchecked Sendable {
        let index: Int
        let queue: NetfilterQueue
        let rules: [[String]]
        let namespace: String
        let record: DelayRecord
        var held: [(due: Double, id: UInt32)] = []
        var packets = 0

        init(index: Int, queue: NetfilterQueue, rules: [[String]], namespace: String, record: DelayRecord) {
            self.index = index
            self.queue = queue
            self.rules = rules
            self.namespace = namespace
            self.record = record
        }
    }

    public func act(_ targets: [ActionTarget], context: ActionContext) throws(MethodUnavailable) -> [ActionStep<DelayDetail>] {
        var steps = targets.map { _ in ActionStep(.refused("not acted on"), DelayDetail()) }
        var live: [Live] = []
        for (i, t) in targets.enumerated() {
            let conn: FaultConnection
            switch FaultInjection.check(t) {
            case .failure(let why):
                steps[i].result = why
                continue
            case .success(let ok): conn = ok.1
            }
            let pid = t.socket!.pid
            let (direction, index) = (self.direction, i)
            let made = Self.inNamespace(pid) { Self.install(conn, direction: direction, index: index, pid: pid) }
            switch made {
            case .failure(let why): steps[i].result = why
            case .success(let l):
                steps[i].detail.queue = l.queue.number
                live.append(l)
            }
        }
        guard !live.isEmpty else { return steps }
        holding?(live.map { ($0.index, $0.queue.number) })
        let started = Deadline.now()
        var ended = seconds.map { "after --for \(Self.format($0)) s" } ?? "?"
        // Hold and release until --for runs out or a signal comes.
        while true {
            if let s = context.signals.take() { ended = "\(signalName(s)) after \(Self.format(Deadline.now() - started)) s"; break }
            if context.stopRequested() { ended = "healed after \(Self.format(Deadline.now() - started)) s"; break }
            if let seconds, Deadline.now() - started >= seconds { break }
            for l in live {
                let now = Deadline.now()
                for id in l.queue.receive(timeoutMilliseconds: live.count == 1 ? 2 : 0) {
                    let spread = jitter > 0 ? Double(Int.random(in: -jitter...jitter)) : 0
                    l.held.append((now + max(0, Double(milliseconds) + spread) / 1000, id))
                    l.packets += 1
                }
                let t = Deadline.now()
                l.held.sort { $0.due < $1.due }
                while let first = l.held.first, first.due <= t {
                    l.queue.accept(first.id)
                    l.held.removeFirst()
                }
            }
            if live.count > 1 { Deadline.sleep(milliseconds: 1) }
        }
        for l in live {
            // Rules out first, then every held packet let go: nothing is lost on the way out.
            let record = l.record, rules = l.rules
            _ = Self.inNamespace(record.mysqldPID) { () -> Result<Void, ActionResult> in
                for r in rules { _ = runProgram(r) }
                try? FaultTable(pid: record.mysqldPID).forget(record)
                return .success(())
            }
            for h in l.held { l.queue.accept(h.id) }
            l.held = []
            steps[l.index] = ActionStep(.done, DelayDetail())
            steps[l.index].detail.queue = l.queue.number
            steps[l.index].detail.packets = l.packets
            steps[l.index].detail.seconds = Deadline.now() - started
            steps[l.index].detail.ended = ended
        }
        return steps
    }

    /// In mysqld's namespace: a free queue, then the rules that send the connection's packets to it.
    static func install(_ conn: FaultConnection, direction: FaultDirection, index: Int, pid: Int32) -> Result<Live, ActionResult> {
        var queue: NetfilterQueue?
        for n in UInt16(41000)..<UInt16(41256) where queue == nil { queue = try? NetfilterQueue(number: n) }
        guard let queue else { return .failure(.failed("no free NFQUEUE queue number in 41000-41255")) }
        let record = DelayRecord(owner: getpid(), mysqldPID: pid, queue: queue.number, direction: direction, connection: conn)
        // The record first: if this process dies between the two, the next fault call finds the
        // record and deletes whatever rules of it exist.
        do throws(FaultError) { try FaultTable(pid: pid).record(record) } catch { return .failure(.failed(error.message)) }
        var added: [[String]] = []
        for r in rules(conn, direction: direction, queue: queue.number, comment: record.comment, op: "-I") {
            let status = runProgram(r)
            guard status == 0 else {
                for a in added { _ = runProgram(deleting(a)) }
                try? FaultTable(pid: pid).forget(record)
                return .failure(.failed("\(r[0]) exited \(status) adding the NFQUEUE rule (is iptables installed, and NET_ADMIN held?)"))
            }
            added.append(r)
        }
        return .success(Live(index: index, queue: queue, rules: added.map(deleting), namespace: "/proc/\(pid)/ns/net", record: record))
    }

    /// The same rule with `-I` turned into `-D`.
    static func deleting(_ rule: [String]) -> [String] { rule.map { $0 == "-I" ? "-D" : $0 } }

    /// Runs `body` in mysqld's network namespace (on this thread when already there).
    static func inNamespace<T: Sendable>(_ pid: Int32, _ body: @escaping @Sendable () -> Result<T, ActionResult>) -> Result<T, ActionResult> {
        if FaultTable(pid: pid).namespace == FaultTable.ownNamespace { return body() }
        do { return try NetworkNamespace.run(in: "/proc/\(pid)/ns/net", body) } catch {
            return .failure(.failed("cannot enter mysqld's network namespace: \(error)"))
        }
    }

    static func format(_ s: Double) -> String { s == s.rounded() ? String(Int(s)) : String(Double(Int(s * 10)) / 10) }

    public func goal(after step: ActionStep<DelayDetail>, target: ActionTarget) -> WaitGoal { [] }

    public func writeFields(of o: ActionOutcome<DelayDetail>, to w: JSONWriter) {
        w.field("outcome", o.result.name)
        w.field("message", o.result.message)
        w.field("fault", "delay:\(milliseconds)" + (jitter > 0 ? ",\(jitter)" : ""))
        w.field("direction", direction.rawValue)
        w.field("queue", o.detail.queue.map(Int64.init))
        w.field("packets", Int64(o.detail.packets))
        w.field("seconds", o.detail.seconds.map { Self.format($0) })
        w.field("ended", o.detail.ended)
    }
}
