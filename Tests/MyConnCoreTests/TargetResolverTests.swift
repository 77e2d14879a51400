import Foundation
import ProcFS
import Testing
@testable import MyConnCore

/// `TargetResolver.fromKernel` (close/probe `--pid` with `--peer`/`--fd`, no SQL) on the recorded
/// tree with `--source proc`; the oracle is `ss -tnpe` / `ss -xpe` recorded at the same moment.
@Suite("Targets from the kernel alone on a recorded mariadbd (no root, no server)")
struct TargetResolverTests {
    let tree: RecordedProcTree

    init() throws { tree = try RecordedProcTree() }

    func address(_ text: String) throws -> SocketAddress {
        let colon = try #require(text.lastIndex(of: ":"))
        let ip = text[..<colon].trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return SocketAddress(ip: try #require(IPAddress(text: ip)), port: try #require(UInt16(text[text.index(after: colon)...])))
    }

    func resolve(peers: [String] = [], fds: [Int32] = [], pid: Int32? = nil, force: Bool = false,
                 proc: ProcReader? = nil) throws -> [ActionTarget] {
        try TargetResolver.fromKernel(pid: pid ?? tree.mainPID, peers: peers.map(address), fds: fds, force: force,
                                      proc: proc ?? tree.proc, source: .proc)
    }

    @Test("by peer address, IPv4 and IPv6: mysqld's fd and inode as ss saw them")
    func byPeer() throws {
        let oracle = try tree.ssTCP()
        let peers = ["127.0.0.1:40806", "127.0.0.1:40832", "[::1]:36114"]
        let targets = try resolve(peers: peers)
        #expect(targets.count == peers.count)
        for (peer, t) in zip(peers, targets) {
            let want = try #require(oracle[peer], "ss has \(peer)")
            #expect(t.socket?.pid == tree.mainPID)
            #expect(t.socket?.fd == want.fd, "\(peer)")
            #expect(t.socket?.inode == want.inode, "\(peer)")
            #expect(t.socket?.peer?.description == peer)
            #expect(t.session == nil)
        }
        #expect(targets.map { $0.socket?.transport } == [.tcp4, .tcp4, .tcp6])
    }

    @Test("by fd: a TCP connection and a unix-socket connection of mysqld")
    func byFD() throws {
        let tcp = try #require(try tree.ssTCP()["127.0.0.1:40820"])
        let clientInode = try #require(try tree.clients()[7]?.inode)
        let unix = try #require(try tree.ssUnix()[clientInode])
        let targets = try resolve(fds: [tcp.fd, unix.fd])
        #expect(targets.map { $0.socket?.fd } == [tcp.fd, unix.fd])
        #expect(targets.map { $0.socket?.inode } == [tcp.inode, unix.inode])
        #expect(targets.map { $0.socket?.transport } == [.tcp4, .unix])
        #expect(targets[1].socket?.local?.description == tree.mainSocket)
    }

    @Test("a peer mysqld has no connection from, an fd that is no socket, is missing, or is a listener")
    func refusals() throws {
        #expect(throws: TargetError.peerNotFound(try address("127.0.0.1:1"))) { try resolve(peers: ["127.0.0.1:1"]) }
        // The client's own end is in the same table, but not one of mysqld's connections.
        #expect(throws: TargetError.peerNotFound(try address("127.0.0.1:\(tree.mainPort)"))) { try resolve(peers: ["127.0.0.1:\(tree.mainPort)"]) }
        #expect(throws: TargetError.fdNotSocket(fd: 0, pid: tree.mainPID)) { try resolve(fds: [0]) }
        #expect(throws: TargetError.fdMissing(fd: 9999, pid: tree.mainPID)) { try resolve(fds: [9999]) }
        let kernel = try KernelSnapshot.read(pid: tree.mainPID, proc: tree.proc, source: .proc, serverPort: 0)
        let fdByInode = kernel.fdBySocketInode()
        let listener = try #require(kernel.tcp.first { $0.state == .listen && $0.local.port == tree.mainPort }.flatMap { fdByInode[$0.inode] })
        #expect(throws: TargetError.notAConnection(fd: listener, pid: tree.mainPID)) { try resolve(fds: [listener]) }
    }

    @Test("two connections with one peer address name no target")
    func ambiguousPeer() throws {
        // The recorded tree cannot hold this (one client end, one server end), so a copy gets a
        // second server end for session 4's client: its row again with local 127.0.0.2 and a new
        // inode, held by a new fd. That is what a server bound to two loopback addresses shows.
        let memory = try tree.withMemory()
        let tcpPath = "\(memory.dir)/\(tree.mainPID)/net/tcp"
        var table = try String(contentsOfFile: tcpPath, encoding: .utf8)
        let row = try #require(table.split(separator: "\n").first { $0.contains(" 65884 ") }, "session 4's server end")
        table += row.replacingOccurrences(of: "0100007F:E70F", with: "0200007F:E70F")
            .replacingOccurrences(of: " 65884 ", with: " 99999901 ") + "\n"
        try table.write(toFile: tcpPath, atomically: false, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: "\(memory.dir)/\(tree.mainPID)/fd/900", withDestinationPath: "socket:[99999901]")
        #expect(throws: TargetError.peerAmbiguous(try address("127.0.0.1:40806"), count: 2)) { try resolve(peers: ["127.0.0.1:40806"], proc: memory.proc) }
        #expect(try resolve(peers: ["127.0.0.1:40820"], proc: memory.proc).count == 1, "the other peers still resolve")
    }

    @Test("--pid verified first: pid 1 and a client by name, a thread id even with --force, a gone pid")
    func pidVerified() throws {
        let pid1 = try tree.proc.comm(pid: 1)
        #expect(throws: TargetError.notMysqld(pid: 1, comm: pid1)) { try resolve(fds: [44], pid: 1) }
        #expect(throws: TargetError.notMysqld(pid: tree.clientsPID, comm: "myconn-demo-cli")) { try resolve(fds: [3], pid: tree.clientsPID) }
        let thread = TargetError.notProcess(pid: tree.threadAsPID, leader: tree.mainPID, comm: "mariadbd")
        #expect(throws: thread) { try resolve(fds: [44], pid: tree.threadAsPID) }
        #expect(throws: thread) { try resolve(fds: [44], pid: tree.threadAsPID, force: true) }
        #expect(throws: TargetError.processGone(pid: 999_999)) { try resolve(fds: [44], pid: 999_999) }
    }
}
