import MySQLSessions
import ProcFS
import Testing
@testable import MyConnCore

@Suite("The join on a recorded MariaDB 10.11 (tcp4, tcp6, unix; idle and in SELECT SLEEP)")
struct RecordedJoinTests {
    let server = RecordedServer("mariadb-10.11-loopback")

    func evidence(_ rows: [ProcessListRow]) throws -> [UInt64: UnixSocketEvidence] {
        let polled = try server.polledFD()
        var out: [UInt64: UnixSocketEvidence] = [:]
        for row in rows where SessionEndpoint(host: row.host) == .unixSocket {
            if let tid = row.tid, let fd = polled[tid] { out[row.id] = .fd(fd, .thread) }
        }
        return out
    }

    @Test("every TCP session's fd and inode equal ss's; proven unix sessions too; no guesses")
    func exactness() throws {
        let rows = try server.processList()
        let selfID: UInt64 = 25  // the session that recorded the processlist
        let result = SessionJoin(rows: rows, selfID: selfID, selfPeer: nil, serverPort: 13306,
                                 kernel: try server.kernel(), unixEvidence: try evidence(rows)).run()
        #expect(!result.sessions.contains { $0.row.id == selfID })
        #expect(result.sessions.count == rows.count - 1)
        let ssTCP = try server.ssTCP()
        let ssUnix = try server.ssUnix()
        let clientInode = try server.clientInodes()
        var tcpChecked = 0, unixChecked = 0
        for s in result.sessions {
            switch SessionEndpoint(host: s.row.host) {
            case .tcp(let addr):
                let oracle = try #require(ssTCP[addr.description], "ss has no row for \(addr)")
                #expect(s.socket?.fd == oracle.fd, "session \(s.row.id)")
                #expect(s.socket?.inode == oracle.inode, "session \(s.row.id)")
                #expect(s.match == .address)
                #expect(s.unresolved == nil)
                #expect(s.transport == (addr.ip.isV6 ? .tcp6 : .tcp4))
                tcpChecked += 1
            case .unixSocket where s.row.command == "Sleep":
                let oracle = try #require(clientInode[s.row.id].flatMap { ssUnix[$0] })
                #expect(s.socket?.fd == oracle.fd, "session \(s.row.id)")
                #expect(s.socket?.inode == oracle.inode, "session \(s.row.id)")
                #expect(s.match == .thread)
                unixChecked += 1
            case .unixSocket:
                // In SELECT SLEEP the thread waits on a futex: nothing proves its fd.
                #expect(s.socket == nil, "session \(s.row.id)")
                #expect(s.unresolved?.contains("fd not proven") == true)
            default:
                Issue.record("unexpected HOST \(s.row.host ?? "nil")")
            }
        }
        #expect(tcpChecked == 8)
        #expect(unixChecked == 4)
        #expect(result.unmatchedSockets.allSatisfy { $0.transport == .unix } || result.unmatchedSockets.isEmpty)
        #expect(result.warnings.contains { $0.contains("not attributed") })
    }

    @Test("without mysqld's fd table: addresses and inodes stay, fd is null with the reason")
    func noPermission() throws {
        let rows = try server.processList()
        let result = SessionJoin(rows: rows, selfID: 25, selfPeer: nil, serverPort: 13306,
                                 kernel: try server.kernel(withFDs: false), unixEvidence: try evidence(rows)).run()
        let tcp = result.sessions.filter { $0.transport == .tcp4 || $0.transport == .tcp6 }
        #expect(tcp.count == 8)
        for s in tcp {
            #expect(s.socket?.fd == nil)
            #expect(s.socket?.inode != nil)
            #expect(s.unresolved?.contains("no permission to read /proc/2897/fd") == true)
        }
        for s in result.sessions where s.transport == .unix {
            #expect(s.socket == nil)
        }
    }

    @Test("--all lists mysqld's listeners: tcp4, tcp6 and the unix socket")
    func listeners() throws {
        let result = SessionJoin(rows: try server.processList(), selfID: 25, selfPeer: nil, serverPort: 13306,
                                 kernel: try server.kernel(), includeListening: true).run()
        #expect(Set(result.listeningSockets.map(\.fd)) == [22, 23, 24])
        #expect(result.listeningSockets.contains { $0.transport == .unix && $0.local?.description == "/tmp/scratch/s.sock" })
    }
}

