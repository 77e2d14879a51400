#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import LinuxKernel
import SockDiag
import SocketModel
import Testing
@testable import MyConnCore

/// `list`'s TCP dumps ask for both families in one request (`TCPDIAG_GETSOCK`: one walk of the
/// kernel's socket hash instead of one per family), and fall back to one request per family
/// where that request is refused.
@Suite("one sock_diag dump for both families, and the per-family fallback")
struct BothFamiliesDumpTests {
    static func type(_ request: [UInt8]) -> UInt16 { UInt16(request[4]) | UInt16(request[5]) << 8 }

    @Test("the request is nlmsghdr + struct inet_diag_req (linux/inet_diag.h) under TCPDIAG_GETSOCK, filters in place")
    func requestLayout() {
        let r = InetDiag.bothFamiliesDumpRequest(states: InetDiag.allButListen, sourcePort: 3306, sequence: 7, withInfo: true)
        #expect(r.count == 16 + 60 && r[0] == 76 && Self.type(r) == 18)
        #expect(r[6] == 0x01 && r[7] == 0x03, "NLM_F_REQUEST | NLM_F_DUMP")
        #expect(r[8] == 7, "nlmsg_seq")
        #expect(r[19] == 1 << 1, "idiag_ext: INET_DIAG_INFO")
        #expect(Array(r[20..<22]) == [0x0C, 0xEA], "idiag_sport 3306, network order")
        let states = UInt32(r[68]) | UInt32(r[69]) << 8 | UInt32(r[70]) << 16 | UInt32(r[71]) << 24
        #expect(states == InetDiag.allButListen, "idiag_states after the 48-byte sockid")
        #expect(r[72..<76].allSatisfy { $0 == 0 }, "idiag_dbs")
    }

    @Test("over a recording older than the request: refused once (EOPNOTSUPP, as a kernel without it), then per family; exact")
    func fallbackOnRecordedTree() throws {
        let here = try ListerNetlinkTests()
        let memory = try here.tree.withMemory()
        let replays = OpenedReplays()
        let report = try here.run(here.lister(proc: memory.proc, replays: replays))
        let replay = try #require(replays.opened.first)
        #expect(report.server.kernelSource == .netlink)
        #expect(!report.warnings.contains { $0.contains("instead of sock_diag") }, "\(report.warnings)")
        try ListerRunTests.expectExact(report, tree: here.tree)
        let types = replay.requests.map(Self.type)
        #expect(types.first == 18 && types.filter { $0 == 18 }.count == 1, "asked once, then never again: \(types)")
        #expect(replay.remaining == 0, "every per-family answer recorded was asked for")
    }

