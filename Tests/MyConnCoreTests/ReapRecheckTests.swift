#if canImport(Glibc)
import Glibc
#endif
import LinuxKernel
import ProcFS
import Testing
@testable import MyConnCore

/// The server as it is at the moment of acting: rows, transactions and hosts the test sets.
final class NowLookup: ReapLookup {
    var rows: [ProcessListRow] = []
    var ages: [UInt64: Int64] = [:]
    var hostsNow: [UInt64: String] = [:]
    func sessions(_ ids: [UInt64]) throws(MySQLError) -> [ProcessListRow] { rows.filter { ids.contains($0.id) } }
    func transactionAges(_ ids: [UInt64]?) throws(MySQLError) -> [UInt64: Int64] { ages }
    func hosts() throws(MySQLError) -> [UInt64: String] { hostsNow }
}

/// An inner method that acts on nothing, and remembers what it was handed.
final class Handed {
    var targets: [ActionTarget] = []
}

struct RecordingMethod: ActionMethod {
    struct Detail: Sendable, Equatable {}
    let handed: Handed
    var action: String { "kill" }
    var method: String { "test" }
    var noDetail: Detail { Detail() }
    var recordsTransport: Bool { false }
    func preflight(_ targets: [ActionTarget]) throws(MethodUnavailable) {}
    func act(_ targets: [ActionTarget], context: ActionContext) throws(MethodUnavailable) -> [ActionStep<Detail>] {
        handed.targets += targets
        return targets.map { _ in ActionStep(.done, Detail()) }
    }
    func goal(after step: ActionStep<Detail>, target: ActionTarget) -> WaitGoal { [] }
    func writeFields(of outcome: ActionOutcome<Detail>, to w: JSONWriter) {}
}

/// `Rechecked`, the re-verification of `reap` at the moment of acting, on sessions the test
/// changes between the snapshot and the act, and on real sockets of this test process.
@Suite("reap's re-verification: a victim that changed is refused, the others are handed on")
struct ReapRecheckTests {
    static func row(_ id: UInt64, user: String = "app", command: String = "Sleep", time: Int64 = 100, info: String? = nil) -> ProcessListRow {
        ProcessListRow(id: id, user: user, host: "10.0.0.\(id):5\(id)000", db: nil, command: command, time: time, state: "", info: info)
    }

    static func candidate(_ r: ProcessListRow) -> ReapCandidate { ReapCandidate(session: SessionView(row: r, transport: .tcp4)) }

    func run(_ rules: ReapRules, victims: [ProcessListRow], now: NowLookup?) -> (results: [ActionResult], handed: [UInt64]) {
        let handed = Handed()
        let targets = victims.map { ActionTarget(session: $0, socket: nil) }
        let checked = Rechecked(inner: RecordingMethod(handed: handed), rules: rules,
                                victims: Dictionary(uniqueKeysWithValues: victims.map { (ActionTarget(session: $0, socket: nil).identity, Self.candidate($0)) }),
                                lookup: now, socketAction: false, idleSeconds: nil)
        let signals = DeferredSignals()
        defer { signals.release() }
        let steps = (try? checked.act(targets, context: ActionContext(proc: ProcReader(), signals: signals))) ?? []
        return (steps.map(\.result), handed.targets.compactMap { $0.session?.id })
    }

    var idle: ReapRules {
        var r = ReapRules()
        r.idleTime = 60
        return r
    }