@Suite("The join's refusals: ambiguity and contradictions give no fd")
struct JoinRefusalTests {
    static let listener = "   0: 00000000:33FA 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 100 1 0 100 0 0 10 0"

    /// A socket table of mysqld (port 13306) with the given rows, each held at fd = inode.
    func kernel(_ rows: [String], family: TCPFamily = .tcp4, unix: [UnixSocketEntry] = []) -> KernelSnapshot {
        let tcp = rows.compactMap { NetTCPParser.parseLine(Substring($0), family: family, byteOrder: .little) }
        var fds: [Int32: FDTarget] = [:]
        for e in tcp { fds[Int32(e.inode)] = .socket(inode: e.inode) }
        for u in unix { fds[Int32(u.inode)] = .socket(inode: u.inode) }
        return KernelSnapshot(fds: fds, tcp: tcp, unix: unix)
    }

    /// 127.0.0.1:13306 <- 10.0.0.X:port, inode = fd.
    func row(peerLastOctet: Int, port: Int, inode: Int) -> String {
        let peer = String(format2: peerLastOctet) + "00000A"
        let p = String(port, radix: 16, uppercase: true)
        return "   1: 0100007F:33FA \(peer):\(String(repeating: "0", count: 4 - p.count) + p) 01 00000000:00000000 00:00000000 00000000     0        0 \(inode) 1 0 20 4 30 10 -1"
    }

    @Test("HOST as a name: one socket with that peer port matches by port; two give no answer")
    func namedHost() {
        let one = SessionJoin(rows: [ProcessListRow(id: 7, host: "app-7.example:53210")], selfID: nil, selfPeer: nil,
                              serverPort: 13306, kernel: kernel([Self.listener, row(peerLastOctet: 5, port: 53210, inode: 44)])).run()
        #expect(one.sessions[0].socket?.fd == 44)
        #expect(one.sessions[0].match == .port)
        let two = SessionJoin(rows: [ProcessListRow(id: 7, host: "app-7.example:53210")], selfID: nil, selfPeer: nil,
                              serverPort: 13306,
                              kernel: kernel([Self.listener, row(peerLastOctet: 5, port: 53210, inode: 44),
                                              row(peerLastOctet: 6, port: 53210, inode: 45)])).run()
        #expect(two.sessions[0].socket == nil)
        #expect(two.sessions[0].unresolved?.contains("2 mysqld connections have peer port 53210") == true)
        #expect(two.unmatchedSockets.isEmpty, "candidates of an ambiguous answer are not 'without a session'")
    }

    @Test("a socket fitting two sessions proves neither")
    func sharedSocket() {
        let k = kernel([Self.listener, row(peerLastOctet: 5, port: 4000, inode: 44)])
        let r = SessionJoin(rows: [ProcessListRow(id: 1, host: "10.0.0.5:4000"), ProcessListRow(id: 2, host: "app.example:4000")],
                            selfID: nil, selfPeer: nil, serverPort: 13306, kernel: k).run()
        #expect(r.sessions.allSatisfy { $0.socket == nil && $0.unresolved != nil })
    }

    @Test("a session whose peer is nowhere is reported, and a socket with no session is listed")
    func missingAndUnmatched() {
        let k = kernel([Self.listener, row(peerLastOctet: 5, port: 4000, inode: 44)])
        let r = SessionJoin(rows: [ProcessListRow(id: 1, host: "10.0.0.9:4000")], selfID: nil, selfPeer: nil,
                            serverPort: 13306, kernel: k).run()
        #expect(r.sessions[0].socket == nil)
        #expect(r.sessions[0].unresolved?.contains("no socket in mysqld's network namespace has peer 10.0.0.9:4000") == true)
        #expect(r.unmatchedSockets.map(\.fd) == [44])
    }

    @Test("our own connection is neither a session nor an unmatched socket")
    func selfConnection() throws {
        let k = kernel([Self.listener, row(peerLastOctet: 5, port: 4000, inode: 44)])
        let me = SocketAddress(ip: .v4(10, 0, 0, 5), port: 4000)
        let r = SessionJoin(rows: [ProcessListRow(id: 9, host: "10.0.0.5:4000")], selfID: 9, selfPeer: me,
                            serverPort: 13306, kernel: k).run()
        #expect(r.sessions.isEmpty)
        #expect(r.unmatchedSockets.isEmpty)
    }

