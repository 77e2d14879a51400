import Foundation
import ProcFS
import SocketModel
import SystemPackage
import Testing
@testable import SockDiag

/// The client as `list` drives it, over the replies a live MariaDB's kernel sent (Fixtures/README.md).
@Suite("sock_diag client over replayed replies of a live MariaDB")
struct SockDiagClientTests {
    /// `list`'s first pass: the listeners of both families, then the connections on the server's port.
    func firstPass(_ client: SockDiagClient, port: UInt16) throws -> (listeners: [TCPSocketEntry], connected: [TCPSocketEntry]) {
        var listeners: [TCPSocketEntry] = [], connected: [TCPSocketEntry] = []
        for family in [InetDiag.afInet, InetDiag.afInet6] {
            listeners += try client.dumpTCP(family: family, states: InetDiag.states([.listen]), sourcePort: nil)
        }
        for family in [InetDiag.afInet, InetDiag.afInet6] {
            connected += try client.dumpTCP(family: family, states: InetDiag.allButListen, sourcePort: port, withInfo: true)
        }
        return (listeners, connected)
    }

    @Test("the TCP dumps give the listeners and the five sessions, as /proc/net/tcp* and the list output had them")
    func tcpDumps() throws {
        let replay = try ReplayTransport(stream: fixtureBytes("mariadbd-13308.sockdiag"))
        let (listeners, connected) = try firstPass(SockDiagClient(transport: replay), port: 13308)
        #expect(replay.remaining == 0)
        #expect(replay.requests.map { $0[16] } == [InetDiag.afInet, InetDiag.afInet6, InetDiag.afInet, InetDiag.afInet6])
        #expect(replay.requests.suffix(2).allSatisfy { Array($0[24..<26]) == [0x33, 0xFC] }, "sport 13308")
        #expect(listeners.filter { $0.local.port == 13308 }.count == 2 && listeners.allSatisfy { $0.state == .listen })
        let proc = try NetTCPParser.parse(bytes: fixtureBytes("mariadbd-13308.net-tcp"), family: .tcp4)
            + NetTCPParser.parse(bytes: fixtureBytes("mariadbd-13308.net-tcp6"), family: .tcp6)
        let byInode = Dictionary(proc.filter { $0.inode != 0 }.map { ($0.inode, $0) }, uniquingKeysWith: { a, _ in a })
        var compared = 0
        for e in listeners + connected {
            guard let p = byInode[e.inode] else { continue }
            var withoutCookie = e  // the cookie is sock_diag's alone
            withoutCookie.cookie = nil
            #expect(e.cookie != nil && withoutCookie == p, "inode \(e.inode) as /proc showed it")
            compared += 1
        }
        #expect(compared >= 7, "2 listeners + 5 sessions of port 13308")
        let listed = try JSONSerialization.jsonObject(with: Data(fixtureBytes("mariadbd-13308.list.json"))) as! [String: Any]
        let inodes = Set((listed["sessions"] as! [[String: Any]]).compactMap { $0["inode"] as? Int }.map(UInt64.init))
        #expect(inodes.count == 5 && inodes.isSubset(of: Set(connected.map(\.inode))))
        #expect(connected.filter { $0.family == .tcp4 }.count == 3 && connected.filter { $0.family == .tcp6 }.count == 2)
    }

    @Test("after the TCP dumps, the unix_diag dump pairs each server socket with its client's, as ss -x did")
    func unixDump() throws {
        let replay = try ReplayTransport(stream: fixtureBytes("mariadbd-unix.sockdiag"))
        let client = SockDiagClient(transport: replay)
        var port: UInt16 = 0
        for family in [InetDiag.afInet, InetDiag.afInet6] {
            port = try client.dumpTCP(family: family, states: InetDiag.states([.listen]), sourcePort: nil).first?.local.port ?? port
        }
        for family in [InetDiag.afInet, InetDiag.afInet6] {
            _ = try client.dumpTCP(family: family, states: InetDiag.allButListen, sourcePort: port, withInfo: true)
        }
        let peers = Dictionary(try client.dumpUnix(states: UnixDiag.established).compactMap { s in s.peer.map { (s.inode, $0) } },
                               uniquingKeysWith: { a, _ in a })
        #expect(replay.remaining == 0)
        #expect(replay.requests.last?[16] == 1, "AF_UNIX last")
        let ss = String(decoding: try fixtureBytes("mariadbd-unix.ss-x"), as: UTF8.self)
        var checked = 0
        for line in ss.split(separator: "\n") {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count == 8, f[4].hasSuffix("mysqld.sock"), let mine = UInt64(f[5]), let peer = UInt64(f[7]) else { continue }
            #expect(peers[mine] == peer)
            checked += 1
        }
        #expect(checked == 3)
    }

    @Test("recording a replay gives back the recorded stream byte for byte")
    func recordingKeepsTheStream() throws {
        let stream = try fixtureBytes("mariadbd-13308-info.sockdiag")
        let recorder = RecordingTransport(try ReplayTransport(stream: stream))
        _ = try firstPass(SockDiagClient(transport: recorder), port: 13308)
        #expect(recorder.stream == stream)
    }

    @Test("SOCK_DESTROY sends the dumped identity and returns the acknowledgement's errno; a stream run dry is ENOMSG")
    func destroy() throws {
        let dumped = try #require(try InetDiag.parseSockets(dumps(fixtureBytes("mariadbd-13308.sockdiag"))[2]).sockets.first)
        var ack: [UInt8] = []
        InetDiag.append32(&ack, 36); InetDiag.append16(&ack, 2); InetDiag.append16(&ack, 0x100)
        InetDiag.append32(&ack, 2); InetDiag.append32(&ack, 0)
        InetDiag.append32(&ack, UInt32(bitPattern: -95))  // EOPNOTSUPP
        ack += [UInt8](repeating: 0, count: 16)
        let replay = try ReplayTransport(stream: ack)
        let client = SockDiagClient(transport: replay)
        #expect(try client.destroy(dumped) == 95)
        let request = try #require(replay.requests.first)
        #expect(InetDiag.read16(request, 4) == 21 && Array(request[24..<72]) == dumped.id)
        #expect(throws: SockDiagClient.DumpError.system(Errno(rawValue: ENOMSG))) { try client.destroy(dumped) }
    }
}
