import MySQLSessions
import ProcFS
import Testing
@testable import MyConnCore

@Suite("Zombie classes, one rule each")
struct ZombieRulesTests {
    func tcp(_ state: TCPState, health: TCPHealth? = nil, sendQueue: UInt32 = 0) -> SocketView {
        SocketView(transport: .tcp4, fd: 44, inode: 9, local: .inet(SocketAddress(ip: .v4(10, 0, 0, 1), port: 3306)),
                   peer: SocketAddress(ip: .v4(10, 0, 0, 2), port: 5000),
                   tcpState: state, sendQueue: sendQueue, recvQueue: 0, health: health)
    }

    func health(unacked: UInt32 = 0, retransmits: UInt8 = 0, probes: UInt8 = 0) -> TCPHealth {
        TCPHealth(rttMicroseconds: 100, retransmits: retransmits, probes: probes, unacked: unacked,
                  lastReceiveMilliseconds: 0, lastSendMilliseconds: 0)
    }

    func report(_ sessions: [SessionView], unmatched: [SocketView] = [], sql: Bool = true) -> ListReport {
        ListReport(server: ServerView(pid: 1, version: "x", port: 3306, kernelSource: .netlink, sql: sql),
                   sessions: sessions, unmatchedSockets: unmatched, listeningSockets: [], warnings: [],
                   kernelViewIncomplete: false)
    }

    @Test("each rule, and only its cases")
    func rules() {
        var missing = SessionView(row: ProcessListRow(id: 4, host: "10.0.0.3:1", command: "Query", time: 1))
        missing.socketMissing = true
        var r = report([
            SessionView(row: ProcessListRow(id: 1, command: "Query", time: 5), socket: tcp(.closeWait)),
            SessionView(row: ProcessListRow(id: 2, command: "Query", time: 5), socket: tcp(.established, health: health(unacked: 3, retransmits: 2))),
            SessionView(row: ProcessListRow(id: 3, command: "Sleep", time: 5), socket: tcp(.established, health: health(probes: 2))),
            missing,
            SessionView(row: ProcessListRow(id: 5, command: "Sleep", time: 100), socket: tcp(.established, health: health())),
            SessionView(row: ProcessListRow(id: 6, command: "Query", time: 100), socket: tcp(.established, health: health(unacked: 3))),
            // One probe in flight is not a verdict: any ACK resets the count.
            SessionView(row: ProcessListRow(id: 7, command: "Query", time: 9), socket: tcp(.established, health: health(probes: 1), sendQueue: 90000)),
        ], unmatched: [tcp(.established), tcp(.timeWait)])
        ZombieRules.classify(&r, completeProcessList: true, idleSeconds: 60)
        #expect(r.sessions.map(\.zombie) == [[.clientGone], [.peerUnreachable], [.peerUnreachable], [.orphanSession], [.idle], [], []])
        #expect(r.unmatchedSockets.map(\.zombie) == [[.orphanSocket], []])

        var partial = report([], unmatched: [tcp(.established)])
        ZombieRules.classify(&partial, completeProcessList: false, idleSeconds: nil)
        #expect(partial.unmatchedSockets.map(\.zombie) == [[]], "without PROCESS the processlist is partial: no orphans")
    }

    @Test("idle means TIME >= N, as pt-kill's --idle-time: a session in Sleep for exactly N seconds is idle, N-1 is not")
    func idleBoundary() {
        var r = report([
            SessionView(row: ProcessListRow(id: 1, command: "Sleep", time: 60), socket: tcp(.established, health: health())),
            SessionView(row: ProcessListRow(id: 2, command: "Sleep", time: 59), socket: tcp(.established, health: health())),
            SessionView(row: ProcessListRow(id: 3, command: "Query", time: 600), socket: tcp(.established, health: health())),
        ])
        ZombieRules.classify(&r, completeProcessList: true, idleSeconds: 60)
        #expect(r.sessions.map(\.zombie) == [[.idle], [], []])
        ZombieRules.classify(&r, completeProcessList: true, idleSeconds: 0)
        #expect(r.sessions[1].zombie == [.idle], "--idle 0: every session in Sleep")
    }

    @Test("class lists parse; unknown names do not")
    func parse() {
        #expect(ZombieClass.parseList("client-gone,idle") == [.clientGone, .idle])
        #expect(ZombieClass.parseList("client-gone, orphan-socket") == [.clientGone, .orphanSocket])
        #expect(ZombieClass.parseList("gone") == nil)
        #expect(ZombieClass.parseList("") == nil)
    }
}