    @Test("an IPv4 client of a dual-stack (MySQL 8 style) listener is found in tcp6 as ::ffff:a.b.c.d")
    func v4Mapped() throws {
        // The v4-mapped row of Tests/ProcFSTests/Fixtures/dualstack-net-tcp6 (port 45817 = B2F9).
        let line = "   6: 0000000000000000FFFF00000100007F:B2F9 0000000000000000FFFF00000100007F:A596 01 00000000:00000000 00:00000000 00000000     0        0 21680 1 000000002be9444a 20 0 0 10 -1"
        let k = kernel([line], family: .tcp6)
        let r = SessionJoin(rows: [ProcessListRow(id: 3, host: "127.0.0.1:42390")], selfID: nil, selfPeer: nil,
                            serverPort: 45817, kernel: k).run()
        #expect(r.sessions[0].socket?.fd == 21680)
        #expect(r.sessions[0].transport == .tcp6)
        #expect(r.sessions[0].socket?.peer?.description == "[::ffff:127.0.0.1]:42390")
    }

    @Test("unix evidence is refused when it names a TCP socket, or one fd for two sessions")
    func unixContradictions() {
        let unixEntry = UnixSocketEntry(type: 1, state: 3, isListening: false, inode: 47, path: "/s.sock")
        let k = kernel([Self.listener, row(peerLastOctet: 5, port: 4000, inode: 44)], unix: [unixEntry])
        let tcpFD = SessionJoin(rows: [ProcessListRow(id: 1, host: "localhost")], selfID: nil, selfPeer: nil,
                                serverPort: 13306, kernel: k, unixEvidence: [1: .fd(44, .thread)]).run()
        #expect(tcpFD.sessions[0].socket == nil)
        #expect(tcpFD.sessions[0].unresolved?.contains("not a connected unix socket") == true)
        let twice = SessionJoin(rows: [ProcessListRow(id: 1, host: "localhost"), ProcessListRow(id: 2, host: "localhost")],
                                selfID: nil, selfPeer: nil, serverPort: 13306, kernel: k,
                                unixEvidence: [1: .fd(47, .thread), 2: .fd(47, .performanceSchema)]).run()
        #expect(twice.sessions.allSatisfy { $0.socket == nil && $0.unresolved?.contains("claimed by 2 sessions") == true })
        let proven = SessionJoin(rows: [ProcessListRow(id: 1, host: "localhost")], selfID: nil, selfPeer: nil,
                                 serverPort: 13306, kernel: k, unixEvidence: [1: .fd(47, .performanceSchema)]).run()
        #expect(proven.sessions[0].socket?.fd == 47)
        #expect(proven.sessions[0].match == .performanceSchema)
    }
}

@Suite("HOST forms")
struct SessionEndpointTests {
    @Test("split at the last colon; names, unix socket and server threads apart", arguments: [
        ("10.1.2.3:5555", SessionEndpoint.tcp(SocketAddress(ip: .v4(10, 1, 2, 3), port: 5555))),
        ("::1:5555", .tcp(SocketAddress(ip: IPAddress(text: "::1")!, port: 5555))),
        ("fe80::2:1:3306", .tcp(SocketAddress(ip: IPAddress(text: "fe80::2:1")!, port: 3306))),
        ("::ffff:10.1.2.3:5555", .tcp(SocketAddress(ip: IPAddress(text: "::ffff:10.1.2.3")!, port: 5555))),
        ("app-7.example:53210", .named(host: "app-7.example", port: 53210)),
        ("localhost:40000", .named(host: "localhost", port: 40000)),
        ("localhost", .unixSocket),
        ("", .none),
        ("weird", .unparsable("weird")),
        (":5555", .unparsable(":5555")),
        ("10.1.2.3:", .unparsable("10.1.2.3:")),
        ("10.1.2.3:65535", .tcp(SocketAddress(ip: .v4(10, 1, 2, 3), port: 65535))),
        ("10.1.2.3:65536", .unparsable("10.1.2.3:65536")),
        ("10.1.2.3:0", .tcp(SocketAddress(ip: .v4(10, 1, 2, 3), port: 0))),
        ("10.1.2.300:5555", .named(host: "10.1.2.300", port: 5555)),
        ("10.01.2.3:5555", .named(host: "10.01.2.3", port: 5555)),
        ("1.2.3.4.example:5555", .named(host: "1.2.3.4.example", port: 5555)),
    ])
    func forms(host: String, expected: SessionEndpoint) {
        #expect(SessionEndpoint(host: host) == expected)
    }

