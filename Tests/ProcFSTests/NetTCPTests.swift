import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import ProcFS
import SocketModel

@Suite("/proc/net/tcp and tcp6 parsing on recorded rows")
struct NetTCPTests {
    @Test("the seed's own rows decode as docs/facts.md section 1 says")
    func seedRows() throws {
        let rows = try NetTCPParser.parse(fixture("seed-net-tcp"), family: .tcp4, byteOrder: .little)
        #expect(rows.count == 3)
        let row8 = try #require(rows.first { $0.inode == 5983909 })
        #expect(row8.local.description == "10.180.249.85:22")
        #expect(row8.peer.description == "10.180.205.89:10040")
        #expect(row8.state == .established)
        #expect(row8.sendQueue == 0 && row8.recvQueue == 0)
        let row4 = try #require(rows.first { $0.inode == 6004930 })
        #expect(row4.peer.description == "10.180.205.89:10105")
        let listener = try #require(rows.first { $0.inode == 15528 })
        #expect(listener.state == .listen)
        #expect(listener.local.description == "0.0.0.0:111")
    }

    @Test("words are read in the writer's byte order: big-endian writers print the bytes in order")
    func byteOrder() throws {
        let big = try #require(SocketAddress(procHex: "0A0B0C0D:0CEA", byteOrder: .big))
        #expect(big.description == "10.11.12.13:3306")
        let little = try #require(SocketAddress(procHex: "0A0B0C0D:0CEA", byteOrder: .little))
        #expect(little.description == "13.12.11.10:3306")
    }

    @Test("a live MariaDB's tcp: listener and IPv4 loopback sessions")
    func mariadbTCP4() throws {
        let rows = try NetTCPParser.parse(fixture("mariadbd-net-tcp"), family: .tcp4)
        let listener = try #require(rows.first { $0.state == .listen && $0.local.port == 13306 })
        #expect(listener.local.description == "0.0.0.0:13306")
        #expect(listener.inode == 7340)
        let session = try #require(rows.first { $0.peer.description == "127.0.0.1:51258" })
        #expect(session.local.description == "127.0.0.1:13306")
        #expect(session.inode == 19803)
        #expect(session.family == .tcp4)
    }

    @Test("a live MariaDB's tcp6: listener and ::1 session")
    func mariadbTCP6() throws {
        let rows = try NetTCPParser.parse(fixture("mariadbd-net-tcp6"), family: .tcp6)
        let listener = try #require(rows.first { $0.state == .listen && $0.inode == 7341 })
        #expect(listener.local.description == "[::]:13306")
        let session = try #require(rows.first { $0.inode == 19387 })
        #expect(session.peer.description == "[::1]:55172")
        #expect(session.local.description == "[::1]:13306")
        #expect(session.state == .established)
    }

    @Test("the same namespace later: CLOSE_WAIT with unread bytes, an orphaned FIN_WAIT2 (inode 0)")
    func closingStates() throws {
        let rows = try NetTCPParser.parse(fixture("dualstack-net-tcp6"), family: .tcp6)
        let closeWait = try #require(rows.first { $0.state == .closeWait })
        #expect(closeWait.peer.description == "[::1]:55172")
        #expect(closeWait.recvQueue == 6)
        #expect(closeWait.inode == 19387)
        let orphan = try #require(rows.first { $0.state == .finWait2 })
        #expect(orphan.inode == 0)
    }

    @Test("an IPv4 client of a dual-stack listener is ::ffff:a.b.c.d in tcp6 and normalises to a.b.c.d")
    func v4Mapped() throws {
        let rows = try NetTCPParser.parse(fixture("dualstack-net-tcp6"), family: .tcp6)
        let mapped = try #require(rows.first { $0.inode == 21680 })
        #expect(mapped.peer.description == "[::ffff:127.0.0.1]:42390")
        #expect(mapped.peer.normalized.description == "127.0.0.1:42390")
        #expect(mapped.peer.normalized == SocketAddress(ip: try #require(IPAddress(text: "127.0.0.1")), port: 42390))
        let v6 = try #require(rows.first { $0.inode == 21682 })
        #expect(v6.peer.ip == IPAddress(text: "::1"))
        #expect(v6.peer.normalized == v6.peer)
    }

