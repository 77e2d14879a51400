#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import ProcFS
import SockDiag
import SystemPackage
import Testing
@testable import MyConnCore

/// The replay each kernel read of a ``ListerNetlinkTests/lister(proc:requestedPID:stream:replays:)`` opened, last one last.
final class OpenedReplays {
    var opened: [ReplayTransport] = []
}

/// `Lister` as a whole with `--source netlink`: the fake processlist, the /proc tree of
/// Fixtures/mariadb-10.11-netlink-tree (or, where a test takes the fixture as its argument, of
/// each tree in ``RecordedProcTree/withSockDiagByVersion``: 10.11 and 11.8), and its sock_diag
/// conversation of the same moment replayed by request instead of a netlink socket in mysqld's
/// namespace.
@Suite("list as a whole over replayed sock_diag: fake processlist + recorded /proc + recorded netlink (no root, no server)")
struct ListerNetlinkTests {
    var tree: RecordedProcTree
    /// The requests and replies recorded with the tree, which every replay here plays.
    var bytes: [UInt8]

    init() throws { try self.init(RecordedProcTree.withSockDiag) }

    init(_ fixture: String) throws {
        let tree = try RecordedProcTree(fixture)
        (self.tree, bytes) = (tree, try tree.sockDiag())
    }

    func lister(proc: ProcReader, requestedPID: Int32? = nil, stream: [UInt8]? = nil, replays: OpenedReplays = OpenedReplays()) -> Lister {
        var lister = Lister(proc: proc, requestedPID: requestedPID, kernelSource: .netlink)
        let stream = stream ?? bytes
        lister.openSockDiag = { _ in
            do {
                let replay = try ReplayTransport(stream: stream)
                replays.opened.append(replay)
                return .success(SockDiagClient(transport: replay))
            } catch {
                return .failure(NetlinkUnavailable(reason: "\(error)"))
            }
        }
        return lister
    }

    func run(_ lister: Lister) throws(ListError) -> ListReport {
        try lister.run(source: FakeSessionSource(facts: tree.serverFacts, rows: (try? tree.processList()) ?? []))
    }

    @Test("every session's fd, inode and tcp_info equal ss's, from the replayed dumps, on 10.11 and on 11.8",
          arguments: RecordedProcTree.withSockDiagByVersion, [false, true])
    func exact(fixture: String, withPID: Bool) throws {
        let here = try Self(fixture), tree = here.tree
        #expect(tree.version.hasPrefix(fixture.hasPrefix("mariadb-11.8") ? "11.8." : "10.11."))
        let memory = try tree.withMemory()
        let replays = OpenedReplays()
        let report = try here.run(here.lister(proc: memory.proc, requestedPID: withPID ? tree.mainPID : nil, replays: replays))
        #expect(report.server.kernelSource == .netlink)
        #expect(!report.warnings.contains { $0.contains("instead of sock_diag") }, "\(report.warnings)")
        try ListerRunTests.expectExact(report, tree: tree)
        let replay = try #require(replays.opened.first)
        #expect(replays.opened.count == 1 && replay.remaining == 0, "each recorded answer asked for once")
        let info = try tree.ssTCPInfo()
        let clients = try tree.clients()
        var checked = 0
        for s in report.sessions where s.transport == .tcp4 || s.transport == .tcp6 {
            let address = try #require(clients[s.row.id]?.local)
            let want = try #require(info[address], "ss -tnpei has \(address)")
            let health = try #require(s.socket?.health, "session \(s.row.id) has tcp_info")
            #expect(health.state == .established)
            #expect(health.rttMicroseconds == want.rtt, "session \(s.row.id)")
            #expect(health.unacked == want.unacked && health.retransmits == 0 && health.probes == 0)
            #expect(health.lastSendMilliseconds <= want.lastSend && health.lastReceiveMilliseconds <= want.lastReceive)
            checked += 1
        }
        #expect(checked == 4, "tcp4 x3, tcp6 x1")
    }

    @Test("kernel-only over the same bytes: asked in another order, every connection of mysqld with ss's fd and inode",
          arguments: RecordedProcTree.withSockDiagByVersion)
    func kernelOnly(fixture: String) throws {
        let here = try Self(fixture), tree = here.tree
        let replays = OpenedReplays()
        let report = try here.lister(proc: tree.proc, replays: replays).runKernelOnly(pid: tree.mainPID, why: "test")
        #expect(report.server.sql == false && report.sessions.isEmpty)
        #expect(report.server.kernelSource == .netlink)
        #expect(report.warnings == ["test"], "no fallback to /proc")
        try ListerRunTests.expectEveryConnection(report, tree: tree)
        #expect(report.unmatchedSockets.filter { $0.transport != .unix }.allSatisfy { $0.health != nil })
        let replay = try #require(replays.opened.first)
        // Recorded as listeners v4, v6, port v4, v6, unix; the kernel-only read asks the port last.
        // First comes the one-dump request for both families, which this recording predates:
        // refused (as by a kernel without it), and not asked again (BothFamiliesDumpTests).
        #expect(replay.requests.first.map(BothFamiliesDumpTests.type) == 18)
        #expect(replay.requests.dropFirst().map { $0[16] } == [InetDiag.afInet, InetDiag.afInet6, 1, InetDiag.afInet, InetDiag.afInet6])
        #expect(replay.remaining == 0)
    }

    @Test("a recording without the answers: list falls back to /proc, says why, and is still exact")
    func nothingRecorded() throws {
        let memory = try tree.withMemory()
        let report = try run(lister(proc: memory.proc, stream: []))
        #expect(report.server.kernelSource == .proc)
        #expect(report.warnings.contains { $0.hasPrefix("TCP table read from /proc instead of sock_diag: sock_diag dump failed") },
                "\(report.warnings)")
        try ListerRunTests.expectExact(report, tree: tree)
    }

    @Test("the replay answers each request by its content, in any order; one never recorded gets ENOMSG")
    func byRequest() throws {
        let inOrder = SockDiagClient(transport: try ReplayTransport(stream: bytes))
        let port = tree.mainPort
        let listeners = try inOrder.dumpTCP(family: InetDiag.afInet, states: InetDiag.states([.listen]), sourcePort: nil)
        let connected = try inOrder.dumpTCP(family: InetDiag.afInet6, states: InetDiag.allButListen, sourcePort: port, withInfo: true)
        let replay = try ReplayTransport(stream: bytes)
        let shuffled = SockDiagClient(transport: replay)
        #expect(try shuffled.dumpUnix(states: UnixDiag.established).count > 3)
        #expect(try shuffled.dumpTCP(family: InetDiag.afInet6, states: InetDiag.allButListen, sourcePort: port, withInfo: true) == connected)
        #expect(try shuffled.dumpTCP(family: InetDiag.afInet, states: InetDiag.states([.listen]), sourcePort: nil) == listeners)
        #expect(replay.remaining == 2)
        #expect(throws: SockDiagClient.DumpError.system(Errno(rawValue: ENOMSG))) {
            try shuffled.dumpTCP(family: InetDiag.afInet, states: InetDiag.allButListen, sourcePort: tree.decoyPort, withInfo: true)
        }
        #expect(throws: SockDiagClient.DumpError.system(Errno(rawValue: ENOMSG)), "each answer is given once") {
            try shuffled.dumpTCP(family: InetDiag.afInet, states: InetDiag.states([.listen]), sourcePort: nil)
        }
    }
}