    @Test("ended, another user, another command: each refused as changed, and only the unchanged victim is acted on")
    func sessionChanged() {
        let now = NowLookup()
        now.rows = [Self.row(2, user: "other"), Self.row(3, command: "Query"), Self.row(4)]
        let r = run(idle, victims: [Self.row(1), Self.row(2), Self.row(3), Self.row(4)], now: now)
        #expect(r.results == [.refused("changed: session 1 ended"), .refused("changed: session 2 is user other now, not app"),
                              .refused("changed: session 3 is Query now, not Sleep"), .done])
        #expect(r.handed == [4])
    }

    @Test("the same session that no longer matches on what is read now (a new statement, TIME back to 0) is refused")
    func rulesNoLongerHold() {
        var busy = ReapRules()
        busy.busyTime = 30
        let now = NowLookup()
        now.rows = [Self.row(7, command: "Query", time: 0, info: "SELECT 2")]
        let r = run(busy, victims: [Self.row(7, command: "Query", time: 45, info: "SELECT 1")], now: now)
        #expect(r.results == [.refused("changed: no longer matches the rules")] && r.handed.isEmpty)
    }

    @Test("--trx-time: a transaction committed since the snapshot is no reason any more")
    func transactionEnded() {
        var trx = ReapRules()
        trx.transactionTime = 60
        let now = NowLookup()
        now.rows = [Self.row(8), Self.row(9)]
        now.ages = [9: 120]
        let handed = Handed()
        var c8 = Self.candidate(Self.row(8)), c9 = Self.candidate(Self.row(9))
        c8.transactionSeconds = 90
        c9.transactionSeconds = 90
        let targets = [ActionTarget(session: Self.row(8), socket: nil), ActionTarget(session: Self.row(9), socket: nil)]
        let checked = Rechecked(inner: RecordingMethod(handed: handed), rules: trx,
                                victims: [targets[0].identity: c8, targets[1].identity: c9], lookup: now, socketAction: false, idleSeconds: nil)
        #expect(checked.verify(targets, proc: ProcReader()) == [.refused("changed: no longer matches the rules"), nil])
    }

    @Test("no SQL to look with, or a target not chosen this cycle: refused, never acted on blind")
    func failClosed() {
        #expect(run(idle, victims: [Self.row(5)], now: nil).results == [.refused("cannot re-verify the session: no SQL")])
        let handed = Handed()
        let checked = Rechecked(inner: RecordingMethod(handed: handed), rules: idle, victims: [:], lookup: NowLookup(), socketAction: false, idleSeconds: nil)
        #expect(checked.verify([ActionTarget(session: Self.row(6), socket: nil)], proc: ProcReader()) == [.refused("not a victim of this cycle")])
    }

    /// A connected TCP pair on loopback, both ends this process's.
    static func tcpPair() throws -> (server: Int32, client: Int32) {
        let l = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_addr.s_addr = UInt32(0x7F000001).bigEndian
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(l, $0, len) } }
        listen(l, 1)
        _ = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(l, $0, &len) } }
        let c = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(c, $0, len) } }
        let s = accept(l, nil, nil)
        close(l)
        guard s >= 0, c >= 0 else { throw ReapTestError.socket(errno) }
        return (s, c)
    }

    static func inode(_ fd: Int32) -> UInt64 {
        var st = stat()
        fstat(fd, &st)
        return UInt64(st.st_ino)
    }

    @Test("a socket re-read through pidfd_getfd: the same inode and cookie pass with fresh tcp_info; the fd taken by another socket, or another cookie, is changed")
    func socketNow() throws {
        let (s, c) = try Self.tcpPair()
        defer { close(s); close(c) }
        let cookie = try socketCookie(fd: s)
        let ref = SocketRef(pid: getpid(), fd: s, inode: Self.inode(s), transport: .tcp4, local: nil, peer: nil, cookie: cookie)
        guard case .success(let health?) = Rechecked<RecordingMethod>.socketNow(ref) else {
            Issue.record("the same socket is refused: \(Rechecked<RecordingMethod>.socketNow(ref))")
            return
        }
        #expect(health.state == .established)
        var other = ref
        other.cookie = cookie &+ 1
        #expect(Rechecked<RecordingMethod>.socketNow(other) == .failure(.refused("changed: socket inode \(ref.inode) has another cookie")))
        // The fd number now holds a new connection's socket: what a reused descriptor looks like.
        let (s2, c2) = try Self.tcpPair()
        defer { close(s2); close(c2) }
        #expect(dup2(s2, s) == s)
        #expect(Rechecked<RecordingMethod>.socketNow(ref)
                == .failure(.refused("changed: fd \(s) is socket inode \(Self.inode(s2)) now, not \(ref.inode)")))
        // The last descriptor the limit allows: fds are handed out lowest first, so no test running
        // beside this one holds it (fd 1000 was once a parallel test's socket in CI).
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        let unused = Int32(min(limit.rlim_cur, 1 << 20) - 1)
        #expect(fcntl(unused, F_GETFD) == -1)
        let closed = SocketRef(pid: getpid(), fd: unused, inode: 1, transport: .tcp4, local: nil, peer: nil)
        #expect(Rechecked<RecordingMethod>.socketNow(closed) == .failure(.refused("changed: fd \(unused) is closed")))
    }

    @Test("a socket without a session in the snapshot whose peer a session holds now (it logged in meanwhile) is refused")
    func orphanNowOwned() throws {
        var rules = ReapRules()
        rules.selection.classes = [.orphanSocket]
        let peer = SocketAddress(ip: IPAddress(text: "10.0.0.9")!, port: 40000)
        var k = SocketView(transport: .tcp4, fd: 40, inode: 77, peer: peer)
        k.zombie = [.orphanSocket]
        let target = ActionTarget(session: nil, socket: k.reference(pid: 1))
        let now = NowLookup()
        now.hostsNow = [31: "10.0.0.9:40000"]
        let checked = Rechecked(inner: RecordingMethod(handed: Handed()), rules: rules,
                                victims: [target.identity: ReapCandidate(session: nil, orphanSocket: k)], lookup: now,
                                socketAction: false, idleSeconds: nil)
        #expect(checked.verify([target], proc: ProcReader()) == [.refused("changed: the socket of 10.0.0.9:40000 belongs to session 31 now")])
    }
}