    @Test("a v4-mapped HOST and a plain one name the same client once normalised")
    func normalised() throws {
        guard case .tcp(let a) = SessionEndpoint(host: "::ffff:10.1.2.3:5555"),
              case .tcp(let b) = SessionEndpoint(host: "10.1.2.3:5555") else {
            Issue.record("both are addresses")
            return
        }
        #expect(a != b)
        #expect(a.normalized == b.normalized)
    }
}

extension String {
    /// Two hex digits, as /proc prints one byte.
    init(format2 value: Int) {
        let s = String(value, radix: 16, uppercase: true)
        self = s.count == 1 ? "0" + s : s
    }
}

@Suite("unix sockets left over once every unix-socket session is proven")
struct UnixLeftoverTests {
    let server = RecordedServer("mariadb-10.11-loopback")

    /// The recording with two sockets added to mysqld's table (fds 60 and 61): the server end of
    /// the recording session 25 (on the listener's path), and a connected unix socket without a
    /// path, like the socketpair a live mariadbd held at fd 41 in the 500-session test.
    func kernel() throws -> KernelSnapshot {
        var k = try server.kernel()
        k.fds?[60] = .socket(inode: 900_001)
        k.fds?[61] = .socket(inode: 900_002)
        k.unix.append(UnixSocketEntry(type: 1, state: 3, isListening: false, inode: 900_001, path: "/tmp/scratch/s.sock"))
        k.unix.append(UnixSocketEntry(type: 1, state: 3, isListening: false, inode: 900_002, path: nil))
        return k
    }

    /// Every unix-socket session's fd, as performance_schema would give it (from the ss oracle).
    func allProven(_ rows: [ProcessListRow]) throws -> [UInt64: UnixSocketEvidence] {
        let ssUnix = try server.ssUnix()
        var out: [UInt64: UnixSocketEvidence] = [:]
        for (id, client) in try server.clientInodes() {
            if let fd = ssUnix[client]?.fd, rows.contains(where: { $0.id == id }) { out[id] = .fd(fd, .performanceSchema) }
        }
        return out
    }

    @Test("myconn's own connection proven by its unix_diag peer: no warning, and a pathless socketpair is nobody's session")
    func selfProvenAndSocketpairIgnored() throws {
        let rows = try server.processList()
        var join = SessionJoin(rows: rows, selfID: 25, selfPeer: nil, serverPort: 13306, kernel: try kernel(),
                               unixEvidence: try allProven(rows))
        join.selfServerUnixInode = 900_001
        let result = join.run()
        #expect(result.sessions.filter { $0.transport == .unix }.allSatisfy { $0.socket?.fd != nil })
        #expect(result.warnings.isEmpty, "\(result.warnings)")
        #expect(!result.unmatchedSockets.contains { $0.inode == 900_002 }, "mysqld's own socketpair is not a session's")
        #expect(!result.unmatchedSockets.contains { $0.inode == 900_001 }, "myconn's own connection is not unmatched")
        #expect(result.unmatchedSockets.filter { $0.transport == .unix }.isEmpty)
    }

    @Test("without the peer, myconn's own connection is unproven: leftovers are only counted, in a warning")
    func selfUnproven() throws {
        let rows = try server.processList()
        let result = SessionJoin(rows: rows, selfID: 25, selfPeer: nil, serverPort: 13306, kernel: try kernel(),
                                 unixEvidence: try allProven(rows)).run()
        #expect(result.warnings.contains { $0.contains("1 unix socket(s) in mysqld are not attributed") }, "\(result.warnings)")
        #expect(result.unmatchedSockets.filter { $0.transport == .unix }.isEmpty)
    }
}