    @Test("a malformed line is reported with its text")
    func malformed() {
        let text = "  sl  local_address rem_address   st\n   0: 0100007F:0CEA zz 01 00000000:00000000 00:0 0 0 0 1\n"
        #expect(throws: ProcParseError.malformed(file: "tcp", line: "   0: 0100007F:0CEA zz 01 00000000:00000000 00:0 0 0 0 1")) {
            try NetTCPParser.parse(text, family: .tcp4)
        }
        #expect(NetTCPParser.parseLine("   0: 0100007F:0CEA 0100007F:1234 01 00000000:00000000 00:0 0 0 0 1",
                                       family: .tcp6) == nil, "an IPv4 row in tcp6 is refused")
    }

    @Test("every TCP state number has the name ss prints", arguments: [
        (0x01, "ESTABLISHED"), (0x02, "SYN_SENT"), (0x03, "SYN_RECV"), (0x04, "FIN_WAIT1"), (0x05, "FIN_WAIT2"),
        (0x06, "TIME_WAIT"), (0x07, "CLOSE"), (0x08, "CLOSE_WAIT"), (0x09, "LAST_ACK"), (0x0A, "LISTEN"),
        (0x0B, "CLOSING"),
    ])
    func states(raw: Int, name: String) throws {
        #expect(try #require(TCPState(rawValue: UInt8(raw))).description == name)
    }
}

@Suite("Addresses as text")
struct AddressTextTests {
    @Test("IP literals parse; names and bracketed forms do not")
    func literals() throws {
        #expect(IPAddress(text: "10.1.2.3") == .v4(10, 1, 2, 3))
        #expect(try #require(IPAddress(text: "::ffff:10.1.2.3")).normalized == .v4(10, 1, 2, 3))
        #expect(try #require(IPAddress(text: "fe80::1")).description == "fe80::1")
        #expect(IPAddress(text: "app-7.example") == nil)
        #expect(IPAddress(text: "[::1]") == nil)
        #expect(IPAddress(text: "10.1.2") == nil)
        #expect(SocketAddress(ip: try #require(IPAddress(text: "2001:db8::5")), port: 3306).description == "[2001:db8::5]:3306")
    }

    @Test("the byte-level IPv4 parser accepts and refuses exactly what inet_pton(AF_INET) does")
    func parseV4AgreesWithInetPton() {
        let cases = ["0.0.0.0", "127.0.0.1", "255.255.255.255", "10.1.2.3", "256.1.1.1", "1.2.3", "1.2.3.4.5",
                     "01.2.3.4", "1.2.3.04", "1..2.3", ".1.2.3", "1.2.3.", "1.2.3.4 ", "a.b.c.d", "", "1.2.3.4444",
                     "192.168.000.1", "0.10.100.200"]
        for c in cases {
            var raw = in_addr()
            let pton = inet_pton(AF_INET, c, &raw) == 1
            let mine = IPAddress.parseV4(Array(c.utf8))
            #expect((mine != nil) == pton, "\(c)")
            if pton, let mine {
                let a = UInt32(bigEndian: raw.s_addr)
                #expect(mine == .v4(UInt8(a >> 24), UInt8(a >> 16 & 0xFF), UInt8(a >> 8 & 0xFF), UInt8(a & 0xFF)), "\(c)")
            }
        }
    }

    @Test("IPv4 socket addresses print as a.b.c.d:port, byte by byte")
    func v4Description() {
        #expect(SocketAddress(ip: .v4(0, 0, 0, 0), port: 0).description == "0.0.0.0:0")
        #expect(SocketAddress(ip: .v4(255, 255, 255, 255), port: 65535).description == "255.255.255.255:65535")
        #expect(SocketAddress(ip: .v4(10, 1, 20, 3), port: 3306).description == "10.1.20.3:3306")
    }
}
