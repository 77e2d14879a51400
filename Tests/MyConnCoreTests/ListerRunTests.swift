import Foundation
import MySQLSessions
import ProcFS
import Testing
@testable import MyConnCore

/// `Lister.run` as a whole: a fake session source playing the recorded processlist, and the
/// recorded /proc tree (`--source proc`; ListerNetlinkTests replays sock_diag too). Every
/// session's fd and inode against ss's.
@Suite("list as a whole on a recorded mariadbd: fake processlist + recorded /proc (no root, no server)")
struct ListerRunTests {
    let tree: RecordedProcTree

    init() throws { tree = try RecordedProcTree() }

    func run(requestedPID: Int32? = nil, force: Bool = false, proc: ProcReader) throws(ListError) -> ListReport {
        let source = FakeSessionSource(facts: tree.serverFacts, rows: (try? tree.processList()) ?? [])
        var lister = Lister(proc: proc, requestedPID: requestedPID, kernelSource: .proc)
        lister.forcePID = force
        return try lister.run(source: source)
    }

    @Test("every session's fd and inode equal ss's: TCP by address, idle unix by thread; the busy one not proven", arguments: [false, true])
    func exact(withPID: Bool) throws {
        let memory = try tree.withMemory()
        let report = try run(requestedPID: withPID ? tree.mainPID : nil, proc: memory.proc)
        #expect(report.server.kernelSource == .proc)
        try Self.expectExact(report, tree: tree)
    }

    /// Every session of `tree` on ss's fd and inode, none left over: what `list` must give on
    /// the recorded moment, whichever source the TCP table came from.
    static func expectExact(_ report: ListReport, tree: RecordedProcTree) throws {
        #expect(report.server.pid == tree.mainPID)
        #expect(!report.kernelViewIncomplete)
        let ssTCP = try tree.ssTCP()
        let ssUnix = try tree.ssUnix()
        let clients = try tree.clients()
        #expect(!report.sessions.contains { $0.row.id == tree.selfID }, "our own session is left out")
        #expect(Set(report.sessions.map(\.row.id)) == Set(clients.keys))
        for s in report.sessions {
            let c = try #require(clients[s.row.id])
            switch c.transport {
            case "tcp4", "tcp6":
                let want = try #require(ssTCP[c.local], "ss has \(c.local)")
                #expect(s.socket?.fd == want.fd, "session \(s.row.id)")
                #expect(s.socket?.inode == want.inode, "session \(s.row.id)")
                #expect(s.socket?.peer?.description == c.local)
                #expect(s.match == .address)
                #expect(s.transport?.rawValue == c.transport)
            case "unix" where s.row.command == "Sleep":
                let want = try #require(ssUnix[c.inode])
                #expect(s.socket?.fd == want.fd, "session \(s.row.id)")
                #expect(s.socket?.inode == want.inode, "session \(s.row.id)")
                #expect(s.match == .thread)
            default:
                #expect(s.socket?.fd == nil, "session \(s.row.id) in SELECT SLEEP waits on a futex")
                #expect(s.unresolved?.contains("futex") == true, "\(s.unresolved ?? "nil")")
            }
        }
        // Nothing is left over: every TCP socket has its session, and the busy session's unix
        // socket is not listed as session-less but counted, since that session is not proven.
        #expect(report.unmatchedSockets.isEmpty)
        #expect(report.warnings.contains { $0.hasPrefix("1 unix socket(s) in mysqld are not attributed") }, "\(report.warnings)")
    }

    @Test("--pid that is pid 1, a thread, or the other mariadbd is refused before a report")
    func wrongPID() throws {
        do {
            _ = try run(requestedPID: tree.threadAsPID, proc: tree.proc)
            Issue.record("a thread id was accepted")
        } catch .locate(let e) {
            #expect(e == .notThreadGroupLeader(pid: tree.threadAsPID, leader: tree.mainPID, comm: "mariadbd"))
        } catch {
            Issue.record("\(error)")
        }
        do {
            _ = try run(requestedPID: tree.decoyPID, proc: tree.proc)
            Issue.record("the decoy was accepted")
        } catch .locate(let e) {
            // Named right, but it holds no listener on the server's port.
            #expect(e == .notMysqld(pid: tree.decoyPID, comm: "mariadbd", port: tree.mainPort))
        } catch {
            Issue.record("\(error)")
        }
        do {
            _ = try run(requestedPID: 1, proc: tree.proc)
            Issue.record("pid 1 was accepted")
        } catch .locate(let e) {
            #expect(e == .notNamedServer(pid: 1, comm: try tree.proc.comm(pid: 1)))
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test("--force lets a --pid not named mysqld through the name check, never the process and listener checks")
    func forcedPID() throws {
        do {
            _ = try run(requestedPID: tree.clientsPID, proc: tree.proc)
            Issue.record("the client process was accepted")
        } catch .locate(let e) {
            #expect(e == .notNamedServer(pid: tree.clientsPID, comm: "myconn-demo-cli"))
        } catch {
            Issue.record("\(error)")
        }
        do {
            _ = try run(requestedPID: tree.clientsPID, force: true, proc: tree.proc)
            Issue.record("a process with no listener was accepted")
        } catch .locate(let e) {
            Issue.record("--force still refused by \(e)")
        } catch .kernel(let e) {
            // Past the name (myconn-demo-cli): its sockets are read next (the recording has no
            // net tables of the client's, so the read ends there).
            #expect(e == .processGone(pid: tree.clientsPID))
        } catch {
            Issue.record("\(error)")
        }
        do {
            _ = try run(requestedPID: tree.threadAsPID, force: true, proc: tree.proc)
            Issue.record("a thread id was accepted with --force")
        } catch .locate(let e) {
            #expect(e == .notThreadGroupLeader(pid: tree.threadAsPID, leader: tree.mainPID, comm: "mariadbd"))
        } catch {
            Issue.record("\(error)")
        }
        let memory = try tree.withMemory()
        #expect(try run(requestedPID: tree.mainPID, force: true, proc: memory.proc).server.pid == tree.mainPID)
    }

    @Test("kernel-only: every connection of mysqld listed with ss's fd and inode, no session")
    func kernelOnly() throws {
        let report = try Lister(proc: tree.proc, kernelSource: .proc).runKernelOnly(pid: tree.mainPID, why: "test")
        #expect(report.server.sql == false)
        #expect(report.sessions.isEmpty)
        #expect(report.warnings.first == "test")
        try Self.expectEveryConnection(report, tree: tree)
    }

    /// The kernel-only report lists every connection ss saw in mysqld, on its fd and inode.
    static func expectEveryConnection(_ report: ListReport, tree: RecordedProcTree) throws {
        var want = Set(try tree.ssTCP().values.map { "\($0.fd)/\($0.inode)" })
        want.formUnion(try tree.ssUnix().values.map { "\($0.fd)/\($0.inode)" })
        #expect(Set(report.unmatchedSockets.map { "\($0.fd ?? -1)/\($0.inode ?? 0)" }) == want)
    }
}