enum ReapTestError: Error {
    case socket(Int32)
}

/// A killer that says which statement it was asked to end, and can answer as the server does
/// when that statement has already ended.
final class StatementKiller: SessionKiller {
    var calls: [String] = []
    var statementEnded = false
    func kill(_ id: UInt64, queryOnly: Bool) throws(MySQLError) { calls.append("kill \(id) \(queryOnly ? "query" : "connection")") }
    func killStatement(_ id: UInt64, queryID: UInt64) throws(MySQLError) {
        if statementEnded { throw MySQLError(kind: .client, code: 1957, message: "Unknown query id: \(queryID)") }
        calls.append("kill \(id) query id \(queryID)")
    }
}

@Suite("KILL QUERY ends the statement that was re-verified, never the one after it")
struct StatementKillTests {
    func act(_ killer: StatementKiller, _ row: ProcessListRow) -> ActionResult? {
        let signals = DeferredSignals()
        defer { signals.release() }
        let steps = try? SQLKill(killer: killer, queryOnly: true)
            .act([ActionTarget(session: row, socket: nil)], context: ActionContext(proc: ProcReader(), signals: signals))
        return steps?.first?.result
    }

    @Test("a running statement with its QUERY_ID: KILL QUERY ID; one that ended in between: refused, nothing killed; no QUERY_ID or no statement: KILL QUERY")
    func byQueryID() {
        let k = StatementKiller()
        #expect(act(k, ProcessListRow(id: 7, command: "Query", time: 40, queryID: 42)) == .done)
        #expect(act(k, ProcessListRow(id: 8, command: "Query", time: 40)) == .done)
        #expect(act(k, ProcessListRow(id: 9, command: "Sleep", time: 40, queryID: 43)) == .done)
        #expect(k.calls == ["kill 7 query id 42", "kill 8 query", "kill 9 query"])
        k.statementEnded = true
        #expect(act(k, ProcessListRow(id: 7, command: "Query", time: 41, queryID: 42)) == .refused("statement 42 of session 7 has ended; nothing killed"))
        #expect(k.calls.count == 3)
    }
}
