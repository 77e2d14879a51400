import LinuxKernel
import Testing
@testable import MyConnCore

@Suite("probe: the options it turns up")
struct ProberTests {
    let prober = Prober(timeoutSeconds: 10)

    @Test("an idle socket: keepalive after 1 s, every 1 s, 3 probes, and no user timeout (it would drop a live peer slower than the probes)")
    func idle() {
        let o = prober.aggressive(for: TCPHealth(state: .established, retransmits: 0, probes: 0, unacked: 0, lastAckReceivedMilliseconds: 60_000))
        #expect(o == KeepaliveOptions(keepalive: true, idleSeconds: 1, intervalSeconds: 1, count: 3, userTimeoutMilliseconds: 0))
    }

    @Test("data unacknowledged (keepalive waits while it is): TCP_USER_TIMEOUT a second short of the timeout")
    func retransmitting() {
        let o = prober.aggressive(for: TCPHealth(state: .established, retransmits: 3, probes: 0, unacked: 12, lastAckReceivedMilliseconds: 4_000))
        #expect(o.userTimeoutMilliseconds == 9_000 && o.keepalive && o.count == 3)
    }

    @Test("elapsed times print with two decimals")
    func format() {
        #expect(format2(3.0666) == "3.07" && format2(0.005) == "0.01" && format2(12) == "12.00")
    }
}