    /// A listening socket of `family` on loopback (`port` 0: any), and the port it got.
    static func listener(_ family: Int32, port: UInt16) throws -> (fd: Int32, port: UInt16) {
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        try #require(fd >= 0)
        var bound: Int32 = -1
        var storage = sockaddr_storage()
        var length = socklen_t(0)
        withUnsafeMutableBytes(of: &storage) { raw in
            if family == AF_INET {
                var a = sockaddr_in()
                a.sin_family = sa_family_t(AF_INET)
                a.sin_port = port.bigEndian
                a.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
                withUnsafeBytes(of: a) { raw.copyMemory(from: $0) }
                length = socklen_t(MemoryLayout<sockaddr_in>.size)
            } else {
                var a = sockaddr_in6()
                a.sin6_family = sa_family_t(AF_INET6)
                a.sin6_port = port.bigEndian
                a.sin6_addr.__in6_u.__u6_addr8.15 = 1
                withUnsafeBytes(of: a) { raw.copyMemory(from: $0) }
                length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            }
        }
        bound = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0, listen(fd, 16) == 0 else {
            close(fd)
            throw BindFailed()
        }
        withUnsafeMutablePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(fd, $0, &length) }
        }
        let got = withUnsafeBytes(of: storage) { UInt16($0[2]) << 8 | UInt16($0[3]) }  // sin_port / sin6_port
        return (fd, got)
    }

    struct BindFailed: Error {}

    /// A connection from `family`'s loopback to `port`, and the server's end of it.
    static func connection(_ family: Int32, port: UInt16, listener: Int32) throws -> (client: Int32, server: Int32) {
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        try #require(fd >= 0)
        var r: Int32
        if family == AF_INET {
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = port.bigEndian
            a.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
            r = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        } else {
            var a = sockaddr_in6()
            a.sin6_family = sa_family_t(AF_INET6)
            a.sin6_port = port.bigEndian
            a.sin6_addr.__in6_u.__u6_addr8.15 = 1
            r = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        }
        try #require(r == 0, "connect: errno \(errno)")
        let server = accept(listener, nil, nil)
        try #require(server >= 0)
        return (fd, server)
    }

    static func inode(_ fd: Int32) -> UInt64 {
        var st = stat()
        return fstat(fd, &st) == 0 ? UInt64(st.st_ino) : 0
    }

    @Test("on this kernel, over loopback sockets of this test (no root): the one dump holds what the two per-family dumps hold")
    func liveKernel() throws {
        // One port for both families: a v4 listener on a free port, then ::1 on the same one.
        var v4: (fd: Int32, port: UInt16)?, v6: (fd: Int32, port: UInt16)?
        for _ in 0..<20 where v6 == nil {
            let a = try Self.listener(AF_INET, port: 0)
            if let b = try? Self.listener(AF_INET6, port: a.port) { (v4, v6) = (a, b) } else { close(a.fd) }
        }
        let l4 = try #require(v4), l6 = try #require(v6)
        var fds = [l4.fd, l6.fd]
        defer { for fd in fds { close(fd) } }
        var servers: Set<UInt64> = []
        for family in [AF_INET, AF_INET, AF_INET, AF_INET6, AF_INET6] {
            let c = try Self.connection(family, port: l4.port, listener: family == AF_INET ? l4.fd : l6.fd)
            fds += [c.client, c.server]
            servers.insert(Self.inode(c.server))
        }
        // The one dump on a socket of its own, recorded: answered by the kernel under type 18,
        // not refused into the per-family fallback (which would give the same rows).
        let recorder = RecordingTransport(try SockDiagSocket())
        let oneDump = SockDiagClient(transport: recorder)
        var both: [TCPSocketEntry] = [], listeners: [TCPSocketEntry] = []
        try oneDump.dumpTCPBothFamilies(states: InetDiag.allButListen, sourcePort: l4.port, withInfo: true, into: &both)
        #expect(!oneDump.bothFamiliesRefused)
        #expect(recorder.replies.contains { Self.type($0) == 18 } && recorder.replies.allSatisfy { [18, 3].contains(Self.type($0)) },
                "datagrams led by \(recorder.replies.map(Self.type)) (18 TCPDIAG_GETSOCK, 3 NLMSG_DONE; 2 would be NLMSG_ERROR)")
        let client = SockDiagClient(transport: try SockDiagSocket())
        try client.dumpTCPBothFamilies(states: InetDiag.states([.listen]), sourcePort: nil, into: &listeners)
        let apart = try [InetDiag.afInet, InetDiag.afInet6].flatMap {
            try client.dumpTCP(family: $0, states: InetDiag.allButListen, sourcePort: l4.port, withInfo: true)
        }
        func identity(_ e: TCPSocketEntry) -> String { "\(e.family) \(e.local) \(e.peer) \(e.inode) \(e.state)" }
        #expect(Set(both.map(identity)) == Set(apart.map(identity)))
        #expect(Set(both.map(\.inode)) == servers, "exactly the server ends on the port: the kernel filtered by port")
        #expect(both.filter { $0.family == .tcp4 }.count == 3 && both.filter { $0.family == .tcp6 }.count == 2)
        #expect(both.allSatisfy { $0.health != nil && $0.cookie != nil }, "tcp_info and the cookie came with each")
        #expect(Set([Self.inode(l4.fd), Self.inode(l6.fd)]).isSubset(of: Set(listeners.map(\.inode))), "both listeners")
        #expect(listeners.allSatisfy { $0.state == .listen })
    }
}
