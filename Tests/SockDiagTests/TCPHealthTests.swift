import SocketModel
import Testing
@testable import SockDiag

/// `struct tcp_info` as recorded: the INET_DIAG_INFO payloads of mariadbd-13308-info.sockdiag.
/// `probe` reads the same struct with getsockopt(TCP_INFO), through the same parser.
@Suite("tcp_info parsed from recorded bytes")
struct TCPHealthTests {
    /// (idiag_state, idiag_inode, tcp_info payload) of every message that carries INET_DIAG_INFO.
    static func infoPayloads(_ stream: [UInt8]) -> [(state: UInt8, inode: UInt32, info: [UInt8])] {
        var out: [(UInt8, UInt32, [UInt8])] = []
        try? NetlinkMessages.forEach(in: stream) { m in
            guard m.type == InetDiag.sockDiagByFamily else { return true }
            let msg = m.payload.lowerBound                 // struct inet_diag_msg, 72 bytes
            NetlinkMessages.forEachAttribute(in: stream, (msg + 72)..<m.payload.upperBound) { type, payload in
                if type == 2 /* INET_DIAG_INFO */ {
                    out.append((stream[msg + 1], InetDiag.read32(stream, msg + 68), Array(stream[payload])))
                }
            }
            return true
        }
        return out
    }

    @Test("the state is the message's own; the last ACK no later than the last data received")
    func recordedPayloads() throws {
        let payloads = Self.infoPayloads(try fixtureBytes("mariadbd-13308-info.sockdiag"))
        #expect(payloads.count == 3, "the three IPv4 sessions of the recording")
        for p in payloads {
            let h = try #require(p.info.withUnsafeBytes { TCPHealth(tcpInfo: $0) })
            #expect(h.state.rawValue == p.state && h.state == .established)
            #expect(h.retransmits == 0 && h.rttMicroseconds > 0)
            // An ACK comes with every data segment the client sends: the last ACK is no older.
            #expect(h.lastAckReceivedMilliseconds <= h.lastReceiveMilliseconds)
        }
    }

    @Test("a struct that does not reach tcpi_rtt, or an unknown state, is not a tcp_info")
    func tooShort() {
        #expect([UInt8](repeating: 0, count: 71).withUnsafeBytes { TCPHealth(tcpInfo: $0) } == nil)
        #expect(([1] + [UInt8](repeating: 0, count: 71)).withUnsafeBytes { TCPHealth(tcpInfo: $0) }?.state == .established)
        #expect(([0] + [UInt8](repeating: 0, count: 71)).withUnsafeBytes { TCPHealth(tcpInfo: $0) } == nil)
    }
}
