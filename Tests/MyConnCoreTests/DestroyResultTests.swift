import Testing
@testable import MyConnCore
@testable import SockDiag

@Suite("SOCK_DESTROY answers, including a kernel without it (the error path, simulated)")
struct DestroyResultTests {
    /// An NLMSG_ERROR acknowledgement as the kernel sends it: errno negated, then the request header.
    func ack(_ errno: Int32) -> [UInt8] {
        var b: [UInt8] = []
        InetDiag.append32(&b, 36); InetDiag.append16(&b, 2); InetDiag.append16(&b, 0x100)
        InetDiag.append32(&b, 2); InetDiag.append32(&b, 0)
        InetDiag.append32(&b, UInt32(bitPattern: -errno))
        b += [UInt8](repeating: 0, count: 16)
        return b
    }

    @Test("EOPNOTSUPP names the missing kernel feature and another method; the others map per target")
    func mapping() throws {
        #expect(try InetDiag.ackErrno(ack(0)) == nil)
        let unsupported = try InetDiag.ackErrno(ack(95))
        #expect(unsupported == 95)
        #expect(throws: MethodUnavailable.destroy("this kernel has no SOCK_DESTROY (CONFIG_INET_DIAG_DESTROY): use --method pidfd or ptrace")) {
            try SocketCloser.destroyResult(errno: unsupported)
        }
        #expect(try SocketCloser.destroyResult(errno: nil) == .done)
        #expect(try SocketCloser.destroyResult(errno: InetDiag.ackErrno(ack(2))) == .refused("the socket is already gone"))
        if case .failed(let m) = try SocketCloser.destroyResult(errno: InetDiag.ackErrno(ack(1))) {
            #expect(m.contains("CAP_NET_ADMIN"))
        } else {
            Issue.record("EPERM is a per-target failure")
        }
    }
}
