import LinuxKernel
import ProcFS
import Testing
@testable import SockDiag

/// `myconn probe` reads `struct tcp_info` with getsockopt(TCP_INFO) on its duplicate of mysqld's
/// socket; `list` reads the same struct from sock_diag's INET_DIAG_INFO attribute. Both parsers
/// on the same recorded bytes (the attribute payloads of mariadbd-13308-info.sockdiag).
@Suite("tcp_info read for probe (getsockopt) agrees with the sock_diag reading")
struct TCPLiveInfoTests {
    /// (idiag_state, idiag_inode, tcp_info payload) of every message that carries INET_DIAG_INFO.
    static func infoPayloads(_ stream: [UInt8]) -> [(state: UInt8, inode: UInt32, info: [UInt8])] {
        var out: [(UInt8, UInt32, [UInt8])] = []
        var off = 0
        while off + 16 <= stream.count {
            let len = Int(InetDiag.read32(stream, off))
            guard len >= 16, off + len <= stream.count else { break }
            if InetDiag.read16(stream, off + 4) == 20 /* SOCK_DIAG_BY_FAMILY */ {
                let msg = off + 16                         // struct inet_diag_msg, 72 bytes
                var a = msg + 72
                while a + 4 <= off + len {                 // struct rtattr { u16 len; u16 type; }
                    let alen = Int(InetDiag.read16(stream, a))
                    guard alen >= 4 else { break }
                    if InetDiag.read16(stream, a + 2) == 2 /* INET_DIAG_INFO */ {
                        out.append((stream[msg + 1], InetDiag.read32(stream, msg + 68), Array(stream[(a + 4)..<(a + alen)])))
                    }
                    a += (alen + 3) & ~3
                }
            }
            off += (len + 3) & ~3
        }
        return out
    }

    @Test("state, retransmits, probes and unacked read alike; last ACK no later than last data received")
    func sameFields() throws {
        let stream = try fixtureBytes("mariadbd-13308-info.sockdiag")
        var health: [UInt64: TCPHealth] = [:]
        for p in dumps(stream) {
            for e in try InetDiag.parse(p).entries { health[e.inode] = e.health }
        }
        let payloads = Self.infoPayloads(stream)
        #expect(payloads.count == 3, "the three IPv4 sessions of the recording")
        for p in payloads {
            let live = try #require(p.info.withUnsafeBytes { TCPLiveInfo(bytes: $0) })
            let h = try #require(health[UInt64(p.inode)])
            #expect(live.state == p.state && live.state == TCPLiveInfo.established)
            #expect(live.retransmits == h.retransmits && live.probes == h.probes && live.unacked == h.unacked)
            // An ACK comes with every data segment the client sends: the last ACK is no older.
            #expect(live.lastAckReceivedMilliseconds <= h.lastReceiveMilliseconds)
        }
    }

    @Test("fewer than 60 bytes is not a tcp_info")
    func tooShort() {
        #expect([UInt8](repeating: 0, count: 59).withUnsafeBytes { TCPLiveInfo(bytes: $0) } == nil)
    }
}
