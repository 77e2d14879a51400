import Testing
@testable import SockDiag

@Suite("unix_diag codec on a recorded reply of a live MariaDB")
struct UnixDiagTests {
    @Test("a dump request is nlmsghdr + unix_diag_req asking for peers, no inode, no cookie")
    func request() {
        let b = UnixDiag.dumpRequest(states: UnixDiag.established, sequence: 7)
        #expect(b.count == 40 && InetDiag.read32(b, 0) == 40)
        #expect(InetDiag.read16(b, 4) == 20 && InetDiag.read16(b, 6) == 0x301)   // SOCK_DIAG_BY_FAMILY, REQUEST|DUMP
        #expect(b[16] == 1 && InetDiag.read32(b, 20) == 1 << 1)                  // AF_UNIX, TCP_ESTABLISHED
        #expect(InetDiag.read32(b, 28) == 4 && b[32..<40].allSatisfy { $0 == 0xFF })  // UDIAG_SHOW_PEER
    }

    @Test("every mysqld-side socket ss -x shows is in the dump with the same peer, and peers point back")
    func peersAgreeWithSS() throws {
        var sockets: [UnixDiag.Socket] = []
        for d in dumps(try fixtureBytes("mariadbd-unix.sockdiag")) where d.count >= 17 && d[16] == 1 {
            let r = try UnixDiag.parse(d)
            #expect(r.done)
            sockets += r.sockets
        }
        let peerOf = Dictionary(sockets.compactMap { s in s.peer.map { (s.inode, $0) } }, uniquingKeysWith: { a, _ in a })
        let ss = String(decoding: try fixtureBytes("mariadbd-unix.ss-x"), as: UTF8.self)
        var checked = 0
        for line in ss.split(separator: "\n") {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            // u_str ESTAB Recv-Q Send-Q Local Inode Peer PeerInode
            guard f.count == 8, f[0] == "u_str", f[4].hasSuffix("mysqld.sock"),
                  let mine = UInt64(f[5]), let peer = UInt64(f[7]) else { continue }
            #expect(peerOf[mine] == peer, "server socket \(mine)")
            #expect(peerOf[peer] == mine, "client socket \(peer) points back")
            checked += 1
        }
        #expect(checked == 3, "the three demo sessions")
        #expect(sockets.allSatisfy { $0.state == 1 }, "only ESTABLISHED was asked for")
    }

    @Test("an inet_diag message is not taken for a unix one")
    func rejectsInet() throws {
        let tcp = dumps(try fixtureBytes("mariadbd-unix.sockdiag")).first { $0.count >= 17 && $0[16] == 2 }
        let d = try #require(tcp)
        #expect(throws: InetDiag.ReplyError.self) { try UnixDiag.parse(d) }
    }
}
